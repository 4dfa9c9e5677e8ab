"""The trijet-mass pre-filter before the resolved top tagger, on generated tt̄ with truth.

A real top triplet is three jets matched (dR < 0.4) to the b, q and q' of one hadronically
decaying top. The loose window the config documents must keep essentially all of them, and
every one the shipped tagger counts as a top, while dropping a good part of the
combinatorial candidates.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

from analysis.config import load_config
from analysis.jets import padded_jets, pt_ordered
from analysis.selection import jet_mask
from analysis.trijets import candidate_features, candidates, combos
from inference.client import InProcessClient
from inference.settings import InferenceSettings
from inference.training.truth import hadronic_top_decays, label_trijets, match_jets_to_quarks
from workflows.pipeline import PipelineSchema

WINDOW = (40.0, 500.0)  # the example window of analysis/default_config.yaml, GeV
MAX_JETS = 8


@pytest.fixture(scope="module")
def trijets(generated_ttbar):
    """All candidates of generated tt̄ events with >= 6 selected jets: truth label, mass,
    whether the window keeps them, tagger score."""
    config = load_config()
    ev = NanoEventsFactory.from_root({str(generated_ttbar): "Events"}, schemaclass=PipelineSchema,
                                     mode="eager").events()
    jets = pt_ordered(ev.Jet[jet_mask(ev.Jet, config.jets)])
    six = ak.to_numpy(ak.num(jets) >= 6)
    ev, jets = ev[six], jets[six]
    pj, n = padded_jets(jets, MAX_JETS, config.btag.discriminant)
    top, role = match_jets_to_quarks(pj["eta"], pj["phi"], hadronic_top_decays(ev.GenPart), 0.4)
    role = np.where(np.arange(MAX_JETS)[None, :] < n[:, None], role, -1)
    label = label_trijets(np.where(role >= 0, top, -1), role, combos(MAX_JETS))
    event, combination = candidates(pj, n, MAX_JETS)
    kept = np.zeros(label.shape, bool)
    kept[candidates(pj, n, MAX_JETS, WINDOW)] = True
    features = candidate_features(pj, event, combination, MAX_JETS)
    client = InProcessClient(InferenceSettings())
    score = client.infer("resolved_top_tagger", {"trijet_features": features})["score"]
    return {"label": label[event, combination] == 1, "kept": kept[event, combination],
            "mass": features[:, 0], "score": np.asarray(score).reshape(-1)}


def test_window_keeps_real_top_triplets_and_drops_combinatorics(trijets):
    true, kept = trijets["label"], trijets["kept"]
    assert true.sum() >= 100  # enough matched triplets for the fractions below
    kept_true = kept[true].mean()
    kept_all = kept.mean()
    print(f"window {WINDOW}: kept {kept_all:.3f} of candidates, {kept_true:.4f} of real tops")
    assert kept_true >= 0.98
    assert kept_all <= 0.85  # it does remove candidates
    # what it keeps is what it should: the mass cut, nothing else
    inside = (trijets["mass"] > WINDOW[0]) & (trijets["mass"] < WINDOW[1])
    np.testing.assert_array_equal(kept, inside)


def test_window_keeps_every_real_top_the_tagger_counts(trijets):
    tagged = trijets["label"] & (trijets["score"] > load_config().ml.features.resolved_threshold)
    assert tagged.sum() >= 50
    assert trijets["kept"][tagged].all()
