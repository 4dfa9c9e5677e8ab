"""Settings of the synthetic NanoAOD generator: physics constants (with sources) and samples.

Every number the generator uses lives here, so that a change is visible in the cache key
(see :func:`simulation.api.generate_dataset`) and in review.

Sources of the physics constants:
- [PDG] R.L. Workman et al. (Particle Data Group), PTEP 2022, 083C01 and 2023 update:
  m_W = 80.377 GeV, Gamma_W = 2.085 GeV, BR(W -> hadrons) = 67.41 %,
  BR(W -> e nu) = 10.71 %, BR(W -> mu nu) = 10.63 %, BR(W -> tau nu) = 11.38 %,
  BR(tau -> e nu nu) = 17.82 %, BR(tau -> mu nu nu) = 17.39 %, BR(H -> bb) = 58 %,
  BR(Z -> hadrons) = 69.9 %, BR(Z -> nu nu) = 20.0 %, m_Z = 91.19, Gamma_Z = 2.50 GeV.
- [TOPXS] tt production at 13 TeV, NNLO+NNLL (Top++ v2.0), m_t = 172.5 GeV: 833.9 pb
  (LHCTopWG summary, twiki TtbarNNLO).
- [TTTT] R. Frederix, D. Pagani, M. Zaro, JHEP 02 (2018) 031 and van Beekveld et al.,
  arXiv:2212.03259: sigma(tttt) = 13.4 fb at NLO(QCD+EW)+NLL'.
- [TTV] LHC Higgs WG, CERN Yellow Report 4 (arXiv:1610.07922): ttH 0.507 pb; ttW 0.60 pb,
  ttZ 0.86 pb (NLO QCD+EW).
- [JER] CMS, JINST 12 (2017) P02014: jet pT resolution ~15 % at 30 GeV, ~8 % at 100 GeV,
  ~5 % at 1 TeV (central jets); encoded as sigma/pT = sqrt(N^2/pT^2 + S^2/pT + C^2).
- [BTV] CMS-BTV DeepJet working points (Run 2 UL / 2022): medium WP ~0.3 with
  b efficiency 75-85 %, c 15-25 %, light 1-2 % (CMS-DP-2018-058, CMS-DP-2023-005).
- [LUMI] Run 2 integrated luminosity 138 fb^-1 (CMS-LUM-17-003, -18-002, -19-001).
- [PU] Run 2 mean number of interactions per crossing ~ 32 (CMS public luminosity pages).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Process = Literal[
    "tttt", "ttbar", "ttW", "ttZ", "ttH", "qcd", "pseudodata", "truth_background"
]
MC_PROCESSES: tuple[str, ...] = ("tttt", "ttbar", "ttW", "ttZ", "ttH", "qcd")

RUN2_LUMINOSITY_FB = 138.0  # [LUMI]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProcessSettings(_Frozen):
    """Production-level parameters of one simulated process."""

    xsec_pb: float = Field(gt=0, description="inclusive cross section in pb (see module doc)")
    top_pt_scale_gev: float = Field(
        62.0, gt=0, description="scale of the Gamma(k=2) top pT spectrum; mean = 2*scale"
    )
    rapidity_sigma: float = Field(1.0, gt=0, description="spread of the top rapidities")
    radiation_mean: float = Field(
        3.3, ge=0, description="mean number of extra (ISR/FSR) partons above radiation_pt_min"
    )
    negative_weight_fraction: float = Field(
        0.005, ge=0, lt=0.5, description="fraction of events with genWeight < 0 (NLO generators)"
    )
    genweight_magnitude: float = Field(1.0, gt=0, description="|genWeight| of every event")
    extra_bb_fraction: float = Field(
        0.0, ge=0, le=1, description="fraction of events with an extra b-bbar pair (tt+bb)"
    )


def _default_processes() -> dict[str, ProcessSettings]:
    return {
        # tops in tttt are harder; aMC@NLO gives a sizeable negative-weight fraction
        "tttt": ProcessSettings(
            xsec_pb=0.0134, top_pt_scale_gev=75.0,
            negative_weight_fraction=0.25, extra_bb_fraction=0.0,
        ),
        "ttbar": ProcessSettings(
            xsec_pb=833.9, top_pt_scale_gev=62.0,
            negative_weight_fraction=0.004, extra_bb_fraction=0.015,
        ),
        "ttW": ProcessSettings(xsec_pb=0.60, top_pt_scale_gev=68.0, negative_weight_fraction=0.2),
        "ttZ": ProcessSettings(xsec_pb=0.86, top_pt_scale_gev=68.0, negative_weight_fraction=0.2),
        "ttH": ProcessSettings(xsec_pb=0.507, top_pt_scale_gev=68.0, negative_weight_fraction=0.1),
        # QCD multijet: an effective cross section of the truth model for its generated
        # phase space (leading pair pT > qcd_leading_pt_min); a tuning knob of the
        # pseudo-data, not a measured number. It sets the QCD share of the background.
        "qcd": ProcessSettings(xsec_pb=600.0, radiation_mean=4.0, extra_bb_fraction=0.10,
                               negative_weight_fraction=0.0),
    }


class DetectorSettings(_Frozen):
    """Detector response: jets, b tagging, leptons, triggers."""

    # sigma/pT = sqrt(a/pT^2 + b/pT + c): a, b, c solved from the three [JER] points
    jet_res_noise: float = Field(7.94, description="a = N^2 of the JER formula, GeV^2")
    jet_res_stochastic: float = Field(0.346, description="b = S^2 of the JER formula, GeV")
    jet_res_constant: float = Field(0.00215, description="c = C^2 of the JER formula")
    jet_response_mean: float = Field(1.0, description="mean reco/true pT (jets are calibrated)")
    jet_cone_dr: float = Field(0.4, description="partons closer than this merge into one jet")
    jet_store_pt_min: float = Field(15.0, description="NanoAOD stores AK4 jets above 15 GeV")
    jet_store_eta_max: float = Field(4.7, description="detector acceptance of jets")
    genjet_pt_min: float = Field(10.0, description="GenJets stored above this pT, GeV")
    jet_mass_fraction: float = Field(0.09, description="mean jet mass / pT from showering")
    raw_factor_mean: float = Field(0.08, description="mean Jet_rawFactor (JEC raises pT ~8 %)")
    btag_wp: float = Field(0.3, description="DeepJet medium WP [BTV]")
    btag_eff_b: float = Field(0.80, description="P(btagDeepFlavB > WP | b jet) [BTV]")
    btag_eff_c: float = Field(0.20, description="P(btagDeepFlavB > WP | c jet) [BTV]")
    btag_eff_light: float = Field(0.015, description="P(btagDeepFlavB > WP | light jet) [BTV]")
    btag_eta_max: float = Field(2.5, description="tracker acceptance for b tagging")
    electron_eff: float = Field(0.85, description="tight-ID efficiency for prompt electrons")
    muon_eff: float = Field(0.95, description="tight-ID efficiency for prompt muons")
    electron_eta_max: float = Field(2.5, description="electron acceptance (tracker)")
    muon_eta_max: float = Field(2.4, description="muon acceptance (muon system)")
    lepton_pt_min: float = Field(5.0, description="lowest stored lepton pT, GeV")
    trigger_ht_resolution: float = Field(0.06, description="online/offline HT smearing")
    trigger_ht_threshold: float = Field(1050.0, description="HLT_PFHT1050 threshold, GeV")
    trigger_quadjet_ht: float = Field(330.0, description="HT leg of the multijet+b trigger")
    trigger_quadjet_pts: tuple[float, float, float, float] = Field(
        (75.0, 60.0, 45.0, 40.0), description="pT thresholds of the four leading online jets"
    )
    trigger_online_btag_eff: float = Field(
        0.92, description="P(online b tag | offline-tagged jet); the HLT needs three"
    )
    pileup_mean: float = Field(32.0, description="mean true interactions per crossing [PU]")


class SkimSettings(_Frozen):
    """Generator-level skim: events that can never pass the analysis preselection (HT >= 700
    GeV, >= 6 jets of pT > 30 GeV and |eta| < 2.4, >= 2 b tags, the trigger OR) are not
    written.

    Cuts are on the stored (calibrated) AK4 jets, looser than the preselection by more than
    any jet variation moves them: JES Total is <= 4 % at 30 GeV and JER up moves a matched
    jet by <= 4 % (corrections/make_jerc.py), so a 25 GeV jet cannot reach 30 GeV and an HT
    of 630 GeV (jets above 25 GeV) cannot reach 700. The b-tag score and the trigger bits do
    not vary. ``workflows.pipeline.check_generator_skim`` refuses an analysis config whose
    preselection is looser than the skim.
    """

    jet_pt_min: float = Field(25.0, ge=0, description="jets counted above this pT, GeV")
    jet_abs_eta_max: float = Field(2.4, gt=0, description="jets counted within this |eta|")
    min_jets: int = Field(6, ge=0, description="at least this many such jets")
    min_btags: int = Field(2, ge=0, description="at least this many with btagDeepFlavB > WP")
    min_ht: float = Field(630.0, ge=0, description="scalar pT sum of such jets, GeV")
    require_trigger: bool = Field(True, description="the OR of the emulated HLT paths")


class GeneratorSettings(_Frozen):
    """All generator parameters; pass to :func:`simulation.generate_dataset`."""

    m_top: float = 172.5
    width_top: float = 1.4
    m_w: float = 80.38  # [PDG]
    width_w: float = 2.09  # [PDG]
    m_z: float = 91.19  # [PDG]
    width_z: float = 2.50  # [PDG]
    m_h: float = 125.0
    m_b: float = 4.8
    m_c: float = 1.5
    bw_cut_widths: float = Field(10.0, description="Breit-Wigner truncated at +-n widths")
    br_w_hadronic: float = 0.674  # [PDG]
    br_w_e: float = 0.107  # [PDG]
    br_w_mu: float = 0.106  # [PDG]
    br_w_tau: float = 0.114  # [PDG]
    br_tau_e: float = 0.1782  # [PDG]
    br_tau_mu: float = 0.1739  # [PDG]
    br_z_hadronic: float = 0.699  # [PDG]
    br_z_invisible: float = 0.200  # [PDG]
    br_h_bb: float = 0.58  # [PDG]; other Higgs decays are emulated as H -> gg
    radiation_pt_min: float = Field(20.0, description="lowest pT of an extra parton, GeV")
    radiation_pt_power: float = Field(2.5, description="dN/dpT ~ pT^-power of extra partons")
    radiation_eta_sigma: float = Field(1.8, description="spread of extra-parton rapidity")
    radiation_flavour_probs: tuple[float, float, float, float] = Field(
        (0.75, 0.21, 0.03, 0.01), description="P(g), P(uds), P(c), P(b) of an extra parton"
    )
    qcd_flavour_probs: tuple[float, float, float, float] = Field(
        (0.55, 0.33, 0.06, 0.06),
        description="P(g), P(uds), P(c), P(b) of QCD partons (b/c from gluon splitting)",
    )
    qcd_leading_pt_min: float = Field(150.0, description="pT floor of the QCD 2->2 pair")
    qcd_leading_pt_power: float = Field(4.0, description="dN/dpT ~ pT^-power of the QCD pair")
    ht_filter_gev: float = Field(
        600.0, ge=0,
        description="generator filter: parton HT (pT>20, |eta|<2.5) above this; keeps all "
        "events passing the preselection (HT >= 700) within 0.1 %",
    )
    max_fatjet_constituents: int = Field(
        100, description="PF candidates stored per AK8 jet (PFNano-style cap)"
    )
    fatjet_pt_min: float = Field(170.0, description="AK8 jets stored above this pT")
    pfcands_fatjet_pt_min: float | None = Field(
        None, ge=0,
        description="PF candidates written only for AK8 jets above this pT (the boosted "
                    "tagger's threshold); None: for every stored AK8 jet, as PFNano does",
    )
    write_link_pt: bool = Field(
        True, description="write FatJetPFCands_pt, PFNano's copy of PFCands_pt (the analysis "
                          "does not read it; about 12 % of a pseudo-data file)",
    )
    skim: SkimSettings | None = Field(
        None, description="generator-level skim below the preselection (None: write every "
                          "event passing the generator filter)",
    )
    events_per_lumiblock: int = Field(1000, description="MC luminosityBlock granularity")
    max_events_per_file: int = Field(
        150_000, gt=0,
        description="more files than asked for when needed: a file's events are simulated "
                    "in memory at once (150k events before the data skim: about 3.5 GB)",
    )
    data_slice_fb: float = Field(
        2.0, gt=0,
        description="pseudo-data above this luminosity are made in independent slices of at "
                    "most this much (simulation.slices): memory holds one slice's partons "
                    "(about 1.5 GB per fb^-1)",
    )
    processes: dict[str, ProcessSettings] = Field(default_factory=_default_processes)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)


class TruthModelSettings(_Frozen):
    """How the "true" world of the pseudo-data differs from the MC (documented shifts).

    Each effect is one the analysis has to absorb in the ABCDnn morph (the simulation is
    never changed), sized like the measured data/simulation differences where a
    measurement exists:

    - tt extra radiation: tt+jets simulation mispredicts the rate of additional jets;
      the measured jet-multiplicity spectra deviate from Powheg+Pythia by 10-30 % at
      high multiplicity (CMS, Phys. Rev. D 97 (2018) 112003; CMS, JHEP 06 (2018) 002).
    - top pT: data are softer than NLO simulation; CMS measured the per-top event weight
      exp(a - b pT) with b = 0.0005 / GeV (CMS, Phys. Rev. D 95 (2017) 092001, the
      "top pT reweighting" of TOP-16-008). On the generator's Gamma(k=2) pair spectrum of
      scale theta an exponential weight exp(-b pT) is exactly a Gamma(k=2) of scale
      theta / (1 + b theta), which is how it is applied (:func:`simulation.truth.modifiers`).
    - tt+bb: the measured tt+bb cross section exceeds the simulation by about 1.3-1.5
      (CMS, Phys. Lett. B 803 (2020) 135285; CMS, JHEP 07 (2020) 125).
    - QCD multijet exists only in data (the analysis has no multijet simulation, as in the
      CMS all-hadronic tttt search, arXiv:2303.03864, where it is the largest background
      at low N b). Its normalization (x3), radiation (x1.3, more jets) and g -> bb/cc rate
      (x3) are knobs of the pseudo-data, not measurements. The heavy-flavour rate is the
      one that moves the DNN score: within the inclusive >= 3 b cells the event DNN rises
      steeply with N b (3 -> 4 b tags), so more g -> bb/cc raises the multijet share at
      >= 3 b (0.85-0.9, against 0.8 at 2 b) and gives it more 4-b events than tt. Parton
      showers are known to underpredict collinear g -> bb splitting (CMS, BB-bar angular
      correlations, JHEP 03 (2011) 136); x3 is chosen beyond that so that the
      shape difference is clear at the truth check's luminosity: at 1 fb^-1 against the
      default simulation, the raw tt vs truth DNN-score shape chi2/ndf in the signal target
      cell (>= 9 jets, >= 3 b) is 5.2 with x2 and 11.0 with x3 (log HT 7.2 and 11.4; in
      the validation target cell (8, >= 3) 11.6 and 20.5, log HT 5.2 and 6.2).
      Its harder HT spectrum (2->2 pT^-4 above 150 GeV)
      differs from tt in every cell. ``qcd_pt_power_shift`` can soften the spectrum (the
      inclusive dijet spectrum falls roughly like pT^-5 at a few hundred GeV; CMS, JHEP 05
      (2020) 033).
    """

    radiation_scale: float = Field(1.25, description="extra-radiation rate x this in data")
    top_pt_slope_per_gev: float = Field(
        0.0005, ge=0, description="b of the data/MC top-pT weight exp(-b pT) [CMS TOP-16-008]"
    )
    extra_bb_scale: float = Field(1.3, description="tt+bb fraction x this in data")
    include_qcd: bool = Field(True, description="QCD multijet exists only in data")
    qcd_xsec_scale: float = Field(
        3.0, gt=0, description="QCD multijet effective cross section x this in data"
    )
    qcd_pt_power_shift: float = Field(
        0.0, description="added to qcd_leading_pt_power in data (> 0: softer multijet HT)"
    )
    qcd_heavy_flavour_scale: float = Field(
        3.0, gt=0, description="g -> bb/cc share of QCD partons x this in data"
    )
    qcd_radiation_scale: float = Field(
        1.3, gt=0, description="QCD extra-radiation rate x this in data (more jets)"
    )
    bad_lumi_fraction: float = Field(0.04, description="fraction of lumi sections not certified")
    first_run: int = Field(400001, description="first synthetic run number")
    lumisections_per_run: int = Field(400, description="lumi sections per synthetic run")
    skim_min_ht: float = Field(
        650.0, description="data skim: reco HT (jets pT>30, |eta|<2.4) at least this, GeV"
    )
    skim_min_jets: int = Field(5, description="data skim: at least this many such jets")
    lumi_per_lumisection_pb: float = Field(
        0.05, description="integrated luminosity per lumi section, pb^-1"
    )


class SampleSpec(_Frozen):
    """One sample to generate."""

    process: Process
    n_events: int = Field(
        10_000, ge=0,
        description="events passing the generator filter, all simulated (MC; with "
                    "GeneratorSettings.skim only those passing the skim are written); ignored "
                    "for pseudodata/truth_background",
    )
    seed: int = Field(1, ge=0)
    n_files: int = Field(1, ge=1)
    signal_strength: float = Field(1.0, ge=0, description="mu(tttt) in pseudodata")
    truth: TruthModelSettings = Field(default_factory=TruthModelSettings)
