"""The MMD estimator: against a direct double loop, batched form, signed weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis.abcdnn.mmd import batched_mmd2, mmd2
from common.exceptions import BackgroundEstimateError

WIDTHS = [0.1, 0.3, 1.0]


def _loop_mmd2(x, wx, y, wy, widths) -> float:
    """Textbook biased MMD² with normalized weights, written as plain Python loops."""
    def k(a, b):
        d2 = sum((ai - bi) ** 2 for ai, bi in zip(a, b, strict=True))
        return sum(math.exp(-d2 / (2 * s * s)) for s in widths)

    wx = [w / sum(wx) for w in wx]
    wy = [w / sum(wy) for w in wy]
    xx = sum(wx[i] * wx[j] * k(x[i], x[j]) for i in range(len(x)) for j in range(len(x)))
    yy = sum(wy[i] * wy[j] * k(y[i], y[j]) for i in range(len(y)) for j in range(len(y)))
    xy = sum(wx[i] * wy[j] * k(x[i], y[j]) for i in range(len(x)) for j in range(len(y)))
    return xx + yy - 2 * xy


def test_mmd_matches_double_loop() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(17, 2)), rng.normal(0.5, 1.2, size=(23, 2))
    wx, wy = rng.uniform(0.5, 2, 17), rng.uniform(-0.3, 2, 23)
    expected = _loop_mmd2(x.tolist(), wx.tolist(), y.tolist(), wy.tolist(), WIDTHS)
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in dict(x=x, y=y, wx=wx, wy=wy).items()}
    got = mmd2(t["x"], t["y"], WIDTHS, t["wx"], t["wy"])
    assert float(got) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    batched = batched_mmd2(t["x"][None], t["y"][None], WIDTHS, t["wx"][None], t["wy"][None])
    assert float(batched[0]) == pytest.approx(expected, rel=1e-8, abs=1e-10)


def test_mmd_is_zero_for_identical_samples_and_positive_otherwise() -> None:
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(mmd2(x, x.clone(), WIDTHS)) == pytest.approx(0.0, abs=1e-12)
    assert float(mmd2(x, x + 0.5, WIDTHS)) > 0.05


def test_batched_gradient_matches_autograd_of_reference() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(4, 20, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 25, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    wx = torch.rand(4, 20, generator=gen, dtype=torch.float64) + 0.1
    wy = torch.rand(4, 25, generator=gen, dtype=torch.float64) - 0.2
    fast = batched_mmd2(x, y, WIDTHS, wx, wy)
    slow = torch.stack([mmd2(x[i], y[i], WIDTHS, wx[i], wy[i]) for i in range(4)])
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-12)
    g_fast = torch.autograd.grad(fast.sum(), [x, y])
    g_slow = torch.autograd.grad(slow.sum(), [x, y])
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_signed_weights_equal_explicitly_subtracted_distribution() -> None:
    """Target = mixture (A + B) minus B given as separately weighted 'simulation' rows."""
    rng = np.random.default_rng(7)
    comp_a = rng.normal(0.0, 1.0, size=(40, 2))
    comp_b = rng.normal(2.0, 0.5, size=(15, 2))
    # "Data" holds both components with weight +1. The subtracted "simulation" describes
    # B exactly, but split over two rows per point with weights 0.3 and 0.7 (-w each).
    data = np.concatenate([comp_a, comp_b])
    sim = np.concatenate([comp_b, comp_b])
    sim_w = np.concatenate([np.full(15, 0.3), np.full(15, 0.7)])
    target = torch.tensor(np.concatenate([data, sim]))
    signed = torch.tensor(np.concatenate([np.ones(len(data)), -sim_w]))
    x = torch.tensor(rng.normal(0.2, 1.1, size=(35, 2)))
    wx = torch.tensor(rng.uniform(0.5, 1.5, 35))
    with_signed = mmd2(x, target, WIDTHS, wx, signed)
    explicit = mmd2(x, torch.tensor(comp_a), WIDTHS, wx, None)
    assert float(with_signed) == pytest.approx(float(explicit), rel=1e-10)
    # Without the subtraction the answer is different (the test can fail).
    unsubtracted = mmd2(x, torch.tensor(data), WIDTHS, wx, None)
    assert abs(float(unsubtracted) - float(explicit)) > 0.01


def test_zero_weight_sum_is_an_error() -> None:
    x = torch.zeros(3, 2)
    with pytest.raises(BackgroundEstimateError, match="sum to zero"):
        mmd2(x, x, WIDTHS, torch.tensor([1.0, -1.0, 0.0]), None)
