"""Conditional monotone autoregressive flow T(x | c) for ABCDnn.

Each output dimension i is a strictly increasing function of x_i whose parameters are
given by a conditioner network of (x_1 .. x_{i-1}, c) - the autoregressive structure of
neural autoregressive flows (Huang et al., arXiv:1804.00779). The monotone transform is a
positive mixture of sigmoids (tanh) on top of a positive affine term::

    y_i = exp(s) * x_i + t + Σ_k u_k tanh(a_k x_i + b_k),   u_k > 0, a_k > 0

like the deep sigmoidal flow of Huang et al. but with the affine term, which makes the map
a bijection of the whole real line (dy/dx ≥ exp(s) > 0, |y - affine| ≤ Σ u_k) and lets it
start as the identity. The inverse is found by bisection inside that analytic bracket.

The conditioner's last layer starts at zero and a linear skip connection maps (x_<i, c)
directly to the parameters: with the factorized one-hot encoding, effects that are
additive in N jets and N b then extrapolate to the held-out cell.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

_INITIAL_MIXTURE_AMPLITUDE = 0.05  # u_k at start: small, so T starts close to the identity


class _Conditioner(nn.Module):
    """MLP + linear skip from (x_<i, c) to the parameters of one monotone transform."""

    def __init__(self, n_in: int, n_out: int, hidden: int) -> None:
        super().__init__()
        self.n_out = n_out
        # Without inputs (first dimension, no conditions) the parameters are constants.
        self.empty = n_in == 0
        if self.empty:
            return
        self.mlp = nn.Sequential(
            nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, n_out),
        )
        self.skip = nn.Linear(n_in, n_out, bias=False)
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        nn.init.zeros_(self.skip.weight)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.empty:
            return h.new_zeros(h.shape[0], self.n_out)
        return self.mlp(h) + self.skip(h)


class MonotoneFlow(nn.Module):
    """Conditional autoregressive monotone map of ``n_features`` variables given ``n_cond``.

    ``forward(x, c)`` returns T(x | c); ``inverse(y, c)`` solves T(x | c) = y.
    """

    def __init__(
        self, n_features: int, n_cond: int, *, hidden: int = 32, n_components: int = 4
    ) -> None:
        super().__init__()
        self.n_features = n_features
        self.n_cond = n_cond
        self.n_components = n_components
        n_params = 2 + 3 * n_components
        self.conditioners = nn.ModuleList(
            _Conditioner(i + n_cond, n_params, hidden) for i in range(n_features)
        )
        # Start near the identity: s = t = 0, small positive mixture amplitudes, sigmoids
        # spread over the standardized range.
        centre = torch.linspace(-2.0, 2.0, n_components)
        base = torch.cat([
            torch.zeros(2),
            torch.full((n_components,), math.log(math.expm1(_INITIAL_MIXTURE_AMPLITUDE))),
            torch.full((n_components,), math.log(math.expm1(1.0))),
            -centre,
        ])
        self.base = nn.Parameter(base.repeat(n_features, 1))

    def _params(self, i: int, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = torch.cat([x[:, :i], c], dim=1)
        p = self.conditioners[i](h) + self.base[i]
        k = self.n_components
        log_scale, shift = p[:, 0:1], p[:, 1:2]
        amp = F.softplus(p[:, 2 : 2 + k])
        slope = F.softplus(p[:, 2 + k : 2 + 2 * k])
        offset = p[:, 2 + 2 * k : 2 + 3 * k]
        return log_scale, shift, amp, slope, offset

    @staticmethod
    def _transform(v: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        log_scale, shift, amp, slope, offset = params
        mixture = (amp * torch.tanh(slope * v + offset)).sum(dim=1, keepdim=True)
        return torch.exp(log_scale) * v + shift + mixture

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """T(x | c) for ``x`` (n, n_features) and conditions ``c`` (n, n_cond)."""
        outputs = []
        for i in range(self.n_features):
            params = self._params(i, x, c)
            outputs.append(self._transform(x[:, i : i + 1], params))
        return torch.cat(outputs, dim=1)

    @torch.no_grad()
    def inverse(self, y: torch.Tensor, c: torch.Tensor, *, iterations: int = 80) -> torch.Tensor:
        """Solve T(x | c) = y by bisection (each dimension in autoregressive order)."""
        x = torch.zeros_like(y)
        for i in range(self.n_features):
            params = self._params(i, x, c)
            log_scale, shift, amp = params[0], params[1], params[2]
            bound = amp.sum(dim=1, keepdim=True)
            target = y[:, i : i + 1]
            lo = (target - shift - bound) * torch.exp(-log_scale)
            hi = (target - shift + bound) * torch.exp(-log_scale)
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                above = self._transform(mid, params) > target
                hi = torch.where(above, mid, hi)
                lo = torch.where(above, lo, mid)
            x[:, i : i + 1] = 0.5 * (lo + hi)
        return x
