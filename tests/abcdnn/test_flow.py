"""The conditional monotone flow: invertible, monotone, autoregressive."""

from __future__ import annotations

import torch

from analysis.abcdnn.flow import MonotoneFlow


def _random_flow(
    seed: int, dtype: torch.dtype = torch.float64, kick: float = 0.5
) -> MonotoneFlow:
    torch.manual_seed(seed)
    flow = MonotoneFlow(2, 5, hidden=16, n_components=4).to(dtype)
    # Move away from the near-identity start so the test exercises a generic map.
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(kick * torch.randn_like(p))
    return flow


def _conditions(n: int, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    c = torch.zeros(n, 5, dtype=dtype)
    c[torch.arange(n), torch.randint(0, 3, (n,), generator=gen)] = 1
    c[torch.arange(n), 3 + torch.randint(0, 2, (n,), generator=gen)] = 1
    return c


def test_inverse_recovers_inputs_on_standardized_range() -> None:
    gen = torch.Generator().manual_seed(0)
    # float64 with a strongly distorted map; float32 (what training and ONNX use) with a
    # milder one - with steep distortions float32 rounding of y alone exceeds 1e-5 in x.
    for dtype, kick in ((torch.float64, 0.5), (torch.float32, 0.2)):
        flow = _random_flow(1, dtype, kick)
        x = (torch.rand(2000, 2, generator=gen) * 16 - 8).to(dtype)  # the ±8 clip range
        c = _conditions(2000, gen, dtype)
        back = flow.inverse(flow(x, c), c)
        assert torch.max(torch.abs(back - x)) < 1e-5


def test_each_output_increases_with_its_input() -> None:
    flow = _random_flow(2)
    gen = torch.Generator().manual_seed(1)
    c = _conditions(500, gen, torch.float64)
    x = torch.randn(500, 2, generator=gen, dtype=torch.float64) * 3
    for i in range(2):
        step = torch.zeros_like(x)
        step[:, i] = 1e-3
        assert torch.all(flow(x + step, c)[:, i] > flow(x, c)[:, i])


def test_autoregressive_first_output_ignores_second_input() -> None:
    flow = _random_flow(3)
    gen = torch.Generator().manual_seed(2)
    c = _conditions(100, gen, torch.float64)
    x = torch.randn(100, 2, generator=gen, dtype=torch.float64)
    moved = x.clone()
    moved[:, 1] += 1.0
    torch.testing.assert_close(flow(x, c)[:, 0], flow(moved, c)[:, 0])
    assert torch.max(torch.abs(flow(x, c)[:, 1] - flow(moved, c)[:, 1])) > 0.1


def test_starts_close_to_identity() -> None:
    torch.manual_seed(0)
    flow = MonotoneFlow(2, 5)
    x = torch.linspace(-3, 3, 50).reshape(25, 2)
    c = torch.zeros(25, 5)
    # The initial sigmoid mixture moves points by at most Σ u_k = 4 x 0.05.
    assert torch.max(torch.abs(flow(x, c) - x)) <= 0.2 + 1e-6
