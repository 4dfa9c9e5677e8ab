"""The acceptance check on generated samples: morphed prediction vs the true background.

The generator can write ``truth_background``: the pseudo-data world without tt̄tt̄. The
ABCDnn template predicts "data minus (tt̄tt̄ + minor simulation)", i.e. tt̄ + QCD, so the
truth histogram is the truth_background sample minus the same minor simulation, in the
target cell and the fit binning. Pass: χ²/ndf ≤ 1.5 and a χ² at least 3x smaller than
the raw tt̄ simulation's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.abcdnn.regions import TARGET, assign_cells
from analysis.abcdnn.settings import ABCDnnSettings, GridSpec
from analysis.abcdnn.templates import Template, closure_chi2, histogram

#: Acceptance thresholds of the truth test.
MAX_CHI2_NDF = 1.5
MIN_IMPROVEMENT = 3.0


def _in_target(table: pd.DataFrame, grid: GridSpec) -> np.ndarray:
    cells = assign_cells(table["n_jets"].to_numpy(), table["n_b"].to_numpy(), grid)
    return (cells[:, 0] == TARGET[0]) & (cells[:, 1] == TARGET[1])


def truth_histograms(
    table: pd.DataFrame, truth: pd.DataFrame, grid: GridSpec, settings: ABCDnnSettings
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(truth, raw) DNN-score histograms (sumw, sumw2) in the grid's target cell.

    ``truth`` holds the truth_background events (weight 1 each); the subtracted minor
    simulation and the raw morphed-process simulation come from ``table``.
    """
    edges = np.asarray(settings.fit_bins)
    t_mask = _in_target(truth, grid)
    t = histogram(truth["dnn_score"][t_mask], truth["weight"][t_mask], edges)
    target = _in_target(table, grid)
    # Only the minor processes: tt̄tt̄ is not in truth_background to begin with.
    minor = target & table["process"].isin([p for p in settings.subtract_processes
                                             if p != "tttt"]).to_numpy()
    m = histogram(table["dnn_score"][minor], table["weight"][minor], edges)
    raw_mask = target & (table["process"] == settings.morph_process).to_numpy()
    raw = histogram(table["dnn_score"][raw_mask], table["weight"][raw_mask], edges)
    return (t[0] - m[0], t[1] + m[1]), raw


def truth_closure(
    template: Template, table: pd.DataFrame, truth: pd.DataFrame, grid: GridSpec,
    settings: ABCDnnSettings,
) -> dict[str, float | bool]:
    """χ² numbers of ``template`` against the true background, with the pass/fail verdict."""
    truth_hist, raw = truth_histograms(table, truth, grid, settings)
    out: dict[str, float | bool] = dict(closure_chi2(template, truth_hist, raw))
    out["passed"] = bool(out["chi2_ndf"] <= MAX_CHI2_NDF
                         and out["improvement"] >= MIN_IMPROVEMENT)
    return out
