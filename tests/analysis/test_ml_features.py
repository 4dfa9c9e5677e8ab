"""analysis.ml_features: fold assignment, taggers through the client, edge cases."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from analysis.jets import padded_jets, pt_ordered
from analysis.ml_features import (
    DNN_FEATURE_NAMES,
    ML_COLUMNS,
    MLFeatureSettings,
    dnn_fold,
    ml_feature_columns,
    ml_feature_columns_by_set,
)
from inference.training.toy_events import make_toy_events


class FakeClient:
    """Constant-output models: fold0 -> 0.25, fold1 -> 0.75, boosted -> 0.8."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def infer(self, model, inputs, outputs=None):
        self.calls.append((model, inputs))
        n = len(next(iter(inputs.values())))
        if model == "resolved_top_tagger":
            m = inputs["trijet_features"][:, 0]
            return {"score": np.where(abs(m - 172.5) < 25, 0.9, 0.1).astype(np.float32)[:, None]}
        value = {"event_dnn_fold0": 0.25, "event_dnn_fold1": 0.75, "boosted_top_tagger": 0.8}
        return {"score": np.full((n, 1), value[model], np.float32)}


@pytest.fixture(scope="module")
def toy():
    ev = make_toy_events("tttt", 40, seed=9)
    jets = ev.Jet[(ev.Jet.pt > 30) & (abs(ev.Jet.eta) < 2.4)]
    return ev, jets


def test_each_event_is_scored_by_the_fold_that_did_not_train_on_it(toy):
    ev, jets = toy
    ev = ak.with_field(ev, ak.Array(np.arange(len(ev), dtype=np.int64) + 101), "event")
    client = FakeClient()
    cols = ml_feature_columns(ev, jets, client)
    odd = ak.to_numpy(ev.event) % 2 == 1
    # fold 0 was trained on even event numbers, so it must score exactly the odd ones
    assert np.all(cols["dnn_score"][odd] == 0.25) and np.all(cols["dnn_score"][~odd] == 0.75)
    rows = {m: len(i["features"]) for m, i in client.calls if m.startswith("event_dnn")}
    assert rows == {"event_dnn_fold0": int(odd.sum()), "event_dnn_fold1": int((~odd).sum())}
    assert dnn_fold(np.array([0, 1, 2, 3])).tolist() == [1, 0, 1, 0]


def test_columns_and_tagger_features(toy):
    ev, jets = toy
    client = FakeClient()
    s = MLFeatureSettings()
    cols = ml_feature_columns(ev, jets, client, s)
    assert set(cols) == set(ML_COLUMNS) and all(len(v) == len(ev) for v in cols.values())
    assert cols["n_b"].tolist() == ak.sum(jets.btagDeepFlavB > s.btag_wp, axis=1).tolist()
    np.testing.assert_allclose(cols["ht"], ak.to_numpy(ak.sum(jets.pt, axis=1)), rtol=1e-6)
    has_boosted = ak.to_numpy(ak.any((ev.FatJet.pt > 300) & (abs(ev.FatJet.eta) < 2.4), axis=1))
    assert np.all(cols["boosted_top_score_max"][has_boosted] == np.float32(0.8))
    assert np.all(cols["boosted_top_score_max"][~has_boosted] == 0)
    # greedy disjoint tops: at most n_jets // 3 and scores ordered
    assert np.all(cols["n_resolved_tops"] <= np.minimum(cols["n_jets"] // 3, 2))
    assert np.all(cols["resolved_top_score_1"] >= cols["resolved_top_score_2"])
    assert cols["n_resolved_tops"].max() >= 1
    # what the DNN saw is what is returned
    fed = np.concatenate([i["features"] for m, i in client.calls if m.startswith("event_dnn")])
    stacked = np.stack([cols[k] for k in DNN_FEATURE_NAMES], axis=1).astype(np.float32)
    assert sorted(map(tuple, fed.tolist())) == sorted(map(tuple, stacked.tolist()))


def test_zero_events_and_missing_constituents(toy):
    ev, jets = toy
    client = FakeClient()
    empty = ml_feature_columns(ev[:0], jets[:0], client)
    assert all(len(v) == 0 for v in empty.values()) and set(empty) == set(ML_COLUMNS)
    assert client.calls == []
    plain = ev[["event", "Jet", "FatJet"]]  # NanoAOD without PF candidates
    cols = ml_feature_columns(plain, jets, client)
    assert not cols["boosted_top_score_max"].any() and not cols["n_boosted_tops"].any()
    assert "boosted_top_tagger" not in {m for m, _ in client.calls}


def test_jet_sets_in_one_call_per_model_equal_separate_calls(toy):
    ev, jets = toy
    scaled = ak.with_field(jets, jets.pt * 1.03, "pt")  # a JES-like variation
    sets = {"nominal": (ev, jets, None), "up": (ev[5:], scaled[5:], None)}
    client = FakeClient()
    together = ml_feature_columns_by_set(sets, client)
    per_model = [m for m, _ in client.calls if m != "boosted_top_tagger"]
    assert sorted(per_model) == ["event_dnn_fold0", "event_dnn_fold1", "resolved_top_tagger"]
    for name, (events, selected, _) in sets.items():
        alone = ml_feature_columns(events, selected, FakeClient())
        assert set(together[name]) == set(alone)
        for k in alone:
            np.testing.assert_array_equal(together[name][k], alone[k], err_msg=f"{name} {k}")
    # the variation moved the jets, so its trijets and HT really differ
    assert not np.array_equal(together["up"]["ht"], together["nominal"]["ht"][5:])


def test_mass_window_scores_only_candidates_inside(toy):
    ev, jets = toy
    client = FakeClient()
    s = MLFeatureSettings(resolved_mass_window=(140.0, 210.0))
    cols = ml_feature_columns(ev, jets, client, s)
    fed = np.concatenate([i["trijet_features"] for m, i in client.calls
                          if m == "resolved_top_tagger"])
    assert len(fed) > 0 and np.all((fed[:, 0] > 140.0) & (fed[:, 0] < 210.0))
    full = FakeClient()
    ml_feature_columns(ev, jets, full)
    fed_all = np.concatenate([i["trijet_features"] for m, i in full.calls
                              if m == "resolved_top_tagger"])
    assert len(fed) < len(fed_all)
    # the fake tagger tags only masses near 172.5 GeV, all inside: tops are not lost
    assert cols["n_resolved_tops"].sum() == ml_feature_columns(ev, jets, FakeClient())[
        "n_resolved_tops"].sum()
    with pytest.raises(ValueError, match="resolved_mass_window"):
        MLFeatureSettings(resolved_mass_window=(300.0, 100.0))


def test_jet_inputs_follow_the_padded_pt_ordered_layout(toy):
    ev, jets = toy
    shuffled = jets[ak.argsort(jets.eta, axis=1)]  # not pT-ordered: the columns must order
    cols = ml_feature_columns(ev, shuffled, FakeClient())
    pj, n = padded_jets(pt_ordered(jets), 6)
    for i in range(6):
        np.testing.assert_array_equal(cols[f"jet{i + 1}_pt"], pj["pt"][:, i].astype(np.float32))
    ranked = ak.to_numpy(ak.fill_none(ak.pad_none(ak.sort(jets.btagDeepFlavB, ascending=False),
                                                  4, clip=True), 0.0))
    for i in range(4):
        np.testing.assert_array_equal(cols[f"btag_rank{i + 1}"], ranked[:, i].astype(np.float32))
    assert cols["n_jets"].tolist() == n.tolist() and n.max() >= 7
