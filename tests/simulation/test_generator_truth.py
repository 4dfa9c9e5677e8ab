"""The truth model behind the pseudo-data: documented shifts, composition, lumi JSON."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import GeneratorSettings, TruthModelSettings, certified_lumi_json
from simulation import kinematics as kin
from simulation.processes import Modifiers, generate_partons
from simulation.truth import expected_counts, lumi_sections, modifiers


def _top_pt(t) -> np.ndarray:
    pt, *_ = kin.to_ptetaphim(t.px, t.py, t.pz, t.e)
    return pt[t.valid & (t.pdg == 6)]


def test_truth_ttbar_has_more_radiation_and_the_measured_softer_top_pt():
    s = GeneratorSettings()
    truth = TruthModelSettings()
    mc = generate_partons(np.random.default_rng(1), "ttbar", 40_000, s)
    data = generate_partons(np.random.default_rng(2), "ttbar", 40_000, s,
                            modifiers("ttbar", truth, s))
    ratio = data.n_rad.mean() / mc.n_rad.mean()
    assert ratio == pytest.approx(truth.radiation_scale, rel=0.03)
    # Without radiation (whose recoil smears the top pT), data/MC of the top-pT spectrum
    # falls like exp(-b pT) with the measured b = 5e-4/GeV (CMS TOP-16-008).
    tt = s.processes["ttbar"].model_copy(update={"radiation_mean": 0.0,
                                                 "extra_bb_fraction": 0.0})
    s = s.model_copy(update={"processes": {**s.processes, "ttbar": tt}})
    mc = generate_partons(np.random.default_rng(1), "ttbar", 40_000, s)
    data = generate_partons(np.random.default_rng(2), "ttbar", 40_000, s,
                            modifiers("ttbar", truth, s))
    edges = np.linspace(0.0, 400.0, 11)
    h_mc = np.histogram(_top_pt(mc), edges)[0]
    h_data = np.histogram(_top_pt(data), edges)[0]
    centers = 0.5 * (edges[1:] + edges[:-1])
    log_ratio = np.log(h_data / h_mc)
    weights = 1.0 / (1.0 / h_data + 1.0 / h_mc)
    slope = np.polyfit(centers, log_ratio, 1, w=np.sqrt(weights))[0]
    assert -slope == pytest.approx(truth.top_pt_slope_per_gev, rel=0.2)
    assert modifiers("ttW", truth) == Modifiers()  # minor backgrounds are not shifted


def test_truth_qcd_is_softer_and_richer_in_heavy_flavour_than_its_default():
    s = GeneratorSettings()
    truth = TruthModelSettings(qcd_pt_power_shift=1.0, qcd_heavy_flavour_scale=2.0)
    mod = modifiers("qcd", truth, s)
    assert mod.qcd_pt_power_shift == 1.0 and mod.qcd_heavy_flavour_scale == 2.0
    base = generate_partons(np.random.default_rng(3), "qcd", 20_000, s)
    shifted = generate_partons(np.random.default_rng(3), "qcd", 20_000, s, mod)

    def b_share(t) -> float:
        return float((np.abs(t.pdg[t.valid & t.jet]) == 5).mean())

    def lead_pt(t) -> float:
        pt, *_ = kin.to_ptetaphim(t.px, t.py, t.pz, t.e)
        return float(np.median(np.where(t.valid & t.jet, pt, 0.0).max(axis=1)))

    # twice the g -> bb/cc splittings; b quarks of the hard process stay, so less than 2x
    assert b_share(shifted) > 1.4 * b_share(base)
    assert lead_pt(shifted) < 0.98 * lead_pt(base)  # a falling spectrum one power steeper


def test_composition_has_qcd_and_scales_signal():
    s, truth = GeneratorSettings(), TruthModelSettings()
    mu1 = expected_counts(0.1, s, truth, 1.0, True, seed=3)
    mu3 = expected_counts(0.1, s, truth, 3.0, True, seed=3)
    bkg = expected_counts(0.1, s, truth, 1.0, False, seed=3)
    assert mu1["qcd"] > 0 and "tttt" not in bkg
    assert mu3["tttt"] == pytest.approx(3.0 * mu1["tttt"])
    assert mu3["ttbar"] == pytest.approx(mu1["ttbar"])
    doubled = expected_counts(
        0.1, s, truth.model_copy(update={"qcd_xsec_scale": 2.0 * truth.qcd_xsec_scale}),
        1.0, True, seed=3)
    assert doubled["qcd"] == pytest.approx(2.0 * mu1["qcd"])


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
