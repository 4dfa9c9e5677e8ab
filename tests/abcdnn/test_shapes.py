"""Shape-only and normalization comparisons: covariances, χ² calibration, pulls."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.abcdnn.shapes import (
    bin_pulls,
    compare_normalization,
    compare_shapes,
    template_shape,
    unit_shape,
)
from analysis.abcdnn.templates import Template

EXPECTED = np.array([400.0, 250.0, 150.0, 100.0, 60.0, 40.0])


def _template(nominal: np.ndarray, stat: np.ndarray, members: np.ndarray,
              norm_unc: float = 0.0) -> Template:
    return Template(region="r", variable="dnn_score", edges=list(range(len(nominal) + 1)),
                    nominal=list(nominal), stat_unc=list(stat), ensemble_up=list(nominal),
                    ensemble_down=list(nominal), members=[list(m) for m in members],
                    normalization={"value": float(nominal.sum()), "uncertainty": norm_unc})


def test_unit_shape_covariance_matches_poisson_replicas() -> None:
    rng = np.random.default_rng(1)
    replicas = rng.poisson(EXPECTED, (20_000, len(EXPECTED))).astype(float)
    shapes = replicas / replicas.sum(axis=1, keepdims=True)
    _, cov = unit_shape(EXPECTED, EXPECTED)
    assert np.allclose(cov, np.cov(shapes, rowvar=False), rtol=0.1, atol=2e-6)


def test_shape_chi2_ignores_normalization_and_is_calibrated() -> None:
    rng = np.random.default_rng(2)
    a = rng.poisson(EXPECTED).astype(float)
    assert compare_shapes(unit_shape(a, a), unit_shape(3 * a, 9 * a)).chi2 == pytest.approx(0)
    chi2 = []
    for _ in range(400):
        a, b = rng.poisson(EXPECTED), rng.poisson(2.5 * EXPECTED)
        chi2.append(compare_shapes(unit_shape(a, a), unit_shape(b, b)).chi2)
    # χ² of two independent samples of one shape: ndf = bins - 1 on average (400 toys: ± 4 %)
    assert np.mean(chi2) == pytest.approx(len(EXPECTED) - 1, rel=0.08)


def test_shape_chi2_sees_a_distortion() -> None:
    tilted = EXPECTED * np.linspace(0.7, 1.3, len(EXPECTED))
    result = compare_shapes(unit_shape(EXPECTED * 10, EXPECTED * 10),
                            unit_shape(tilted * 10, tilted * 10))
    assert result.ndf == len(EXPECTED) - 1
    assert result.p_value < 1e-6


def test_template_shape_adds_the_ensemble_and_nonclosure_covariance() -> None:
    members = np.array([EXPECTED * (1 + 0.05 * k * np.linspace(-1, 1, 6)) for k in (-1, 0, 1)])
    t = _template(EXPECTED, np.zeros(6), members)
    _, cov = template_shape(t)
    shapes = members / members.sum(axis=1, keepdims=True)
    assert np.allclose(cov, np.cov(shapes, rowvar=False))
    t.nonclosure_up = list(EXPECTED * np.linspace(1.1, 0.9, 6))
    _, with_nc = template_shape(t)
    up = np.asarray(t.nonclosure_up)
    delta = up / up.sum() - EXPECTED / EXPECTED.sum()
    assert np.allclose(with_nc - cov, np.outer(delta, delta))
    assert np.allclose(template_shape(t, nonclosure=False)[1], cov)


def test_normalization_pull_by_hand() -> None:
    t = _template(EXPECTED, np.zeros(6), np.array([EXPECTED, EXPECTED]), norm_unc=30.0)
    pull, p = compare_normalization(t, true_yield=1000.0 - 50.0, true_variance=1600.0)
    assert pull == pytest.approx(50.0 / 50.0)  # (1000 - 950) / sqrt(30² + 40²)
    assert p == pytest.approx(0.3173, abs=1e-4)


def test_bin_pulls_have_unit_width_when_the_variance_is_right() -> None:
    rng = np.random.default_rng(3)
    pulls = []
    for _ in range(300):
        truth = rng.poisson(EXPECTED).astype(float)
        pred = rng.normal(EXPECTED, np.sqrt(EXPECTED))
        t = _template(pred, np.sqrt(EXPECTED), np.array([pred, pred]))
        pulls.append(bin_pulls(t, (truth, EXPECTED)))
    pulls = np.concatenate(pulls)
    assert np.std(pulls) == pytest.approx(1.0, rel=0.05)
    assert abs(np.mean(pulls)) < 0.05


def test_truth_closure_plot_has_truth_morphed_raw_and_ratio(tmp_path) -> None:
    from analysis.abcdnn.plots import plot_truth_closure, save

    t = _template(EXPECTED, np.sqrt(EXPECTED), np.array([EXPECTED, EXPECTED * 1.01]), 20.0)
    t.variable, t.edges = "ht", [700, 800, 900, 1000, 1200, 1500, 3000]
    fig = plot_truth_closure(t, (EXPECTED * 1.1, EXPECTED), (EXPECTED[::-1], EXPECTED[::-1]))
    main, ratio = fig.axes
    assert main.get_xscale() == "log"  # log HT
    labels = main.get_legend_handles_labels()[1]
    assert {"true background", "morphed (ABCDnn)"} <= set(labels)
    assert any("simulation" in label for label in labels)
    assert ratio.get_ylabel() == "pred. / truth"
    assert save(fig, tmp_path / "c.png").stat().st_size > 10_000
