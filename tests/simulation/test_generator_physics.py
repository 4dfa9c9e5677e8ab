"""Physics of generated tt: mass peaks, jet activity and b tagging versus the real file."""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from simulation.validation import btag_efficiency, good_jets, peak, summarize, trijet_candidates

M_TOP, M_W = 172.5, 80.38


class _QuietSchema(NanoAODSchema):
    """NanoAODSchema without warnings for cross-references to collections not written."""

    warn_missing_crossrefs = False


def _events(path):
    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=_QuietSchema,
                                       mode="eager").events()


def test_trijet_and_dijet_peaks(inclusive_ttbar):
    s = summarize(_events(inclusive_ttbar))
    assert abs(s.trijet_peak - M_TOP) <= 10.0
    assert abs(s.dijet_peak - M_W) <= 5.0


def test_jet_activity_like_real_tt(inclusive_ttbar):
    # real nano_tt_v12.root (200 events): <N jets> 5.06, <HT> 423 GeV; its statistical
    # precision is ~0.1 jets and ~15 GeV, so allow 0.3 jets and 40 GeV.
    jets = good_jets(_events(inclusive_ttbar))
    assert float(ak.mean(ak.num(jets))) == pytest.approx(5.06, abs=0.3)
    assert float(ak.mean(ak.sum(jets.pt, axis=1))) == pytest.approx(423.0, abs=40.0)


def test_btag_efficiency_by_flavour(inclusive_ttbar):
    eff = btag_efficiency(_events(inclusive_ttbar))
    assert 0.75 <= eff["b"] <= 0.85
    assert 0.15 <= eff["c"] <= 0.25
    assert 0.01 <= eff["light"] <= 0.02


def test_truth_tops_decay_consistently(inclusive_ttbar):
    gp = _events(inclusive_ttbar).GenPart
    assert ak.all(ak.sum(abs(gp.pdgId) == 6, axis=1) == 2)
    # the b and the W whose mother is the top (pdgId +6) rebuild that top's mass exactly
    top_idx = ak.argmax(gp.pdgId == 6, axis=1, keepdims=True)
    from_top = gp.genPartIdxMother == top_idx
    b = ak.firsts(gp[from_top & (gp.pdgId == 5)])
    w = ak.firsts(gp[from_top & (gp.pdgId == 24)])
    top = ak.firsts(gp[top_idx])
    def num(x):
        return ak.to_numpy(ak.fill_none(x, np.nan))

    np.testing.assert_allclose(num((b + w).mass), num(top.mass), rtol=2e-3)
    assert np.median(num(top.mass)) == pytest.approx(M_TOP, abs=0.3)
    wq = num(w.mass)
    assert np.median(wq) == pytest.approx(M_W, abs=0.3)


def test_w_decays_follow_branching_ratios(inclusive_ttbar):
    gp = _events(inclusive_ttbar).GenPart
    mother = gp.genPartIdxMother
    from_w = abs(gp.pdgId[ak.where(mother >= 0, mother, 0)]) == 24
    dau = gp[from_w & (mother >= 0)]
    lep = ak.to_numpy(ak.sum(np.isin(abs(dau.pdgId), [11, 13, 15]), axis=1))
    # BR(W -> l nu), l = e, mu, tau: 0.327 per W; two W per event
    assert lep.sum() / (2 * len(lep)) == pytest.approx(0.327, abs=0.015)


def test_peaks_reported_on_real_file(nanoaod_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the real file lacks some cross-reference targets
        ev = _events(nanoaod_dir / "nano_tt_v12.root")
    mt, mw = trijet_candidates(ev)
    assert 150 <= peak(mt, 100, 260, 10.0) <= 190
    assert 70 <= peak(mw, 40, 130, 10.0) <= 95


def test_lepton_veto_sees_prompt_leptons_only(inclusive_ttbar):
    ev = _events(inclusive_ttbar)
    gp = ev.GenPart
    mother = gp.genPartIdxMother
    from_w = (mother >= 0) & (abs(gp.pdgId[ak.where(mother >= 0, mother, 0)]) == 24)
    apdg = abs(gp.pdgId)
    lep_w = gp[from_w & ((apdg == 11) | (apdg == 13) | (apdg == 15))]
    true_mu = gp[from_w & (abs(gp.pdgId) == 13) & (gp.pt > 20) & (abs(gp.eta) < 2.3)]
    mu = ev.Muon
    tight_mu = ak.sum(mu.tightId & (mu.pfRelIso04_all < 0.15) & (mu.pt > 15), axis=1) > 0
    el = ev.Electron
    tight_el = ak.sum((el.cutBased >= 4) & (el.pfRelIso03_all < 0.15) & (el.pt > 15), axis=1) > 0
    one_mu = ak.to_numpy(ak.num(true_mu) == 1)
    eff = ak.to_numpy(tight_mu)[one_mu].mean()
    assert eff == pytest.approx(0.95 * 0.99, abs=0.03)  # ID x reconstruction efficiency
    hadronic = ak.to_numpy(ak.num(lep_w) == 0)
    # non-prompt leptons from b decays are soft and not isolated: few hadronic events vetoed
    assert ak.to_numpy(tight_mu | tight_el)[hadronic].mean() < 0.03
