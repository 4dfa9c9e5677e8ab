"""The quantile non-closure: measured in one cell, transferred to a template elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.abcdnn.quantile_nonclosure import (
    QUANTILES,
    QuantileShift,
    measure_shift,
    shifted_shapes_of,
    weighted_quantiles,
)
from common.exceptions import BackgroundEstimateError


def test_weighted_quantiles_of_unit_weights_are_the_sample_quantiles() -> None:
    x = np.random.default_rng(1).normal(size=20001)
    q = weighted_quantiles(x, np.ones_like(x), QUANTILES)
    np.testing.assert_allclose(q, np.quantile(x, QUANTILES), atol=2e-3)


def test_weighted_quantiles_respect_weights_and_refuse_empty_samples() -> None:
    # Mid-point CDF of weights (1, 3): 0.5/4 at 0, 2.5/4 at 1; the median interpolates to 0.75.
    median = weighted_quantiles(np.array([0.0, 1.0]), np.array([1.0, 3.0]), np.array([0.5]))
    assert median == pytest.approx(0.75)
    with pytest.raises(BackgroundEstimateError, match="positive"):
        weighted_quantiles(np.array([0.0, 1.0]), np.array([1.0, -1.0]), np.array([0.5]))


def _members(rng: np.random.Generator, n: int, loc: float, scale: float, k: int = 4
             ) -> tuple[list[np.ndarray], np.ndarray]:
    # Members: the same events, each map adding its own small jitter (training spread).
    base = rng.normal(loc, scale, n)
    return [base + rng.normal(0.0, 0.01, n) for _ in range(k)], np.ones(n)


def test_shift_of_a_too_narrow_morph_is_its_quantile_function_difference() -> None:
    # Truth N(0, 1.3), morph N(0, 1): Δ(q) = 0.3 Φ⁻¹(q), far beyond the error of 20k events.
    rng = np.random.default_rng(2)
    members, w = _members(rng, 20000, 0.0, 1.0)
    truth = rng.normal(0.0, 1.3, 20000)
    shift = measure_shift(truth, np.ones_like(truth), members, w, "dnn_score")
    expected = 0.3 * np.array(weighted_quantiles(rng.normal(size=200000), np.ones(200000),
                                                 QUANTILES))
    np.testing.assert_allclose(shift.raw, expected, atol=0.05)
    np.testing.assert_allclose(shift.kept, expected, atol=0.06)
    assert max(shift.error) < 0.05


def test_shift_error_covers_the_statistics_of_both_samples() -> None:
    # Truth and morph from the same distribution, 800 events each (independent samples),
    # over 60 realizations: Δ/σ has unit width at every quantile (σ from the replicas of
    # both samples; without the simulation's part it would be ~1.4), and the kept part is
    # zero about 68 % of the time and never larger than the raw shift.
    rng = np.random.default_rng(3)
    pulls, zero = [], []
    for seed in range(60):
        members, w = _members(rng, 800, 0.0, 1.0)
        shift = measure_shift(rng.normal(0.0, 1.0, 800), np.ones(800), members, w,
                              "dnn_score", seed=seed)
        raw, kept = np.array(shift.raw), np.array(shift.kept)
        assert np.all(np.abs(kept) <= np.abs(raw))
        pulls.append(raw / np.array(shift.error))
        zero.append(np.mean(kept == 0.0))
    # Neighbouring quantiles are strongly correlated, so 60 realizations are few independent
    # ones: the bounds allow for that (batches of 30 gave widths 0.86-1.16).
    width = np.std(pulls, axis=0)
    assert 0.8 < width.mean() < 1.25
    assert 0.5 < np.mean(zero) < 0.85


def test_transferred_shift_widens_a_template_elsewhere_like_the_truth() -> None:
    # Measured where the morph is N(0, 1) and the truth N(0, 1.3); applied to a template at
    # another place, N(3, 1): the up variation must look like N(3, 1.3), the down one like
    # N(3, 0.7) - a transfer in quantiles, not in bins (the cells do not share bins).
    rng = np.random.default_rng(4)
    members, w = _members(rng, 40000, 0.0, 1.0)
    shift = measure_shift(rng.normal(0.0, 1.3, 40000), np.ones(40000), members, w, "ht")
    target_members, tw = _members(rng, 40000, 3.0, 1.0)
    edges = list(np.exp(np.linspace(-1.0, 7.0, 17)))  # "ht": exp of the flow's variable
    up, down = shifted_shapes_of(target_members, tw, shift, edges)
    log_edges = np.log(edges)

    def shape(loc: float, scale: float) -> np.ndarray:
        h = np.histogram(np.clip(rng.normal(loc, scale, 400000), log_edges[0],
                                 log_edges[-1] - 1e-9), log_edges)[0]
        return h / h.sum()

    assert sum(up) == pytest.approx(1.0) and sum(down) == pytest.approx(1.0)
    np.testing.assert_allclose(up, shape(3.0, 1.3), atol=0.01)
    # Within the measured quantiles (5-95 %) the mirror is 0.7 wide; beyond, δ is constant.
    np.testing.assert_allclose(down[4:12], shape(3.0, 0.7)[4:12], atol=0.015)
    assert np.abs(up - shape(3.0, 1.0)).max() > 0.02  # the variation is not the nominal


def test_zero_shift_leaves_the_shape_alone() -> None:
    rng = np.random.default_rng(5)
    members, w = _members(rng, 5000, 0.0, 1.0)
    zero = QuantileShift("dnn_score", QUANTILES.tolist(), [0.0] * 19, [0.0] * 19, [0.0] * 19)
    up, down = shifted_shapes_of(members, w, zero, list(np.linspace(0, 1, 11)))
    np.testing.assert_allclose(up, down)
    nominal = np.mean([np.histogram(1 / (1 + np.exp(-z)), np.linspace(0, 1, 11))[0] / len(z)
                       for z in members], axis=0)
    np.testing.assert_allclose(up, nominal, atol=1e-12)
