"""The stand-in toy event source (unit-test input, no longer a training source): tt̄-like
jets, reproducible, validated process names."""

from __future__ import annotations

import awkward as ak
import pytest

from common.exceptions import GeneratorError
from inference.training.toy_events import make_toy_events


def test_ttbar_jets_resemble_real_nanoaod_ttbar():
    ev = make_toy_events("ttbar", 400, seed=1)
    jets = ev.Jet[(ev.Jet.pt > 30) & (abs(ev.Jet.eta) < 2.4)]
    # real nano_tt_v12.root (semileptonic): <N jets> 5.1, <HT> 420 GeV; inclusive tt̄ is
    # somewhat busier
    assert 4.5 < ak.mean(ak.num(jets)) < 6.5
    assert 350 < ak.mean(ak.sum(jets.pt, axis=1)) < 550
    tag = jets.btagDeepFlavB > 0.3
    flav = jets.hadronFlavour
    assert 0.7 < ak.mean(tag[flav == 5]) < 0.9
    assert ak.mean(tag[flav == 0]) < 0.04


def test_reproducible_and_validated():
    a, b = make_toy_events("tttt", 20, seed=5), make_toy_events("tttt", 20, seed=5)
    assert ak.to_list(a.Jet.pt) == ak.to_list(b.Jet.pt)
    assert ak.to_list(a.Jet.pt) != ak.to_list(make_toy_events("tttt", 20, seed=6).Jet.pt)
    with pytest.raises(GeneratorError, match="unknown toy process"):
        make_toy_events("wjets", 1, seed=1)
