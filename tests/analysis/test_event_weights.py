"""Weight variations: b-tag method 1a, pileup, trigger, scale envelope, parton shower."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from analysis.config import JetSelection
from analysis.selection import select_jets
from analysis.variations import jet_variations
from analysis.weights import WeightSet, event_weights, weight_variation_names
from common.exceptions import CorrectionError
from corrections.loader import Corrections
from corrections.testing import toy_events

JETS = JetSelection()  # the analysis jet selection with its default cuts


@pytest.fixture(scope="module")
def events() -> ak.Array:
    return toy_events(20000, seed=3)


@pytest.fixture(scope="module")
def weights(events: ak.Array, corr: Corrections) -> WeightSet:
    return event_weights(events, select_jets(events.Jet, JETS), corr)


def n_b(events: ak.Array, corr: Corrections) -> np.ndarray:
    jets = select_jets(events.Jet, JETS)
    return ak.to_numpy(ak.sum(jets.btagDeepFlavB > corr.btag_threshold(), axis=1))


def test_all_names_present_and_finite(weights: WeightSet, corr: Corrections) -> None:
    assert set(weights.variations) == set(weight_variation_names(corr))
    assert set(weights.factors) == {"btag", "pileup", "trigger"}
    for w in (weights.nominal, *weights.variations.values()):
        assert w.shape == weights.nominal.shape and np.all(np.isfinite(w)) and np.all(w >= 0)


def test_btag_sf_up_raises_yield_with_three_or_more_b(events, weights, corr) -> None:
    nb = n_b(events, corr)
    for name in ("btag_hf_up", "btag_hf_correlated_up", "btag_hf_uncorrelated_up"):
        up = weights.weight(name)
        assert up[nb >= 3].sum() > weights.nominal[nb >= 3].sum()
        # untagged b jets then weigh less: events without tags lose yield
        assert up[nb == 0].sum() < weights.nominal[nb == 0].sum()
    assert weights.weight("btag_hf_down")[nb >= 3].sum() < weights.nominal[nb >= 3].sum()


def test_method_1a_reproduces_scale_factor_times_efficiency(events, weights, corr) -> None:
    # toy tagging efficiencies equal the payload's, so the weighted tag rate of b jets is
    # SF * eff, and the average event weight stays one (method 1a preserves normalisation)
    jets = select_jets(events.Jet, JETS)
    w_btag = weights.factors["btag"]
    is_b = jets.hadronFlavour == 5
    tagged_b = ak.to_numpy(ak.sum(is_b & (jets.btagDeepFlavB > corr.btag_threshold()), axis=1))
    all_b = ak.to_numpy(ak.sum(is_b, axis=1))
    pt = ak.to_numpy(ak.flatten(jets.pt[is_b])).astype(float)
    sf = corr.evaluate("btag", "deepJet_comb", systematic="central", working_point="M",
                       flavor=np.full(pt.size, 5), abseta=np.full(pt.size, 1.0), pt=pt)
    expected_rate = np.mean(sf) * 0.80
    assert np.sum(w_btag * tagged_b) / np.sum(w_btag * all_b) == pytest.approx(expected_rate,
                                                                               abs=0.01)
    assert np.mean(w_btag) == pytest.approx(1.0, abs=0.01)


def test_weight_only_variations_leave_selections_unchanged(events, corr) -> None:
    names = weight_variation_names(corr)
    before = ak.to_numpy(ak.num(select_jets(events.Jet, JETS)))
    jets_out = jet_variations(events.Jet, events, corr, names)
    assert list(jets_out) == ["nominal"]  # no new jet collections for weight variations
    nominal_jets = select_jets(jets_out["nominal"], JETS)
    w = event_weights(events, nominal_jets, corr, names)
    assert len(w.nominal) == len(events)
    assert np.array_equal(ak.to_numpy(ak.num(select_jets(events.Jet, JETS))), before)
    assert np.array_equal(ak.to_numpy(ak.num(nominal_jets)),
                          ak.to_numpy(ak.num(select_jets(jets_out["nominal"], JETS))))


def test_pileup_up_favours_high_pileup_events(events, weights) -> None:
    ntrue = ak.to_numpy(events.Pileup.nTrueInt)
    ratio = weights.weight("pileup_up") / weights.nominal
    high, low = ntrue > 45, ntrue < 20
    assert np.mean(ratio[high]) > 1.0 > np.mean(ratio[low])


def test_trigger_variations_bracket_nominal_and_shrink_on_plateau(corr) -> None:
    ev = toy_events(200, seed=9)
    jets = select_jets(ev.Jet, JETS)
    w = event_weights(ev, jets, corr, ["trigger_up", "trigger_down"])
    up, down = w.weight("trigger_up"), w.weight("trigger_down")
    assert np.all(up > w.nominal) and np.all(down < w.nominal)
    ht = np.array([720.0, 1600.0])
    sf = {s: corr.evaluate("trigger", "trigger_sf", systematic=s, HT=ht, NBJets=3.0)
          for s in ("nominal", "up")}
    assert sf["nominal"][0] < sf["nominal"][1] <= 1.0  # turn-on edge below the plateau
    assert (sf["up"] - sf["nominal"])[0] > (sf["up"] - sf["nominal"])[1]


def _theory_events(scale: list[list[float]], ps: list[list[float]]) -> ak.Array:
    ev = toy_events(len(scale), seed=1)
    ev = ak.with_field(ev, ak.Array(scale), "LHEScaleWeight")
    return ak.with_field(ev, ak.Array(ps), "PSWeight")


def test_scale_envelope_excludes_anomalous_combinations(corr) -> None:
    # NanoAOD 9-entry order (muR, muF): [2] = (0.5, 2) and [6] = (2, 0.5) are anomalous
    scale = [[1.10, 1.05, 3.00, 1.02, 1.0, 0.97, 0.10, 0.95, 0.90],
             [0.80, 0.90, 1.00, 1.00, 1.0, 1.00, 1.00, 1.10, 1.20]]
    ev = _theory_events(scale, [[1.0] * 4] * 2)
    w = event_weights(ev, select_jets(ev.Jet, JETS), corr, ["muRmuF_up", "muRmuF_down"])
    np.testing.assert_allclose(w.weight("muRmuF_up") / w.nominal, [1.10, 1.20], rtol=1e-6)
    np.testing.assert_allclose(w.weight("muRmuF_down") / w.nominal, [0.90, 0.80], rtol=1e-6)
    # 8-entry form (nominal left out): anomalous are [2] and [5]
    eight = [[1.10, 1.05, 3.00, 1.02, 0.97, 0.10, 0.95, 0.90]]
    ev8 = _theory_events(eight, [[1.0] * 4])
    w8 = event_weights(ev8, select_jets(ev8.Jet, JETS), corr, ["muRmuF_up", "muRmuF_down"])
    np.testing.assert_allclose(w8.weight("muRmuF_up") / w8.nominal, [1.10], rtol=1e-6)
    np.testing.assert_allclose(w8.weight("muRmuF_down") / w8.nominal, [0.90], rtol=1e-6)


def test_ps_weights_follow_nanoaod_order(corr) -> None:
    ev = _theory_events([[1.0] * 9], [[1.11, 1.22, 0.93, 0.84]])
    w = event_weights(ev, select_jets(ev.Jet, JETS), corr,
                      ["ISR_up", "FSR_up", "ISR_down", "FSR_down"])
    got = {n: float(w.weight(n)[0] / w.nominal[0]) for n in ("ISR_up", "FSR_up", "ISR_down",
                                                              "FSR_down")}
    assert got == pytest.approx({"ISR_up": 1.11, "FSR_up": 1.22, "ISR_down": 0.93,
                                 "FSR_down": 0.84}, rel=1e-6)


def test_missing_or_placeholder_theory_weights_give_one(corr) -> None:
    ev = _theory_events([[]], [[1.0]])  # no scale weights, NanoAOD's 1-entry PS placeholder
    w = event_weights(ev, select_jets(ev.Jet, JETS), corr, ["muRmuF_up", "ISR_up"])
    assert w.weight("muRmuF_up")[0] == pytest.approx(w.nominal[0])
    assert w.weight("ISR_up")[0] == pytest.approx(w.nominal[0])
    bad = _theory_events([[1.0] * 9], [[1.0, 1.0]])
    with pytest.raises(CorrectionError, match="PSWeight has lengths \\[2\\]"):
        event_weights(bad, select_jets(bad.Jet, JETS), corr, ["ISR_up"])


def test_data_gets_no_mc_corrections(events, corr) -> None:
    w = event_weights(events, select_jets(events.Jet, JETS), corr, is_data=True)
    assert np.all(w.nominal == 1.0) and w.variations == {} and w.factors == {}
    with pytest.raises(CorrectionError, match="'btag_hf_up' was not computed"):
        w.weight("btag_hf_up")


def test_efficiency_measured_on_mc_jets_recovers_the_tag_rates(events, corr) -> None:
    from correctionlib import schemav2 as cs

    from corrections.make_btag import efficiency_from_jets

    jets = select_jets(events.Jet, JETS)
    flat = {k: ak.to_numpy(ak.flatten(jets[k])) for k in ("pt", "eta", "hadronFlavour",
                                                          "btagDeepFlavB")}
    corr_eff = efficiency_from_jets(flat["pt"], np.abs(flat["eta"]), flat["hadronFlavour"],
                                    flat["btagDeepFlavB"] > corr.btag_threshold(), "M")
    ev = cs.CorrectionSet(schema_version=2, corrections=[corr_eff]).to_evaluator()["deepJet_eff"]
    got = ev.evaluate("M", np.array([5, 4, 0]), np.full(3, 1.0), np.full(3, 60.0))
    # toy tag probabilities are 0.80, 0.20, 0.015 (binomial precision of one bin)
    assert np.all(np.abs(got - [0.80, 0.20, 0.015]) < [0.03, 0.05, 0.006])
