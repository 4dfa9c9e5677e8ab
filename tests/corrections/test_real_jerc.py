"""Real CMS Summer22 JERC applied to the real NanoAODv12 tt jets, through the same code."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from analysis.variations import jet_variations
from analysis.weights import event_weights
from corrections.loader import Corrections, load_corrections
from corrections.settings import CorrectionsSettings

TAG = "Summer22_22Sep2023_V3_MC"


@pytest.fixture(scope="module")
def real(shared_data) -> Corrections:
    settings = CorrectionsSettings.model_validate({"jets": {
        "payload": str(shared_data / "corrections" / "jet_jerc_Summer22_V3.json.gz"),
        "jec_tag": TAG, "jer_tag": "Summer22_22Sep2023_JRV1_MC", "reapply_jec": True,
        "jes_sources": ["Total", "Regrouped_FlavorQCD", "Regrouped_RelativeBal"],
    }})
    return load_corrections(settings)


@pytest.fixture(scope="module")
def tt(nanoaod_dir) -> ak.Array:
    branches = ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_rawFactor", "Jet_area",
                "Jet_genJetIdx", "GenJet_pt", "GenJet_eta", "GenJet_phi",
                "Rho_fixedGridRhoFastjetAll", "run", "luminosityBlock", "event"]
    with uproot.open(nanoaod_dir / "nano_tt_v12.root") as f:
        a = f["Events"].arrays(branches)
    col = {c: ak.zip({k.split("_", 1)[1]: a[k] for k in branches if k.startswith(c + "_")})
           for c in ("Jet", "GenJet")}
    return ak.zip({**col, "Rho": ak.zip({"fixedGridRhoFastjetAll": a.Rho_fixedGridRhoFastjetAll}),
                   "run": a.run, "luminosityBlock": a.luminosityBlock, "event": a.event},
                  depth_limit=1)


def test_real_payload_lists_the_expected_keys(real: Corrections) -> None:
    real.get("jets", f"{TAG}_L1L2L3Res_AK4PFPuppi")  # compound: L1FastJet..L2L3Residual
    for level in ("L1FastJet", "L2Relative", "L3Absolute", "L2L3Residual"):
        real.get("jets", f"{TAG}_{level}_AK4PFPuppi")


def test_reapplied_jec_reproduces_nanoaod_jet_pt(real: Corrections, tt: ak.Array) -> None:
    jets = tt.Jet
    raw = jets.pt * (1 - jets.rawFactor)
    rho = ak.broadcast_arrays(tt.Rho.fixedGridRhoFastjetAll, jets.pt)[0]
    flat = {k: ak.to_numpy(ak.flatten(v)).astype(float)
            for k, v in (("JetA", jets.area), ("JetEta", jets.eta), ("JetPt", raw), ("Rho", rho))}
    factor = real.evaluate("jets", real.jec_name(), **flat)
    pt = ak.to_numpy(ak.flatten(jets.pt))
    ratio = (factor * flat["JetPt"] / pt)[pt > 30]
    # the file may carry another JEC version: allow 2 % on the median, 2 % on the spread
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    lo, hi = np.percentile(ratio, [16, 84])
    assert hi - lo < 0.04
    # the same through jet_variations (nominal without smearing = JEC only, for data)
    data_like = jet_variations(jets, tt, real, [], is_data=True)["nominal"]
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(data_like.pt))[pt > 30],
                               (factor * flat["JetPt"])[pt > 30], rtol=1e-5)


def test_real_jes_uncertainty_and_resolution_are_sensible(real: Corrections, tt: ak.Array) -> None:
    jets = tt.Jet[(tt.Jet.pt > 30) & (abs(tt.Jet.eta) < 2.4)]
    eta = ak.to_numpy(ak.flatten(jets.eta)).astype(float)
    pt = ak.to_numpy(ak.flatten(jets.pt)).astype(float)
    rho = np.repeat(ak.to_numpy(tt.Rho.fixedGridRhoFastjetAll), ak.num(jets))
    unc = real.evaluate("jets", real.jes_name("Total"), JetEta=eta, JetPt=pt)
    assert np.all((unc > 0.003) & (unc < 0.10))  # CMS Run 3 JES: ~0.5 % to several %
    assert np.median(unc[pt < 50]) > np.median(unc[pt > 150])  # larger at low pT
    res_name, sf_name = real.jer_names()
    res = real.evaluate("jets", res_name, JetEta=eta, JetPt=pt, Rho=rho)
    assert np.all((res > 0.03) & (res < 0.4))
    assert np.median(res[pt < 50]) > np.median(res[pt > 150])
    sf = real.evaluate("jets", sf_name, JetEta=eta, JetPt=pt, systematic="nom")
    assert np.all((sf > 1.0) & (sf < 1.6))


def test_full_variations_on_real_jets(real: Corrections, tt: ak.Array) -> None:
    out = jet_variations(tt.Jet, tt, real)
    assert {"JES_Total_up", "JES_FlavorQCD_down", "JES_RelativeBal_up", "JER_up"} <= set(out)
    nom = ak.to_numpy(ak.flatten(out["nominal"].pt))
    up = ak.to_numpy(ak.flatten(out["JES_Total_up"].pt))
    assert np.all(nom > 0) and np.all(up > nom)
    n30 = {k: int(ak.sum(v.pt > 30)) for k, v in out.items()}
    assert n30["JES_Total_up"] >= n30["nominal"] >= n30["JES_Total_down"]


# the real file lacks Photon and LowPtElectron branches, which NanoAODSchema reports
@pytest.mark.filterwarnings("ignore:Missing cross-reference")
def test_nanoevents_chain_keeps_behaviour(real: Corrections, nanoaod_dir) -> None:
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    events = NanoEventsFactory.from_root({str(nanoaod_dir / "nano_tt_v12.root"): "Events"},
                                         schemaclass=NanoAODSchema, mode="virtual").events()
    out = jet_variations(events.Jet, events, real, ["JES_Total_up"])
    jets = out["JES_Total_up"]
    # still coffea Jet objects: four-vector sums and gen-jet cross references work
    dijet = jets[:, 0] + jets[:, 1]
    assert np.all(ak.to_numpy(dijet.mass) > 0)
    assert ak.all(ak.num(jets.matched_gen.pt) == ak.num(events.Jet))
    sel = jets[(jets.pt > 30) & (abs(jets.eta) < 2.4)]
    w = event_weights(events, sel, load_corrections())  # synthetic b-tag/pileup/trigger SFs
    assert np.all(np.isfinite(w.nominal)) and np.all(w.nominal > 0)
    # real LHE/PS weights: envelope brackets the nominal
    assert np.all(w.weight("muRmuF_up") >= w.nominal) and np.all(
        w.weight("muRmuF_down") <= w.nominal)
