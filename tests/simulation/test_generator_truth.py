"""The truth model behind the pseudo-data: documented shifts, composition, lumi JSON."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import GeneratorSettings, TruthModelSettings, certified_lumi_json
from simulation import kinematics as kin
from simulation.processes import Modifiers, generate_partons
from simulation.truth import expected_counts, lumi_sections, modifiers


def test_truth_ttbar_has_more_radiation_and_harder_tops():
    s = GeneratorSettings()
    truth = TruthModelSettings()
    mc = generate_partons(np.random.default_rng(1), "ttbar", 20_000, s)
    data = generate_partons(np.random.default_rng(1), "ttbar", 20_000, s,
                            modifiers("ttbar", truth))
    ratio = data.n_rad.mean() / mc.n_rad.mean()
    assert ratio == pytest.approx(truth.radiation_scale, rel=0.03)

    def top_pt(t):
        pt, *_ = kin.to_ptetaphim(t.px, t.py, t.pz, t.e)
        return np.median(pt[t.valid & (np.abs(t.pdg) == 6)])

    assert top_pt(data) > 1.05 * top_pt(mc)
    assert modifiers("ttW", truth) == Modifiers()  # minor backgrounds are not shifted


def test_composition_has_qcd_and_scales_signal():
    s, truth = GeneratorSettings(), TruthModelSettings()
    mu1 = expected_counts(0.1, s, truth, 1.0, True, seed=3)
    mu3 = expected_counts(0.1, s, truth, 3.0, True, seed=3)
    bkg = expected_counts(0.1, s, truth, 1.0, False, seed=3)
    assert mu1["qcd"] > 0 and "tttt" not in bkg
    assert mu3["tttt"] == pytest.approx(3.0 * mu1["tttt"])
    assert mu3["ttbar"] == pytest.approx(mu1["ttbar"])


def test_golden_json_certifies_the_requested_luminosity():
    truth = TruthModelSettings()
    lumi_fb = 0.2
    run, ls, ok = lumi_sections(lumi_fb, truth)
    assert ok.sum() * truth.lumi_per_lumisection_pb == pytest.approx(lumi_fb * 1000, rel=1e-3)
    assert 1 - ok.mean() == pytest.approx(truth.bad_lumi_fraction, abs=0.005)
    golden = certified_lumi_json(lumi_fb, truth)
    n_cert = sum(hi - lo + 1 for ranges in golden.values() for lo, hi in ranges)
    assert n_cert == ok.sum()
    assert sum(len(r) for r in golden.values()) > 5  # bad sections split the ranges
