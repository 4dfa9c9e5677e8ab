"""An ensemble of ABCDnn maps for one grid (seeds and optional Poisson bootstrap).

The spread of the members' predictions is the training uncertainty of the template.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from analysis.abcdnn.flow import MonotoneFlow
from analysis.abcdnn.inputs import GridData
from analysis.abcdnn.normalization import ABCDEstimate, extended_abcd, signed_yield
from analysis.abcdnn.regions import CONTROL_CELLS, cell_letter
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.training import TrainingResult, morph, train_map

#: Seeds of members are spread out so that neighbouring members share no random stream.
_SEED_STRIDE = 7919


@dataclass
class GridEnsemble:
    """Trained members for one grid plus the grid's inputs and extended-ABCD estimate."""

    data: GridData
    settings: ABCDnnSettings
    members: list[TrainingResult]
    abcd: ABCDEstimate

    @property
    def flows(self) -> list[MonotoneFlow]:
        """The members' flows."""
        return [m.flow for m in self.members]

    def morph_cell(self, cell: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(DNN score, HT) of the simulated events of ``cell`` after each member's map."""
        mask = self.data.mc.in_cell(cell)
        return self._morph(self.data.mc.x[mask], self.data.mc.cells[mask])

    def morph_events(self, score: np.ndarray, ht: np.ndarray, cell: tuple[int, int]
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(DNN score, HT) of any events after each member's map with the conditions of
        ``cell``, in this grid's standardization (e.g. another grid's simulation)."""
        cells = np.tile(np.asarray(cell, dtype=np.int64), (len(score), 1))
        return self._morph(self.data.standardizer.forward(score, ht), cells)

    def _morph(self, x: np.ndarray, cells: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [self.data.standardizer.backward(morph(flow, x, cells, self.settings.encoding))
                for flow in self.flows]


def abcd_estimate(data: GridData, extrapolation: str = "loglinear",
                  with_alternative: bool = False) -> ABCDEstimate:
    """Extended-ABCD prediction of the target cell from the data-minus-simulation yields,
    the high/low N b ratio extrapolated ``extrapolation`` ("loglinear" or "linear"); with
    ``with_alternative`` the other form's difference is an uncertainty of it."""
    yields = {}
    for cell in CONTROL_CELLS:
        mask = data.target.in_cell(cell)
        yields[cell_letter(cell)] = signed_yield(data.target.weight[mask])
    return extended_abcd(yields, extrapolation, with_alternative, data.signal_yields,
                         data.subtracted_signal_strength)


def train_ensemble(
    data: GridData, settings: ABCDnnSettings, *, seed_offset: int = 0
) -> GridEnsemble:
    """Train ``settings.ensemble_size`` maps with seeds ``seed + seed_offset + k*stride``."""
    return train_ensembles({data.grid.name: (data, seed_offset)}, settings)[data.grid.name]


def train_ensembles(
    grids: dict[str, tuple[GridData, int]], settings: ABCDnnSettings
) -> dict[str, GridEnsemble]:
    """Train the ensembles of several grids ({name: (data, seed offset)}).

    The members are independent trainings, so with ``settings.processes`` > 1 they run in
    that many spawned processes (spawn, not fork: torch's threads do not survive a fork).
    Each member seeds its own random streams, so the maps are the same as in one process.
    """
    jobs = [(name, data, settings.seed + offset + k * _SEED_STRIDE)
            for name, (data, offset) in grids.items() for k in range(settings.ensemble_size)]
    if settings.processes > 1 and len(jobs) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(settings.processes, len(jobs)), mp_context=context) as pool:
            futures = [pool.submit(train_map, data, settings, seed, bootstrap=settings.bootstrap)
                       for _, data, seed in jobs]
            results = [f.result() for f in futures]
    else:
        results = [train_map(data, settings, seed, bootstrap=settings.bootstrap)
                   for _, data, seed in jobs]
    out = {}
    for name, (data, _) in grids.items():
        members = [r for (job, _, _), r in zip(jobs, results, strict=True) if job == name]
        out[name] = GridEnsemble(data=data, settings=settings, members=members,
                                 abcd=abcd_estimate(
                                     data, settings.abcd_extrapolation,
                                     settings.abcd_extrapolation_uncertainty))
    return out
