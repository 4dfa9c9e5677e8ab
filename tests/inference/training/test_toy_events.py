"""The stand-in toy event source looks like tt̄ / QCD where the trainings need it to."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from common.exceptions import GeneratorError
from inference.training.toy_events import make_toy_events
from inference.training.truth import LABEL_TOP, hadronic_top_decays, label_fatjets


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


def test_top_fatjets_have_top_mass_qcd_do_not():
    top = make_toy_events("ttbar_boosted", 150, seed=2)
    labels = label_fatjets(top.FatJet, hadronic_top_decays(top.GenPart))
    msd_top = ak.to_numpy(ak.flatten(top.FatJet.msoftdrop[labels == LABEL_TOP]))
    qcd = make_toy_events("qcd", 80, seed=3)
    msd_qcd = ak.to_numpy(ak.flatten(qcd.FatJet.msoftdrop[qcd.FatJet.pt > 300]))
    assert len(msd_top) > 50 and 140 < np.median(msd_top) < 200
    assert np.median(msd_qcd) < 80
    tau32_top = ak.flatten((top.FatJet.tau3 / top.FatJet.tau2)[labels == LABEL_TOP])
    tau32_qcd = ak.flatten((qcd.FatJet.tau3 / qcd.FatJet.tau2)[qcd.FatJet.pt > 300])
    assert np.median(ak.to_numpy(tau32_top)) < np.median(ak.to_numpy(tau32_qcd))


def test_reproducible_and_validated():
    a, b = make_toy_events("tttt", 20, seed=5), make_toy_events("tttt", 20, seed=5)
    assert ak.to_list(a.Jet.pt) == ak.to_list(b.Jet.pt)
    assert ak.to_list(a.Jet.pt) != ak.to_list(make_toy_events("tttt", 20, seed=6).Jet.pt)
    with pytest.raises(GeneratorError, match="unknown toy process"):
        make_toy_events("wjets", 1, seed=1)
