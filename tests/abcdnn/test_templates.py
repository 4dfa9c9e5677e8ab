"""Templates: histogramming, the normalization non-closure, the closure χ²."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.abcdnn.templates import (
    Template,
    closure_chi2,
    histogram,
    normalization_nonclosure,
)


def _template(nominal, stat=None, spread=None, norm=None) -> Template:
    nominal = np.asarray(nominal, dtype=float)
    stat = np.zeros_like(nominal) if stat is None else np.asarray(stat, dtype=float)
    spread = np.zeros_like(nominal) if spread is None else np.asarray(spread, dtype=float)
    return Template(region="nj9p_nb3p", variable="dnn_score",
                    edges=list(np.linspace(0, 1, len(nominal) + 1)), nominal=nominal.tolist(),
                    stat_unc=stat.tolist(), ensemble_up=(nominal + spread).tolist(),
                    ensemble_down=(nominal - spread).tolist(), members=[nominal.tolist()],
                    normalization=norm or {})


def test_histogram_keeps_edge_values_and_sums_squares() -> None:
    sumw, sumw2 = histogram(np.array([0.0, 0.5, 1.0, 1.2]), np.array([1.0, 2.0, 3.0, -1.0]),
                            np.array([0.0, 0.5, 1.0]))
    assert sumw.tolist() == [1.0, 2.0 + 3.0 - 1.0]  # 1.0 and above land in the last bin
    assert sumw2.tolist() == [1.0, 4.0 + 9.0 + 1.0]


def test_closure_chi2_by_hand() -> None:
    t = _template([100.0, 50.0], stat=[3.0, 4.0], spread=[4.0, 0.0])
    truth = (np.array([110.0, 45.0]), np.array([75.0, 9.0]))
    raw = (np.array([150.0, 10.0]), np.array([25.0, 16.0]))
    out = closure_chi2(t, truth, raw)
    # (100-110)²/(9+16+75) + (50-45)²/(16+0+9) = 1 + 1
    assert out["chi2"] == pytest.approx(2.0)
    assert out["ndf"] == 2
    # (150-110)²/(25+75) + (10-45)²/(16+9) = 16 + 49
    assert out["chi2_raw"] == pytest.approx(65.0)
    assert out["improvement"] == pytest.approx(32.5)


def test_closure_chi2_includes_correlated_normalization() -> None:
    # A prediction 10 % high everywhere is consistent with a 10 % normalization uncertainty.
    truth = (np.array([100.0, 200.0, 300.0]), np.array([1.0, 1.0, 1.0]))
    high = _template([110.0, 220.0, 330.0], norm={"value": 660.0, "uncertainty": 66.0})
    assert closure_chi2(high, truth)["chi2"] < 1.5
    assert closure_chi2(high, truth, include_normalization=False)["chi2"] > 100


def test_template_json_round_trip(tmp_path) -> None:
    t = _template([1.0, 2.0])
    t.nonclosure_up, t.nonclosure_down = [1.1, 1.9], [0.9, 2.1]
    assert Template.from_json(t.to_json(tmp_path / "t.json")) == t


def test_normalization_nonclosure_keeps_only_the_part_beyond_statistics_by_hand() -> None:
    # Predicted 1200 ± 60, observed 1000 (Poisson, sumw2 = 1000): r = 1.2,
    # σ_r²/r² = 0.05² + 0.001 = 0.0035, so sqrt(0.2² - 1.44 · 0.0035) = sqrt(0.03496).
    validation = _template([600.0, 600.0], norm={"value": 1200.0, "uncertainty": 60.0})
    observed = np.array([400.0, 600.0])
    assert normalization_nonclosure(validation, observed, observed) == pytest.approx(
        np.sqrt(0.04 - 1.44 * 0.0035))
    # A 2 % difference well inside a 5 % statistical error is not a non-closure.
    close = _template([510.0, 510.0], norm={"value": 1020.0, "uncertainty": 51.0})
    assert normalization_nonclosure(close, observed, observed) == 0.0


def test_normalization_nonclosure_estimates_a_true_bias() -> None:
    # Poisson replicas of an observed yield 10 % below an exact prediction: the sized
    # non-closure averages about the true 10 %; with no bias it stays well below σ.
    rng = np.random.default_rng(3)
    validation = _template([1100.0, 1100.0], norm={"value": 2200.0, "uncertainty": 0.0})
    for true_yield, expected in ((2000.0, 0.1), (2200.0, 0.0)):
        sized = [normalization_nonclosure(validation, o := rng.poisson([true_yield]) * 1.0, o)
                 for _ in range(400)]
        if expected:
            assert np.sqrt(np.mean(np.square(sized))) == pytest.approx(expected, rel=0.15)
        else:
            assert np.mean(sized) < 0.5 / np.sqrt(true_yield)


def test_normalization_nonclosure_refuses_an_empty_validation_cell() -> None:
    from common.exceptions import BackgroundEstimateError

    validation = _template([1.0], norm={"value": 1.0, "uncertainty": 0.1})
    with pytest.raises(BackgroundEstimateError, match="validation target cell"):
        normalization_nonclosure(validation, np.array([-2.0]), np.array([4.0]))


def test_normalization_nonclosure_widens_the_yield_uncertainty() -> None:
    # 5 % statistics ⊕ 12 % non-closure = 13 %; in the χ² a 13 % high prediction is then
    # one standard deviation, not 2.6.
    t = _template([565.0, 565.0], norm={"value": 1130.0, "uncertainty": 56.5})
    assert t.normalization_rel_uncertainty() == pytest.approx(0.05)
    t.normalization_nonclosure = 0.12
    assert t.normalization_rel_uncertainty() == pytest.approx(0.13)
    # (the truth's tiny variance keeps the bins in; the residual is along p: χ² = (0.115/0.13)²)
    truth = (np.array([500.0, 500.0]), np.array([1e-3, 1e-3]))
    assert closure_chi2(t, truth)["chi2"] == pytest.approx((130 / 1130 / 0.13) ** 2, rel=1e-3)
