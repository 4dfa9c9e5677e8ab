"""The CLs upper limit on μ (q̃μ asymptotics), observed and expected with ±1σ/±2σ, from one
grid of hypothesis tests shared by the six limits.

cabinetry's ``fit.limit`` finds each of the six limits by its own Brent search to an absolute
tolerance of 0.01 in μ: about 40 hypothesis tests (5 fits each) where σ(μ) is in the
hundreds. Every test gives all six CLs values at once, so here one grid placed where the
asymptotic formulae put the limits (about 1-4 σ above max(μ̂, 0)) gives them all from
``fit.limit_points`` tests; each limit is interpolated in log CLs (a monotone cubic) between
the two grid points around it. The grid is extended towards the POI bound only while some
CLs curve has not yet crossed, so a limit outside the bounds costs a few tests at most, not
a failed search.
The result is cabinetry's ``LimitResults``, which its CLs figure draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyhf
from cabinetry.fit.results_containers import LimitResults
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from analysis.fit.minimize import MigradOnly
from analysis.fit.retry import retrying_with_strategy
from analysis.fit.settings import FitSettings
from common.exceptions import FitError

MAX_EXTENSIONS = 8  # grid extensions towards the POI bound before giving up


class _Tests:
    """Observed and the five expected CLs values per μ; once a test needed a more careful
    MINUIT strategy, the later ones start with it (a flat likelihood fails strategy 0 at
    every point, and each failure costs a whole test)."""

    def __init__(self, model: pyhf.pdf.Model, data: list[float],
                 bounds: list[tuple[float, float]], settings: FitSettings) -> None:
        self.model, self.data, self.bounds, self.settings = model, data, bounds, settings

    def __call__(self, mu: float) -> np.ndarray:
        def test(strategy: int) -> np.ndarray:
            _, optimizer = pyhf.get_backend()
            pyhf.set_backend("numpy", MigradOnly(strategy=strategy))
            try:
                observed, expected = pyhf.infer.hypotest(
                    mu, self.data, self.model, par_bounds=self.bounds, test_stat="qtilde",
                    return_expected_set=True)
            finally:
                pyhf.set_backend("numpy", optimizer)
            return np.array([float(observed), *np.asarray(expected, dtype=float)])

        values, strategy = retrying_with_strategy(
            test, self.settings, f"the CLs hypothesis test at {self.model.config.poi_name} = "
            f"{mu:.4g}")
        if strategy > self.settings.minuit_strategy:
            self.settings = self.settings.model_copy(update={"minuit_strategy": strategy})
        return values


def _crossing(mu: np.ndarray, cls: np.ndarray, target: float) -> float:
    """First μ where ``cls`` falls below ``target``: the root of a monotone cubic (PCHIP)
    through log CLs, between the two grid points around it (log CLs is close to a parabola
    in μ asymptotically, which a straight line between the points would miss by ~1 %)."""
    k = np.flatnonzero(cls < target)[0]
    curve = PchipInterpolator(mu, np.log(np.maximum(cls, 1e-300)))
    return float(brentq(lambda x: curve(x) - np.log(target), mu[k - 1], mu[k]))


def upper_limit(model: pyhf.pdf.Model, data: list[float], settings: FitSettings,
                mu_hat: float, sigma: float) -> LimitResults:
    """CLs upper limits from a grid of hypothesis tests around the asymptotic expectation.

    ``mu_hat`` and its HESSE uncertainty ``sigma`` place the grid. (The fits start at
    pyhf's suggested values: the tests' Asimov fits share the start, and one at the data's
    minimum runs away there.) A :class:`FitError` says when a limit lies
    outside the POI bounds (or below the smallest μ tried).
    """
    i = model.config.poi_index
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    high = bounds[i][1]
    bounds[i] = (0.0, high)  # q̃μ: μ̂ ≥ 0
    target = 1.0 - settings.confidence_level
    cls_at = _Tests(model, data, bounds, settings)
    # asymptotically the expected limits lie at 1.05σ (-2σ band) to 3.7σ (+2σ band), the
    # observed one at about μ̂ + 2σ
    top = min(high, max(4.5 * sigma, max(mu_hat, 0.0) + 3.0 * sigma))
    grid = list(np.linspace(min(0.5 * sigma, 0.5 * top), top, settings.limit_points))
    values = [cls_at(mu) for mu in grid]
    for _ in range(MAX_EXTENSIONS):  # a curve still above the target: go higher
        if np.all(values[-1] < target) or grid[-1] >= high:
            break
        step = grid[-1] - grid[0]
        extra = np.linspace(grid[-1], min(high, grid[-1] + step), 4)[1:]
        grid += list(extra)
        values += [cls_at(mu) for mu in extra]
    for _ in range(MAX_EXTENSIONS):  # a curve already below the target: go lower
        if np.all(values[0] >= target):
            break
        extra = list(np.geomspace(grid[0] / 8, grid[0], 4)[:-1])
        grid = extra + grid
        values = [cls_at(mu) for mu in extra] + values
    mu = np.asarray(grid)
    cls = np.asarray(values)  # (points, 6): observed, expected -2σ ... +2σ
    if np.any(cls[-1] >= target) or np.any(cls[0] < target):
        raise FitError(
            f"no {settings.confidence_level:.0%} CL upper limit on {model.config.poi_name} "
            f"within [{mu[0]:.4g}, {mu[-1]:.4g}] (POI bounds {bounds[i]}): CLs at the ends "
            f"{np.round(cls[[0, -1]], 4).tolist()}; widen fit.poi_bounds")
    limits = [_crossing(mu, cls[:, j], target) for j in range(6)]
    return LimitResults(limits[0], np.asarray(limits[1:]), cls[:, 0], cls[:, 1:], mu,
                        settings.confidence_level)


def as_numbers(limit: Any, confidence_level: float) -> dict[str, Any]:
    """The limit part of results.json."""
    return {
        "confidence_level": confidence_level,
        "observed": float(limit.observed_limit),
        "expected": float(limit.expected_limit[2]),
        "expected_bands": {k: float(v) for k, v in zip(
            ("minus2", "minus1", "median", "plus1", "plus2"), limit.expected_limit,
            strict=True)},
        "cls_scan": {"mu": np.asarray(limit.poi_values).tolist(),
                     "observed": np.asarray(limit.observed_CLs).tolist(),
                     "expected": np.asarray(limit.expected_CLs).tolist()},
    }
