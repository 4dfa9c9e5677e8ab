"""Training of one map T(x | c) on the five control cells of a grid with the MMD loss.

Each step draws a minibatch of the morphed simulation and of the target in every control
cell, transforms the simulation with its cell's conditions and sums the cells' weighted
biased MMD² (see :mod:`analysis.abcdnn.mmd`). Sampling is uniform within a cell; the event
weights (simulation weights, +1 / -w of the target) enter the MMD, so a batch is an
unbiased picture of each weighted distribution.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from analysis.abcdnn.flow import MonotoneFlow
from analysis.abcdnn.inputs import GridData
from analysis.abcdnn.mmd import batched_mmd2
from analysis.abcdnn.regions import CONTROL_CELLS, condition_dim, encode_conditions
from analysis.abcdnn.settings import ABCDnnSettings
from common.exceptions import BackgroundEstimateError


@dataclass
class TrainingResult:
    """A trained map and its loss history (one value per step)."""

    flow: MonotoneFlow
    seed: int
    losses: list[float] = field(default_factory=list)
    steps: int = 0


def _cell_indices(cells: np.ndarray, grid_name: str, role: str) -> list[np.ndarray]:
    out = []
    for cell in CONTROL_CELLS:
        idx = np.flatnonzero((cells[:, 0] == cell[0]) & (cells[:, 1] == cell[1]))
        if len(idx) == 0:
            raise BackgroundEstimateError(
                f"grid {grid_name!r}: control cell {cell} has no {role} events; "
                "ABCDnn needs all five control cells populated"
            )
        out.append(idx)
    return out


def n_steps(data: GridData, settings: ABCDnnSettings) -> int:
    """Optimizer steps: ``epochs`` passes over the largest control cell, within
    [min_steps, max_steps] (small samples still need enough steps to converge)."""
    largest = max(len(i) for i in _cell_indices(data.mc.cells, data.grid.name, "simulated"))
    per_epoch = math.ceil(largest / settings.batch_size)
    return int(min(settings.max_steps, max(settings.min_steps, settings.epochs * per_epoch)))


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch intra-op CPU threads (0: leave the setting alone), then restore.

    The per-step tensors are small; with several threads torch spends more time
    synchronizing than computing, badly so on a machine shared with other jobs.
    """
    previous = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_map(
    data: GridData,
    settings: ABCDnnSettings,
    seed: int,
    *,
    bootstrap: bool = False,
) -> TrainingResult:
    """Train one flow on the control cells of ``data``; deterministic for a seed on CPU.

    With ``bootstrap`` every event weight is multiplied by a Poisson(1) draw (data and
    simulation alike), which samples the statistical spread of the inputs. Runs with
    ``settings.threads`` torch CPU threads.
    """
    with torch_threads(settings.threads if settings.device == "cpu" else 0):
        return _train_map(data, settings, seed, bootstrap)


def _train_map(
    data: GridData, settings: ABCDnnSettings, seed: int, bootstrap: bool
) -> TrainingResult:
    device = torch.device(settings.device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    flow = MonotoneFlow(
        2, condition_dim(settings.encoding), hidden=settings.hidden,
        n_components=settings.n_components,
    ).to(device)

    mc_w = data.mc.weight.copy()
    tg_w = data.target.weight.copy()
    if bootstrap:
        mc_w = mc_w * rng.poisson(1.0, len(mc_w))
        tg_w = tg_w * rng.poisson(1.0, len(tg_w))
    mc_idx = _cell_indices(data.mc.cells, data.grid.name, "simulated")
    tg_idx = _cell_indices(data.target.cells, data.grid.name, "data")

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    mc_x, mc_wt, tg_x, tg_wt = tensor(data.mc.x), tensor(mc_w), tensor(data.target.x), tensor(tg_w)
    b = settings.batch_size
    cells = np.repeat(np.array(CONTROL_CELLS), b, axis=0)
    cond = tensor(encode_conditions(cells, settings.encoding))

    steps = n_steps(data, settings)
    optimizer = torch.optim.Adam(flow.parameters(), lr=settings.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=steps, eta_min=settings.learning_rate * settings.lr_decay
    )
    result = TrainingResult(flow=flow, seed=seed, steps=steps)
    for _ in range(steps):
        mc_pick = torch.as_tensor(np.concatenate([rng.choice(i, b) for i in mc_idx]), device=device)
        tg_pick = torch.as_tensor(np.concatenate([rng.choice(i, b) for i in tg_idx]), device=device)
        # One forward pass for all cells; the MMD is then taken cell by cell (batched).
        n_cells = len(CONTROL_CELLS)
        morphed = flow(mc_x[mc_pick], cond).reshape(n_cells, b, -1)
        w_mc = mc_wt[mc_pick].reshape(n_cells, b)
        w_tg = tg_wt[tg_pick].reshape(n_cells, b)
        # A batch whose weights sum to zero (all-zero bootstrap draws) carries no information.
        usable = (w_mc.sum(1) > 0) & (w_tg.sum(1) > 0)
        per_cell = batched_mmd2(morphed[usable], tg_x[tg_pick].reshape(n_cells, b, -1)[usable],
                                settings.kernel_widths, w_mc[usable], w_tg[usable])
        loss = per_cell.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        result.losses.append(float(loss.detach()))
    flow.eval()
    return result


def morph(flow: MonotoneFlow, x: np.ndarray, cells: np.ndarray, encoding: str) -> np.ndarray:
    """Apply a trained flow to standardized inputs ``x`` of events in ``cells`` (numpy)."""
    device = next(flow.parameters()).device
    with torch.no_grad():
        c = torch.as_tensor(encode_conditions(cells, encoding), device=device)
        y = flow(torch.as_tensor(x, dtype=torch.float32, device=device), c)
    return y.cpu().numpy()
