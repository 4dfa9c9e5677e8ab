"""Weighted, signed-weight maximum mean discrepancy with a mixture of Gaussian kernels.

The biased estimator (Gretton et al. 2012; kernel mixture as in Li, Swersky & Zemel,
arXiv:1502.02761) between two weighted samples ``x`` (weights p) and ``y`` (weights q),
each set of weights normalized to unit sum::

    MMD² = Σ_ij p_i p_j k(x_i, x_j) + Σ_ij q_i q_j k(y_i, y_j) - 2 Σ_ij p_i q_j k(x_i, y_j)

with ``k(a, b) = Σ_σ exp(-|a - b|² / (2σ²))``. Weights may be negative: the target of
ABCDnn is "data minus subtracted simulation", given as data events with weight +1 and
simulated events with weight -w, so that the estimator equals the MMD against the
subtracted distribution exactly (it is bilinear in the measures).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from common.exceptions import BackgroundEstimateError


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # |a-b|² via the expansion: differentiable at zero distance, unlike cdist's sqrt.
    d2 = (a * a).sum(-1, keepdim=True) + (b * b).sum(-1)[None, :] - 2.0 * a @ b.T
    return d2.clamp_min(0.0)


def mixture_kernel(a: torch.Tensor, b: torch.Tensor, widths: Sequence[float]) -> torch.Tensor:
    """Kernel matrix ``k(a_i, b_j)`` of a sum of Gaussian kernels with the given widths."""
    d2 = _squared_distances(a, b)
    return sum(torch.exp(-d2 / (2.0 * float(s) ** 2)) for s in widths)


def _normalized(weights: torch.Tensor | None, n: int, like: torch.Tensor) -> torch.Tensor:
    if weights is None:
        return torch.full((n,), 1.0 / n, dtype=like.dtype, device=like.device)
    total = weights.sum()
    if torch.abs(total) <= 0:
        raise BackgroundEstimateError(
            "the weights of an MMD sample sum to zero; cannot normalize (a region whose "
            "subtracted simulation cancels its data: check the region's yields)"
        )
    return weights / total


def mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    widths: Sequence[float],
    x_weights: torch.Tensor | None = None,
    y_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Biased MMD² between weighted samples ``x`` (n, d) and ``y`` (m, d).

    Weights (possibly negative) are normalized to unit sum within each sample; ``None``
    means equal weights. Returns a scalar tensor (differentiable in ``x`` and ``y``).
    """
    p = _normalized(x_weights, len(x), x)
    q = _normalized(y_weights, len(y), y)
    kxx = mixture_kernel(x, x, widths)
    kyy = mixture_kernel(y, y, widths)
    kxy = mixture_kernel(x, y, widths)
    return p @ kxx @ p + q @ kyy @ q - 2.0 * (p @ kxy @ q)


def batched_mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    widths: Sequence[float],
    x_weights: torch.Tensor,
    y_weights: torch.Tensor,
) -> torch.Tensor:
    """MMD² of ``R`` independent pairs of samples at once, shapes (R, n, d) and (R, m, d).

    Same estimator as :func:`mmd2` (weights normalized per sample, may be signed), written
    as ``vᵀ K v`` over the stacked sample with ``v = (p, -q)``, so that one kernel matrix
    per pair is built, and with a hand-written gradient (see :class:`_KernelQuadraticForm`).
    Differentiable in ``x`` and ``y`` (not in the weights). Returns shape (R,).
    """
    p = x_weights / x_weights.sum(dim=1, keepdim=True)
    q = y_weights / y_weights.sum(dim=1, keepdim=True)
    z = torch.cat([x, y], dim=1)
    v = torch.cat([p, -q], dim=1).detach()
    return _KernelQuadraticForm.apply(z, v, tuple(float(s) for s in widths))


#: Kernel exponents are clamped here: exp(-30) ≈ 1e-13 is negligible next to k(x, x) = 1,
#: and very negative arguments (and subnormal results) make exp several times slower.
_MIN_EXPONENT = -30.0


def _mixture_and_slope(d2: torch.Tensor, widths: Sequence[float]) -> tuple[torch.Tensor, ...]:
    """K = Σ_σ exp(-d²/2σ²) and G = -dK/d(d²) = Σ_σ exp(-d²/2σ²)/(2σ²).

    In-place operations keep this memory-bound loop at a few passes per width.
    """
    total = torch.zeros_like(d2)
    slope = torch.zeros_like(d2)
    for width in widths:
        inv = 1.0 / (2.0 * width**2)
        kernel = torch.mul(d2, -inv).clamp_min_(_MIN_EXPONENT).exp_()
        total += kernel
        slope.add_(kernel, alpha=inv)
    return total, slope


class _KernelQuadraticForm(torch.autograd.Function):
    """r = Σ_ij v_i v_j K(|z_i - z_j|²) per batch row, with an analytic gradient in z.

    dr/dz_a = -4 Σ_j v_a v_j G_aj (z_a - z_j): cheaper in time and memory than letting
    autograd record every elementwise kernel operation.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, v: torch.Tensor, widths: tuple[float, ...]):  # noqa: ANN001
        sq = (z * z).sum(-1)
        d2 = (sq[:, :, None] + sq[:, None, :] - 2.0 * z @ z.transpose(1, 2)).clamp_min(0.0)
        kernel, slope = _mixture_and_slope(d2, widths)
        ctx.save_for_backward(z, v, slope)
        return torch.einsum("ri,rij,rj->r", v, kernel, v)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # noqa: ANN001
        z, v, slope = ctx.saved_tensors
        m = slope * v[:, :, None] * v[:, None, :] * grad_out[:, None, None]
        grad_z = -4.0 * (m.sum(-1, keepdim=True) * z - m @ z)
        return grad_z, None, None
