"""JES/JER variations on toy jets: migrations, hybrid smearing, determinism."""

from __future__ import annotations

import awkward as ak
import correctionlib
import numpy as np
import pytest

from analysis.config import JetSelection
from analysis.selection import select_jets
from analysis.variations import deterministic_normal, jet_variations
from common.exceptions import CorrectionError
from corrections.loader import Corrections
from corrections.testing import toy_events

JETS = JetSelection()  # the analysis jet selection with its default cuts


@pytest.fixture(scope="module")
def events() -> ak.Array:
    return toy_events(3000, seed=7)


@pytest.fixture(scope="module")
def varied(events: ak.Array, corr: Corrections) -> dict[str, ak.Array]:
    return jet_variations(events.Jet, events, corr)


@pytest.fixture(scope="module")
def raw_cset(corr: Corrections) -> correctionlib.CorrectionSet:
    # the payload read directly, independent of the loader and the code under test
    return correctionlib.CorrectionSet.from_file(str(corr.payload_path("jets")))


def n_jets(jets: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.num(select_jets(jets, JETS)))


def test_all_configured_variations_are_returned(varied: dict[str, ak.Array]) -> None:
    expected = {"nominal", "JER_up", "JER_down"} | {
        f"JES_{s}_{d}" for s in ("Total", "AbsoluteStat", "FlavorQCD", "RelativeBal",
                                 "PileUpPtRef") for d in ("up", "down")}
    assert set(varied) == expected


def test_jes_up_moves_events_to_higher_jet_multiplicity(varied: dict[str, ak.Array]) -> None:
    nom, up, down = (n_jets(varied[k]) for k in ("nominal", "JES_Total_up", "JES_Total_down"))
    # same jets scaled by a positive factor: per event the count can only move one way
    assert np.all(up >= nom) and np.all(down <= nom)
    assert np.sum(up >= 9) > np.sum(nom >= 9) > np.sum(down >= 9)
    assert np.sum(up >= 6) > np.sum(nom >= 6)


def test_jes_shift_is_the_payload_uncertainty(events: ak.Array, varied: dict[str, ak.Array],
                                              raw_cset: correctionlib.CorrectionSet) -> None:
    jets = events.Jet
    unc = raw_cset["Synthetic_V1_MC_Total_AK4PFPuppi"].evaluate(
        ak.to_numpy(ak.flatten(jets.eta)).astype(float),
        ak.to_numpy(ak.flatten(jets.pt)).astype(float))
    nom = ak.to_numpy(ak.flatten(varied["nominal"].pt))
    up = ak.to_numpy(ak.flatten(varied["JES_Total_up"].pt))
    down = ak.to_numpy(ak.flatten(varied["JES_Total_down"].pt))
    np.testing.assert_allclose(up, nom * (1 + unc), rtol=1e-5)
    np.testing.assert_allclose(down, nom * (1 - unc), rtol=1e-5)
    # mass scales with pT; direction unchanged; same jets in the same order
    ratio_m = ak.to_numpy(ak.flatten(varied["JES_Total_up"].mass / varied["nominal"].mass))
    np.testing.assert_allclose(ratio_m, 1 + unc, rtol=1e-5)
    for f in ("eta", "phi", "btagDeepFlavB", "hadronFlavour"):
        assert ak.all(varied["JES_Total_up"][f] == jets[f])


def test_matched_jets_are_scaled_towards_gen_by_the_scale_factor(
        events: ak.Array, varied: dict[str, ak.Array],
        raw_cset: correctionlib.CorrectionSet) -> None:
    jets = events.Jet
    pt = ak.to_numpy(ak.flatten(jets.pt)).astype(float)
    eta = ak.to_numpy(ak.flatten(jets.eta)).astype(float)
    gen = ak.to_numpy(ak.flatten(events.GenJet.pt)).astype(float)  # toy: gen at jet's index
    has_gen = ak.to_numpy(ak.flatten(jets.genJetIdx)) >= 0
    res = raw_cset["Synthetic_JRV1_MC_PtResolution_AK4PFPuppi"].evaluate(
        eta, pt, np.repeat(ak.to_numpy(events.Rho.fixedGridRhoFastjetAll), ak.num(jets)))
    matched = has_gen & (np.abs(pt - gen) < 3 * res * pt)  # toy dR is ~0.03 < 0.2
    assert matched.mean() > 0.7
    for key, syst in (("nominal", "nom"), ("JER_up", "up"), ("JER_down", "down")):
        sf = raw_cset["Synthetic_JRV1_MC_ScaleFactor_AK4PFPuppi"].evaluate(eta, pt, syst)
        smeared = ak.to_numpy(ak.flatten(varied[key].pt)).astype(float)
        expected = np.maximum(gen + sf * (pt - gen), 0.0)
        np.testing.assert_allclose(smeared[matched], expected[matched], rtol=1e-5, atol=1e-3)


