"""The CLs limit grid against pyhf's own limit on a dense scan, and its refusal of a limit
outside the POI bounds."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest

from analysis.fit.limit import upper_limit
from analysis.fit.settings import FitSettings
from common.exceptions import FitError


@pytest.fixture(scope="module")
def counting():
    """Two bins, ~50 background events each with 6-13 % uncertainty, 11-12 signal events."""
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(strategy=0))
    model = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0])
    data = [51.0, 48.0, *model.config.auxdata]
    mu_hat, sigma = pyhf.infer.mle.fit(data, model, return_uncertainties=True)[
        model.config.poi_index]
    return model, data, float(mu_hat), float(sigma)


def test_grid_gives_the_limits_of_a_dense_scan(counting):
    model, data, mu_hat, sigma = counting
    result = upper_limit(model, data, FitSettings(), mu_hat, sigma)
    # pyhf: hypothesis tests on 120 points, CLs interpolated linearly between them
    observed, expected = pyhf.infer.intervals.upper_limits.upper_limit(
        data, model, np.linspace(0.05, 6.0, 120), level=0.05)
    assert result.observed_limit == pytest.approx(float(observed), rel=5e-3)
    np.testing.assert_allclose(result.expected_limit, np.asarray(expected, dtype=float),
                               rtol=5e-3)
    # the grid (0.5σ-4.5σ) grew once, by 3 points, to the +2σ band's crossing (2.07 = 4.8σ)
    assert len(result.poi_values) == FitSettings().limit_points + 3
    assert np.all(np.diff(result.expected_limit) > 0)


def test_limit_above_the_poi_bound_is_refused_naming_the_bounds(counting):
    model, data, mu_hat, sigma = counting
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    bounds[model.config.poi_index] = (0.0, 1.2)  # below the +1σ and +2σ expected limits
    narrow = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0])
    narrow.config.suggested_bounds = lambda: bounds
    with pytest.raises(FitError, match=r"no 95% CL upper limit on mu within .*POI bounds"):
        upper_limit(narrow, data, FitSettings(), mu_hat, sigma)
