"""AK8 jets and PF constituents: prong structure, soft-drop mass, links."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory, PFNanoAODSchema


class _QuietSchema(PFNanoAODSchema):
    """PFNano schema without warnings for collections the generator does not write."""

    warn_missing_crossrefs = False


@pytest.fixture(scope="module")
def fat(tttt_files):
    ev = NanoEventsFactory.from_root({str(tttt_files[0]): "Events"},
                                     schemaclass=_QuietSchema, mode="eager").events()
    gp = ev.GenPart
    quarks = gp[(abs(gp.pdgId) <= 5) & gp.hasFlags(["isHardProcess"])]
    fj = ev.FatJet
    pairs = ak.cartesian({"fj": fj, "q": quarks}, nested=True)
    close = pairs.fj.delta_r(pairs.q) < 0.8
    nq = ak.flatten(ak.sum(close, axis=-1))
    nb = ak.flatten(ak.sum(close & (abs(pairs.q.pdgId) == 5), axis=-1))
    flat = ak.flatten(fj)

    def matched(pdg: int, pt_min: float):
        # a boosted top/W (decay products within ~2m/pT < 0.8) close to the jet axis
        mother = gp[(abs(gp.pdgId) == pdg) & (gp.pt > pt_min)]
        pm = ak.cartesian({"fj": fj, "m": mother}, nested=True)
        return ak.to_numpy(ak.flatten(ak.any(pm.fj.delta_r(pm.m) < 0.4, axis=-1)))

    return ev, flat, ak.to_numpy(nq), ak.to_numpy(nb), matched(6, 450.0), matched(24, 300.0)


# note: fj.tau2 is the vector-library proper time squared (= mass^2); read fj["tau2"]
def _np(x):
    return ak.to_numpy(x).astype(float)


def test_top_jets_are_three_prong_with_top_mass(fat):
    _, fj, nq, nb, top_match, _ = fat
    top = (nq >= 3) & (nb >= 1) & top_match
    one = nq <= 1
    assert top.sum() > 30 and one.sum() > 100
    msd = _np(fj.msoftdrop)
    assert 145.0 < np.median(msd[top]) < 195.0
    tau32 = _np(fj["tau3"]) / np.maximum(_np(fj["tau2"]), 1e-6)
    assert np.median(tau32[top]) < np.median(tau32[one]) - 0.05
    assert np.median(msd[one]) < 60.0


def test_w_jets_are_two_prong_with_w_mass(fat):
    _, fj, nq, nb, _, w_match = fat
    w = (nq == 2) & (nb == 0) & w_match
    one = nq <= 1
    assert w.sum() > 50
    msd = _np(fj.msoftdrop)
    assert 65.0 < np.median(msd[w]) < 95.0
    tau21 = _np(fj["tau2"]) / np.maximum(_np(fj["tau1"]), 1e-6)
    assert np.median(tau21[w]) < np.median(tau21[one]) - 0.05


def test_fatjet_kinematics_and_constituent_links(fat, tttt_files):
    ev, fj = fat[:2]
    # the acceptance cut is on the particle-level jet, so reco eta may stray a little
    assert ak.all(fj.pt > 150.0) and ak.all(abs(fj.eta) < 2.6)
    pf = ev.FatJet.constituents.pf
    n = ak.num(pf, axis=2)
    assert ak.all(n == ev.FatJet.nConstituents)
    assert ak.all(n <= 100)
    # constituents add up to the jet within the jet energy resolution
    ratio = _np(ak.flatten(ak.sum(pf.pt, axis=2))) / _np(fj.pt)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    fj3 = ak.broadcast_arrays(ev.FatJet[:, :, None], pf)[0]
    dr = ak.to_numpy(ak.flatten(pf.delta_r(fj3), axis=None))
    # axis recombination can leave a few constituents a little beyond R = 0.8
    assert np.quantile(dr, 0.99) < 1.0
    t = uproot.open(tttt_files[0])["Events"]
    idx = t["FatJetPFCands_pFCandsIdx"].array()
    assert ak.all((idx >= 0) & (idx < t["nPFCands"].array()))