def test_unmatched_jets_get_the_extra_resolution_stochastically(corr: Corrections) -> None:
    ev = toy_events(4000, seed=11)
    ev = ak.with_field(ev, ak.with_field(ev.Jet, ak.full_like(ev.Jet.genJetIdx, -1),
                                         "genJetIdx"), "Jet")
    out = jet_variations(ev.Jet, ev, corr, ["JER_up"])
    pt = ak.to_numpy(ak.flatten(ev.Jet.pt)).astype(float)
    eta = ak.to_numpy(ak.flatten(ev.Jet.eta)).astype(float)
    rho = np.repeat(ak.to_numpy(ev.Rho.fixedGridRhoFastjetAll), ak.num(ev.Jet))
    res_name, sf_name = corr.jer_names()
    res = corr.evaluate("jets", res_name, JetEta=eta, JetPt=pt, Rho=rho)
    # synthetic nominal SF is 1 (pseudo-data have the simulated resolution): no smearing
    nominal_sf = corr.evaluate("jets", sf_name, JetEta=eta, JetPt=pt, systematic="nom")
    np.testing.assert_array_equal(nominal_sf, 1.0)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(out["nominal"].pt)), pt, rtol=1e-6)
    sf = corr.evaluate("jets", sf_name, JetEta=eta, JetPt=pt, systematic="up")
    assert (sf > 1.0).all()
    rel = ak.to_numpy(ak.flatten(out["JER_up"].pt)).astype(float) / pt - 1.0
    pull = rel / (res * np.sqrt(sf**2 - 1.0))
    # standard normal pulls (30k jets: 1 % precision on the width)
    assert abs(np.mean(pull)) < 0.03 and abs(np.std(pull) - 1.0) < 0.03


def test_smearing_is_reproducible_and_chunking_independent(corr: Corrections) -> None:
    ev = toy_events(1000, seed=5)
    whole = jet_variations(ev.Jet, ev, corr, ["JER_up"])
    parts = [jet_variations(ev[a:b].Jet, ev[a:b], corr, ["JER_up"])
             for a, b in ((0, 317), (317, 1000))]
    for key in ("nominal", "JER_up"):
        joined = ak.concatenate([p[key].pt for p in parts])
        assert ak.all(ak.flatten(joined == whole[key].pt))
    again = jet_variations(ev.Jet, ev, corr, ["JER_up"])
    assert ak.all(ak.flatten(again["nominal"].pt == whole["nominal"].pt))


def test_deterministic_normal_is_standard_normal_and_keyed() -> None:
    n = 200_000
    idx = np.arange(n) % 10
    ev = np.arange(n) // 10
    z = deterministic_normal(np.ones(n), np.ones(n), ev, idx, salt=1)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert np.mean(np.abs(z) > 1.96) == pytest.approx(0.05, abs=0.003)
    z2 = deterministic_normal(np.ones(n), np.ones(n), ev, idx, salt=2)
    assert abs(np.corrcoef(z, z2)[0, 1]) < 0.01  # another salt: independent numbers


def test_data_jets_are_not_smeared_or_varied(events: ak.Array, corr: Corrections) -> None:
    out = jet_variations(events.Jet, events, corr, ["JES_Total_up", "JER_up"], is_data=True)
    assert list(out) == ["nominal"]
    assert ak.all(ak.flatten(out["nominal"].pt == events.Jet.pt))


def test_weight_names_are_ignored_and_unknown_names_rejected(events: ak.Array,
                                                             corr: Corrections) -> None:
    out = jet_variations(events.Jet, events, corr, ["btag_hf_up", "pileup_down", "ISR_up"])
    assert list(out) == ["nominal"]
    with pytest.raises(CorrectionError, match="JES_Bogus_up"):
        jet_variations(events.Jet, events, corr, ["JES_Bogus_up"])


def test_empty_events(corr: Corrections) -> None:
    ev = toy_events(5)[:0]
    out = jet_variations(ev.Jet, ev, corr)
    assert len(out["JES_Total_up"]) == 0
