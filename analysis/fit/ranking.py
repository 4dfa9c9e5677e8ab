"""Impacts ranking: the shift of μ̂ when one nuisance parameter is fixed at ±1σ.

The numbers are those of ``cabinetry.fit.ranking`` (pre-fit and post-fit ±1σ, the other
parameters refitted from pyhf's suggested values) in cabinetry's ``RankingResults``, so that
``cabinetry.visualize.ranking`` draws them. It is computed here because cabinetry 0.6 gives
up on the whole ranking (4 fits per parameter, ~120 on the default model) when one MINUIT
minimization fails, and the only remedy it leaves is to redo every fit with a more careful
strategy: on the default run two of three rankings were thrown away that way. Here only the
fit that failed is retried, and the fits can be shared out over worker processes.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import cabinetry
import numpy as np
import pyhf

from analysis.fit.minimize import minimum
from analysis.fit.settings import FitSettings


def _poi_after_fixing(model: pyhf.pdf.Model, data: list[float], index: int, value: float,
                      settings: FitSettings) -> float:
    """μ̂ of the fit with parameter ``index`` fixed at ``value`` (MIGRAD only: the ranking
    needs the minimum, not HESSE, which doubles the cost and fails far from the minimum)."""
    _, values = minimum(model, data, settings, fixed={index: value},
                        what=f"the ranking fit with {model.config.par_names[index]} fixed at "
                        f"{value:.4g}")
    return float(values[model.config.poi_index])


def _impacts(spec: dict[str, Any], data: list[float], points: list[tuple[int, float]],
             settings: FitSettings) -> list[float]:
    """μ̂ of each (parameter index, fixed value) point; runs in a worker process."""
    pyhf.set_backend("numpy")
    model = cabinetry.model_utils.model_and_data(spec)[0]  # cabinetry's interpolation codes
    return [_poi_after_fixing(model, data, i, v, settings) for i, v in points]


def impacts_ranking(spec: dict[str, Any], model: pyhf.pdf.Model, data: list[float],
                    fit: Any, settings: FitSettings, processes: int = 1) -> Any:
    """Pre- and post-fit impacts of every parameter but the POI on μ̂, as cabinetry's
    ``RankingResults``. ``fit`` is cabinetry's fit result; ``spec`` the workspace the
    worker processes rebuild the model from. A parameter without a pre-fit (post-fit)
    uncertainty gets impact 0 without a fit, as in cabinetry."""
    poi = model.config.poi_index
    prefit = cabinetry.model_utils.prefit_uncertainties(model)
    best, unc = np.asarray(fit.bestfit), np.asarray(fit.uncertainty)
    wanted = []  # (parameter, column, fixed value)
    for i in range(len(best)):
        if i == poi:
            continue
        for column, shift in enumerate((prefit[i], -prefit[i], unc[i], -unc[i])):
            if shift != 0:
                wanted.append((i, column, float(best[i] + shift)))
    points = [(i, v) for i, _, v in wanted]
    if processes > 1 and len(points) > 1:
        shares = [points[k::processes] for k in range(processes)]
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) \
                as pool:
            parts = list(pool.map(_impacts, [spec] * processes, [data] * processes, shares,
                                  [settings] * processes))
        mu = [0.0] * len(points)
        for k, part in enumerate(parts):
            mu[k::processes] = part
    else:
        mu = [_poi_after_fixing(model, data, i, v, settings) for i, v in points]
    impact = np.zeros((len(best), 4))
    for (i, column, _), value in zip(wanted, mu, strict=True):
        impact[i, column] = value - best[poi]
    impact = np.delete(impact, poi, axis=0)
    return cabinetry.fit.results_containers.RankingResults(
        np.delete(best, poi), np.delete(unc, poi), np.delete(np.asarray(fit.labels), poi).tolist(),
        impact[:, 0], impact[:, 1], impact[:, 2], impact[:, 3])
