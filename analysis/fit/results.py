"""Fits and results of a workspace through cabinetry (pyhf where cabinetry has no function).

:func:`fit_workspace` returns every number of the fit stage as plain JSON-able data, plus the
cabinetry result objects the figures need. The CLs limit comes from one grid of pyhf
hypothesis tests (:mod:`analysis.fit.limit`: cheaper than cabinetry's six Brent searches).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import cabinetry
import numpy as np
import pyhf

from analysis.fit.limit import as_numbers, upper_limit
from analysis.fit.minimize import minimum
from analysis.fit.ranking import impacts_ranking
from analysis.fit.retry import retrying
from analysis.fit.settings import FitSettings
from common.exceptions import FitError
from common.timing import Laps

log = logging.getLogger(__name__)


@dataclass
class FitOutcome:
    """The numbers (``results``) and the cabinetry objects behind them (for the figures)."""

    results: dict[str, Any]
    model: pyhf.pdf.Model
    data: list[float]
    fit: Any
    ranking: Any | None
    scan: Any
    limit: Any


def model_and_data(spec: dict[str, Any], asimov: bool = False) -> tuple[pyhf.pdf.Model,
                                                                        list[float]]:
    """The pyhf model and its data (observed, or the pre-fit Asimov data at μ = 1)."""
    pyhf.set_backend("numpy")
    return cabinetry.model_utils.model_and_data(spec, asimov=asimov)


def _bounds_nonnegative_poi(model: pyhf.pdf.Model) -> list[tuple[float, float]]:
    """Suggested bounds with μ ≥ 0: the q̃μ and q0 asymptotics assume a physical μ̂ ≥ 0."""
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    low, high = bounds[model.config.poi_index]
    bounds[model.config.poi_index] = (max(0.0, low), high)
    return bounds


def _pulls(model: pyhf.pdf.Model, fit: Any) -> list[dict[str, Any]]:
    """Per constrained parameter: post-fit value, pull (θ̂ - θ0)/Δθ and constraint σ̂/Δθ."""
    init = np.asarray(cabinetry.model_utils.asimov_parameters(model))
    prefit = np.asarray(cabinetry.model_utils.prefit_uncertainties(model))
    rows = []
    for i, label in enumerate(fit.labels):
        if prefit[i] <= 0:
            continue  # unconstrained (μ, a free normalization)
        rows.append({"parameter": label, "bestfit": float(fit.bestfit[i]),
                     "uncertainty": float(fit.uncertainty[i]),
                     "pull": float((fit.bestfit[i] - init[i]) / prefit[i]),
                     "constraint": float(fit.uncertainty[i] / prefit[i])})
    return rows


def _ranking_rows(ranking: Any, shown: int) -> list[dict[str, Any]]:
    impact = np.maximum.reduce([np.abs(ranking.postfit_up), np.abs(ranking.postfit_down)])
    order = np.argsort(-impact)
    return [{"parameter": ranking.labels[i], "bestfit": float(ranking.bestfit[i]),
             "uncertainty": float(ranking.uncertainty[i]),
             "prefit_up": float(ranking.prefit_up[i]),
             "prefit_down": float(ranking.prefit_down[i]),
             "postfit_up": float(ranking.postfit_up[i]),
             "postfit_down": float(ranking.postfit_down[i])} for i in order[:shown]]


def mle_fit(model: pyhf.pdf.Model, data: list[float], settings: FitSettings) -> Any:
    """The maximum-likelihood fit: HESSE errors, MINOS on μ, saturated-model GoF.

    A minimization that MINUIT does not call converged is retried with the more careful
    strategies 1 and 2 before the fit is given up.
    """
    return retrying(lambda strategy: cabinetry.fit.fit(
        model, data, minos=[model.config.poi_name], goodness_of_fit=True, strategy=strategy),
        settings, "the maximum-likelihood fit")


def likelihood_scan(model: pyhf.pdf.Model, data: list[float], fit: Any,
                    settings: FitSettings, mu_range: tuple[float, float]) -> Any:
    """−2Δ ln L against the best fit ``fit`` at ``settings.scan_points`` values of μ in
    ``mu_range``, as cabinetry's ``ScanResults`` (which its scan figure draws).

    Not ``cabinetry.fit.scan``: it refits the best fit and runs HESSE after every point,
    which fails at some points with μ far from μ̂ and makes the whole scan retry with a
    slower strategy; a point needs only its minimum (:func:`analysis.fit.minimize.minimum`).
    A point whose fit does not converge (e.g. at a POI bound) is left out with a warning;
    the scan fails only when fewer than three points remain.
    """
    i = model.config.poi_index
    poi = model.config.poi_name
    mu, delta = [], []
    for m in np.linspace(*mu_range, settings.scan_points):
        try:
            twice_nll = minimum(model, data, settings, fixed={i: float(m)},
                                what=f"the μ scan's fit at {poi} = {m:.4g}")[0]
        except FitError as err:
            log.warning("%s; the point is left out of the scan", err)
            continue
        mu.append(m)
        delta.append(twice_nll - fit.best_twice_nll)
    if len(mu) < 3:
        raise FitError(f"the μ scan over {poi} in [{mu_range[0]:.4g}, {mu_range[1]:.4g}] "
                       f"converged at only {len(mu)} of {settings.scan_points} points")
    return cabinetry.fit.results_containers.ScanResults(
        poi, float(fit.bestfit[i]), float(fit.uncertainty[i]), np.asarray(mu),
        np.asarray(delta))


def discovery(model: pyhf.pdf.Model, data: list[float], settings: FitSettings) -> Any:
    """Observed and expected (Asimov, μ = 1) discovery significance from q0 (μ ≥ 0)."""
    return retrying(lambda strategy: cabinetry.fit.significance(
        model, data, par_bounds=_bounds_nonnegative_poi(model), strategy=strategy), settings,
        "the discovery significance")


def fit_workspace(spec: dict[str, Any], settings: FitSettings,
                  data: list[float] | None = None) -> FitOutcome:
    """Maximum-likelihood fit (MINOS on μ, saturated-model goodness of fit), pulls,
    correlations, impacts ranking, μ scan, discovery significance and CLs upper limit.

    ``data`` (main bins + auxdata) replaces the workspace's observations, e.g. for
    Asimov or pseudo-data; by default the observed data are fitted.
    """
    model, observed = model_and_data(spec)
    data = list(observed if data is None else data)
    poi = model.config.poi_name
    laps = Laps()
    seconds, lap = laps.seconds, laps.lap

    fit = mle_fit(model, data, settings)
    lap("fit")
    i_poi = model.config.poi_index
    minos_down, minos_up = fit.minos_uncertainty.get(poi, (float("nan"), float("nan")))
    # (the ranking's and the scan's fits start at pyhf's suggested values: started at the
    # minimum, MINUIT's strategy 0 fails on some of them)
    ranking = (impacts_ranking(spec, model, data, fit, settings, settings.ranking_processes)
               if settings.ranking else None)
    lap("ranking")
    mu_hat, sigma = float(fit.bestfit[i_poi]), float(fit.uncertainty[i_poi])
    low, high = model.config.suggested_bounds()[i_poi]
    span = max(3.0 * sigma, 1.0)
    scan = likelihood_scan(model, data, fit, settings,
                           (max(low, mu_hat - span), min(high, mu_hat + span)))
    lap("scan")
    significance = discovery(model, data, settings)
    lap("significance")
    try:
        limit = upper_limit(model, data, settings, mu_hat, sigma)
        limit_numbers = as_numbers(limit, settings.confidence_level)
    except FitError as err:  # μ̂, significance and the rest stand; the gap is said loudly
        limit, limit_numbers = None, {"confidence_level": settings.confidence_level,
                                      "not_found": str(err)}
    lap("limit")
    results = {
        "seconds": seconds,
        "poi": poi,
        "mu_hat": mu_hat,
        "mu_uncertainty": sigma,
        "mu_minos": {"down": float(minos_down), "up": float(minos_up)},
        "best_twice_nll": float(fit.best_twice_nll),
        "goodness_of_fit": {"p_value_saturated": float(fit.goodness_of_fit)},
        "significance": {
            "observed": float(significance.observed_significance),
            "expected": float(significance.expected_significance),
            "observed_p_value": float(significance.observed_p_value),
            "expected_p_value": float(significance.expected_p_value),
        },
        "limit": limit_numbers,
        "parameters": [{"name": n, "bestfit": float(b), "uncertainty": float(u)}
                       for n, b, u in zip(fit.labels, fit.bestfit, fit.uncertainty,
                                          strict=True)],
        "pulls": _pulls(model, fit),
        "correlation": {"labels": list(fit.labels),
                        "matrix": np.asarray(fit.corr_mat).round(6).tolist()},
        "ranking": _ranking_rows(ranking, settings.ranking_shown) if ranking else [],
        "scan": {"mu": np.asarray(scan.parameter_values).tolist(),
                 "delta_twice_nll": np.asarray(scan.delta_nlls).tolist()},
    }
    return FitOutcome(results, model, data, fit, ranking, scan, limit)


def asimov_data(model: pyhf.pdf.Model, mu: float) -> list[float]:
    """Pre-fit Asimov data (main + auxdata) at signal strength ``mu``, nominal nuisances."""
    pars = np.asarray(model.config.suggested_init(), dtype=np.float64)
    pars[model.config.poi_index] = mu
    return np.asarray(model.expected_data(pars)).tolist()
