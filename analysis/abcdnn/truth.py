"""The acceptance check on generated samples: morphed prediction vs the true background.

The generator can write ``truth_background``: the pseudo-data world without tt̄tt̄. The
ABCDnn template predicts "data minus (tt̄tt̄ + minor simulation)", i.e. tt̄ + QCD, so the
truth histogram is the truth_background sample minus the same minor simulation, in the
target cell. For each variable (DNN score over the fit binning, HT over the HT binning,
i.e. log HT in log-spaced bins) :func:`truth_closure` measures, apart:

* the shape (unit area, :mod:`analysis.abcdnn.shapes`) of the morphed template vs the
  truth, with the template's full uncertainty (statistics, ensemble, non-closure) and
  the truth sample's, and of the raw tt̄ simulation vs the truth (statistics of both);
* the normalization: extended-ABCD yield vs the true yield in units of their uncertainty
  (the template's includes the normalization non-closure measured in the validation
  cell; the validation template itself has none).

Pass (:data:`MIN_P_VALUE`, :data:`MIN_IMPROVEMENT`): shape and normalization p ≥ 0.01 and
a shape χ² at least 3x smaller than the raw simulation's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.abcdnn.regions import TARGET, assign_cells
from analysis.abcdnn.settings import ABCDnnSettings, GridSpec
from analysis.abcdnn.shapes import (
    compare_normalization,
    compare_shapes,
    template_shape,
    unit_shape,
)
from analysis.abcdnn.templates import Template, histogram

#: Acceptance thresholds of the full truth test.
MIN_P_VALUE = 0.01
MIN_IMPROVEMENT = 3.0


def _in_cell(table: pd.DataFrame, grid: GridSpec, cell: tuple[int, int] = TARGET
             ) -> np.ndarray:
    cells = assign_cells(table["n_jets"].to_numpy(), table["n_b"].to_numpy(), grid)
    return (cells[:, 0] == cell[0]) & (cells[:, 1] == cell[1])


def variable_edges(variable: str, settings: ABCDnnSettings) -> list[float]:
    """Binning of a checked variable: the fit binning (DNN score) or the HT binning."""
    return list(settings.fit_bins if variable == "dnn_score" else settings.ht_bins)


def truth_histograms(
    table: pd.DataFrame, truth: pd.DataFrame, grid: GridSpec, settings: ABCDnnSettings,
    variable: str = "dnn_score", cell: tuple[int, int] = TARGET,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(truth, raw) histograms (sumw, sumw2) of ``variable`` in ``cell`` (the target).

    ``truth`` holds the truth_background events (weight 1 each); the subtracted minor
    simulation and the raw morphed-process simulation come from ``table``.
    """
    edges = np.asarray(variable_edges(variable, settings))
    t_mask = _in_cell(truth, grid, cell)
    t = histogram(truth[variable][t_mask], truth["weight"][t_mask], edges)
    target = _in_cell(table, grid, cell)
    # Only the minor processes: tt̄tt̄ is not in truth_background to begin with.
    minor = target & table["process"].isin([p for p in settings.subtract_processes
                                             if p != "tttt"]).to_numpy()
    m = histogram(table[variable][minor], table["weight"][minor], edges)
    raw_mask = target & (table["process"] == settings.morph_process).to_numpy()
    raw = histogram(table[variable][raw_mask], table["weight"][raw_mask], edges)
    return (t[0] - m[0], t[1] + m[1]), raw


def truth_closure(
    template: Template, table: pd.DataFrame, truth: pd.DataFrame, grid: GridSpec,
    settings: ABCDnnSettings, *, nonclosure: bool = True,
) -> dict[str, float | bool]:
    """Shape and normalization numbers of ``template`` against the true background.

    ``nonclosure=False`` leaves the non-closure term out of the template's shape
    uncertainty: needed in the validation target cell, where it is measured on the very
    events compared (it would cover any mismodelling there by construction).
    """
    truth_hist, raw = truth_histograms(table, truth, grid, settings, template.variable)
    truth_shape = unit_shape(*truth_hist)
    morphed = compare_shapes(template_shape(template, nonclosure=nonclosure), truth_shape)
    raw_cmp = compare_shapes(unit_shape(*raw), truth_shape)
    pull, p_norm = compare_normalization(template, float(truth_hist[0].sum()),
                                         float(truth_hist[1].sum()))
    improvement = raw_cmp.chi2 / morphed.chi2 if morphed.chi2 > 0 else float("inf")
    return {
        "shape_chi2": morphed.chi2, "ndf": morphed.ndf, "shape_chi2_ndf": morphed.chi2_ndf,
        "shape_p": morphed.p_value,
        "raw_shape_chi2": raw_cmp.chi2, "raw_shape_chi2_ndf": raw_cmp.chi2_ndf,
        "raw_shape_p": raw_cmp.p_value, "improvement": improvement,
        "predicted_yield": float(template.normalization["value"]),
        "predicted_yield_unc": template.normalization_rel_uncertainty()
                               * float(template.normalization["value"]),
        "normalization_nonclosure": template.normalization_nonclosure,
        "true_yield": float(truth_hist[0].sum()),
        "true_yield_unc": float(np.sqrt(truth_hist[1].sum())),
        "normalization_pull": pull, "normalization_p": p_norm,
        "passed": bool(morphed.p_value >= MIN_P_VALUE and p_norm >= MIN_P_VALUE
                       and improvement >= MIN_IMPROVEMENT),
    }


def raw_shape_table(table: pd.DataFrame, truth: pd.DataFrame, grid: GridSpec,
                    settings: ABCDnnSettings) -> dict[str, dict[str, float]]:
    """Shape-only χ²/ndf of the raw simulation vs the truth in every cell of ``grid``:
    how much the morph has to correct ({cell label: {variable: χ²/ndf}})."""
    from analysis.abcdnn.regions import ALL_CELLS, cell_label

    out = {}
    for cell in ALL_CELLS:
        row = {}
        for variable in ("dnn_score", "ht"):
            truth_hist, raw = truth_histograms(table, truth, grid, settings, variable, cell)
            row[variable] = compare_shapes(unit_shape(*raw), unit_shape(*truth_hist)).chi2_ndf
        out[cell_label(cell, grid)] = row
    return out
