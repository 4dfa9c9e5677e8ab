"""From the per-event feature table to the flow's inputs for one grid.

Transformed variables (ABCDnn, arXiv:2008.03636): z = (logit(DNN score), log(HT/GeV)),
standardized with the mean and spread of the data in the grid's control cells (the
target cell's data is never looked at, so the signal region stays blind) and clipped to
±clip. The target distribution is "data minus subtracted simulation": data rows get
weight +1, subtracted simulation rows weight -w (the signal process -μ w, μ =
``subtracted_signal_strength``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.abcdnn.regions import CONTROL_CELLS, TARGET, assign_cells, cell_letter
from analysis.abcdnn.settings import ABCDnnSettings, GridSpec
from common.exceptions import BackgroundEstimateError

FEATURES: list[str] = ["logit(dnn_score)", "log(ht/GeV)"]
REQUIRED_COLUMNS: list[str] = ["process", "weight", "n_jets", "n_b", "ht", "dnn_score"]


@dataclass(frozen=True)
class Standardizer:
    """Maps (DNN score, HT) to standardized flow inputs and back."""

    mean: np.ndarray
    std: np.ndarray
    clip: float
    score_epsilon: float

    def to_z(self, score: np.ndarray, ht: np.ndarray) -> np.ndarray:
        """Unstandardized variables (logit score, log HT), shape (n, 2)."""
        s = np.clip(np.asarray(score, dtype=np.float64), self.score_epsilon, 1 - self.score_epsilon)
        return np.stack([np.log(s) - np.log1p(-s), np.log(np.asarray(ht, dtype=np.float64))], 1)

    def forward(self, score: np.ndarray, ht: np.ndarray) -> np.ndarray:
        """Standardized, clipped inputs (float32)."""
        x = (self.to_z(score, ht) - self.mean) / self.std
        return np.clip(x, -self.clip, self.clip).astype(np.float32)

    def backward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(DNN score, HT) of standardized values."""
        z = np.asarray(x, dtype=np.float64) * self.std + self.mean
        return 1.0 / (1.0 + np.exp(-z[:, 0])), np.exp(z[:, 1])


@dataclass
class Sample:
    """Events of one role in one grid: standardized x, cells, weights, raw variables."""

    x: np.ndarray
    cells: np.ndarray
    weight: np.ndarray
    score: np.ndarray
    ht: np.ndarray

    def in_cell(self, cell: tuple[int, int]) -> np.ndarray:
        """Boolean mask of the events in ``cell``."""
        return (self.cells[:, 0] == cell[0]) & (self.cells[:, 1] == cell[1])


@dataclass
class GridData:
    """Everything one grid's training and templates need."""

    grid: GridSpec
    standardizer: Standardizer
    mc: Sample
    target: Sample
    #: Boolean mask over ``target``: True for data rows (weight +1).
    target_is_data: np.ndarray
    #: The signal simulation's yield at μ = 1 per control cell (letters), for the signal
    #: that leaks into the background estimate.
    signal_yields: dict[str, float] | None = None
    #: μ at which the signal is subtracted in ``target``'s weights.
    subtracted_signal_strength: float = 0.0


def _check_columns(features: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise BackgroundEstimateError(
            f"feature table lacks columns {missing}; ABCDnn needs {REQUIRED_COLUMNS} "
            "(the processor's per-event feature table)"
        )


def _cell_yields(weight: np.ndarray, cells: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Sum of ``weight`` over ``mask`` in each control cell, by cell letter."""
    return {cell_letter(c): float(weight[mask & (cells[:, 0] == c[0]) & (cells[:, 1] == c[1])]
                                  .sum()) for c in CONTROL_CELLS}


def prepare_grid(features: pd.DataFrame, grid: GridSpec, settings: ABCDnnSettings) -> GridData:
    """Select the grid's events and build standardized inputs and signed target weights."""
    _check_columns(features)
    cells = assign_cells(features["n_jets"].to_numpy(), features["n_b"].to_numpy(), grid)
    in_grid = cells[:, 0] >= 0
    process = features["process"].to_numpy()
    is_mc = (process == settings.morph_process) & in_grid
    is_data = (process == settings.data_process) & in_grid
    is_sub = np.isin(process, settings.subtract_processes) & in_grid
    is_target_cell = (cells[:, 0] == TARGET[0]) & (cells[:, 1] == TARGET[1])
    control_data = is_data & ~is_target_cell
    if not control_data.any() or not is_mc.any():
        raise BackgroundEstimateError(
            f"grid {grid.name!r}: no {'data' if not control_data.any() else 'ttbar'} events "
            f"in its control cells (process names {settings.data_process!r}, "
            f"{settings.morph_process!r}); check the feature table"
        )
    score = features["dnn_score"].to_numpy(np.float64)
    ht = features["ht"].to_numpy(np.float64)
    weight = features["weight"].to_numpy(np.float64)

    probe = Standardizer(np.zeros(2), np.ones(2), np.inf, settings.score_epsilon)
    z_data = probe.to_z(score[control_data], ht[control_data])
    std = z_data.std(axis=0)
    std[std <= 0] = 1.0
    standardizer = Standardizer(z_data.mean(axis=0), std, settings.clip, settings.score_epsilon)

    def sample(mask: np.ndarray, w: np.ndarray) -> Sample:
        return Sample(
            x=standardizer.forward(score[mask], ht[mask]), cells=cells[mask], weight=w,
            score=score[mask], ht=ht[mask],
        )

    target_mask = is_data | is_sub
    strength = np.where(process == settings.signal_process,
                        settings.subtracted_signal_strength, 1.0)
    target_w = np.where(is_data, 1.0, -weight * strength)[target_mask]
    return GridData(
        grid=grid,
        standardizer=standardizer,
        mc=sample(is_mc, weight[is_mc]),
        target=sample(target_mask, target_w),
        target_is_data=is_data[target_mask],
        signal_yields=_cell_yields(weight, cells, (process == settings.signal_process) & in_grid),
        subtracted_signal_strength=(settings.subtracted_signal_strength
                                    if settings.signal_process in settings.subtract_processes
                                    else 0.0),
    )
