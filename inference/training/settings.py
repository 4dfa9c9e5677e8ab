"""Settings of the tagger / event-DNN training, its generated samples and the toy source.

Physics constants carry their source. Hyper-parameters are sized for a laptop CPU: the
boosted tagger must cost well under 1 ms per jet on one core with ONNX Runtime.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ToyPhysics(BaseModel):
    """Constants of the small toy event source (quick unit tests and benchmarks only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # PDG 2024 (R.L. Workman et al., PTEP 2022 083C01 and 2024 update): masses / widths, GeV
    top_mass: float = 172.5
    top_width: float = 1.4
    w_mass: float = 80.38
    w_width: float = 2.09
    # PDG 2024: BR(W -> q q') summed over hadronic modes
    br_w_hadronic: float = 0.674
    # CMS jet energy resolution, JINST 12 (2017) P02014: N/pT (+) S/sqrt(pT) (+) C,
    # tuned to ~15 % at 30 GeV, ~8 % at 100 GeV, ~5 % at 1 TeV
    jer_noise: float = 2.0
    jer_stochastic: float = 0.7
    jer_constant: float = 0.04
    # typical transverse momentum of hadrons relative to their parton (GeV), LEP/Tevatron
    # fragmentation studies (e.g. CDF, PRL 94 (2005) 171802: <kT> of a few hundred MeV)
    fragmentation_kt: float = 0.6
    # mean b-hadron impact parameter scale c*tau ~ 0.45 mm (PDG 2024 B+ / B0 lifetimes), cm
    b_impact_cm: float = 0.045
    # tracking impact-parameter resolution for prompt tracks, cm (CMS, JINST 9 (2014) P10009)
    prompt_impact_cm: float = 0.003
    # DeepJet-like b-tag score shapes (Beta distribution a, b) per flavour b, c, light,
    # set so that a 0.3 cut keeps ~0.8 / ~0.2 / ~0.015 (CMS-DP-2018-058 medium WP)
    btag_beta_b: tuple[float, float] = (1.4, 0.9)
    btag_beta_c: tuple[float, float] = (0.25, 1.5)
    btag_beta_light: tuple[float, float] = (0.25, 6.0)


class BoostedTaggerSettings(BaseModel):
    """ParticleNet-style EdgeConv tagger: size, input padding and training."""

    model_config = ConfigDict(extra="forbid")

    pad_length: int = 100
    k_neighbours: int = 8
    edge_channels: tuple[tuple[int, ...], ...] = ((32,), (48,))
    dynamic_graph: bool = Field(True, description="kNN in feature space after block 1")
    fc_channels: int = 64
    fc_layers: int = Field(3, ge=1, description="hidden layers of the classifier head")
    jet_features: bool = Field(
        True, description="feed FatJet pT, mass, msoftdrop, tau21, tau32 to the head"
    )
    lorentz_heads: int = Field(
        6, ge=0, description="learned weighted four-momentum sums whose masses feed the head"
    )
    epochs: int = 4
    batch_size: int = 256
    learning_rate: float = 3e-3
    min_fatjet_pt: float = Field(300.0, description="fat-jet pT threshold, GeV")
    max_abs_eta: float = 2.4
    matching_radius: float = Field(0.8, description="AK8 top/W containment radius")


class ResolvedTaggerSettings(BaseModel):
    """xgboost trijet tagger."""

    model_config = ConfigDict(extra="forbid")

    max_jets: int = Field(8, description="leading jets used to build trijets (C(8,3)=56)")
    n_estimators: int = 120
    max_depth: int = 4
    learning_rate: float = 0.15
    matching_radius: float = Field(0.4, description="AK4 jet to decay-quark matching radius")


class EventDNNSettings(BaseModel):
    """Two-fold event MLP."""

    model_config = ConfigDict(extra="forbid")

    hidden: tuple[int, ...] = (64, 64, 32)
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4


class SampleSizes(BaseModel):
    """Events per training sample (the shipped models use these defaults)."""

    model_config = ConfigDict(extra="forbid")

    boosted_signal: int = 12000
    boosted_background: int = Field(10000, description="qcd_boosted events (harder pT)")
    boosted_eval_signal: int = Field(8000, description="independent held-out sample")
    boosted_eval_background: int = Field(
        60000, description="independent held-out QCD (generator default spectrum)"
    )
    resolved_per_process: int = 2000
    # the analysis preselection (trigger, lepton veto, jet ID) keeps ~40 % of what the
    # HT/N jets/N b cuts alone kept: 2.5x the events give the DNN its former statistics
    dnn_signal: int = 10000
    dnn_background: int = 50000
    dnn_ttx_per_process: int = 7500
    test_fraction: float = 0.3


class GeneratedSamples(BaseModel):
    """How training samples are made with ``simulation.generate_dataset``."""

    model_config = ConfigDict(extra="forbid")

    # the generator's tt̄ has top pT ~ Gamma(k=2, 62 GeV): merged tops (pT >~ 2 m_t / 0.8)
    # are rare, so the boosted-tagger signal uses tt̄ with a harder spectrum (mean 2 x this)
    boosted_top_pt_scale_gev: float = Field(150.0, gt=0)
    # likewise the QCD training jets: dN/dpT ~ pT^-power of the QCD pair, generator default 4;
    # a harder spectrum gives as many high-pT (heavy, two-prong) QCD fat jets as tops, the
    # tail that limits the rejection. Held-out QCD keeps the generator default.
    boosted_qcd_pt_power: float = Field(2.5, gt=1)
    luminosity_fb: float = Field(138.0, gt=0, description="Run 2 (CMS-LUM-17-003 etc.)")


class TrainingSettings(BaseModel):
    """Everything ``workflows.train`` needs besides the data."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 1234
    boosted: BoostedTaggerSettings = BoostedTaggerSettings()
    resolved: ResolvedTaggerSettings = ResolvedTaggerSettings()
    event_dnn: EventDNNSettings = EventDNNSettings()
    toy: ToyPhysics = ToyPhysics()
    generated: GeneratedSamples = GeneratedSamples()
    sizes: SampleSizes = SampleSizes()
