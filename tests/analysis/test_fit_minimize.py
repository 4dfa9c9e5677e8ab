"""MIGRAD-only minimizations (no HESSE) against pyhf's and cabinetry's own: the μ scan, the
CLs hypothesis test, and a fixed parameter's fit; a fit that never converges is named."""

from __future__ import annotations

import cabinetry
import numpy as np
import pyhf
import pytest

from analysis.fit.minimize import MigradOnly, minimum
from analysis.fit.model import build_workspace
from analysis.fit.results import likelihood_scan, mle_fit, model_and_data
from common.exceptions import FitError
from tests.analysis.fit_inputs import make_inputs, settings


@pytest.fixture(scope="module")
def fitted():
    # ×10 yields and ×3 signal: a model with a clear signal, so the scan is a real parabola
    spec = build_workspace(make_inputs(scale=10.0, signal_scale=3.0), settings())[0]
    model, data = model_and_data(spec)
    return model, data, mle_fit(model, data, settings())


def test_scan_equals_cabinetry_scan(fitted):
    model, data, fit = fitted
    poi = model.config.poi_index
    mu_hat, sigma = fit.bestfit[poi], fit.uncertainty[poi]
    mu_range = (mu_hat - 2 * sigma, mu_hat + 2 * sigma)
    ours = likelihood_scan(model, data, fit, settings(scan_points=7), mu_range)
    theirs = cabinetry.fit.scan(model, data, model.config.poi_name, n_steps=7,
                                par_range=mu_range, strategy=1)
    np.testing.assert_allclose(ours.parameter_values, theirs.parameter_values)
    np.testing.assert_allclose(ours.delta_nlls, theirs.delta_nlls, atol=2e-3)
    # a profile likelihood near its minimum: −2Δ ln L ≈ ((μ − μ̂)/σ)², 4 at ±2σ
    assert ours.delta_nlls[3] == pytest.approx(0.0, abs=0.05)
    assert ours.delta_nlls[0] == pytest.approx(4.0, rel=0.2)
    assert ours.delta_nlls[-1] == pytest.approx(4.0, rel=0.2)


def test_hypothesis_test_without_hesse_gives_pyhfs_cls(fitted):
    model, data, fit = fitted
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    bounds[model.config.poi_index] = (0.0, bounds[model.config.poi_index][1])

    def cls(optimizer) -> np.ndarray:
        pyhf.set_backend("numpy", optimizer)
        try:
            observed, expected = pyhf.infer.hypotest(
                2.0, data, model, par_bounds=bounds, test_stat="qtilde",
                return_expected_set=True)
        finally:
            pyhf.set_backend("numpy")
        return np.array([float(observed), *np.asarray(expected, dtype=float)])

    ours = cls(MigradOnly(strategy=0))
    theirs = cls(pyhf.optimize.minuit_optimizer(strategy=1))
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-5)
    assert 0 < ours[0] < 1


def test_fixed_parameter_stays_fixed_and_the_rest_is_fitted(fitted):
    model, data, fit = fitted
    poi = model.config.poi_index
    twice_nll, values = minimum(model, data, settings())
    assert twice_nll == pytest.approx(fit.best_twice_nll, abs=2e-3)
    assert values[poi] == pytest.approx(fit.bestfit[poi], abs=0.02 * fit.uncertainty[poi])
    held, values = minimum(model, data, settings(), fixed={poi: 0.0})
    assert values[poi] == 0.0
    assert held > twice_nll + 1.0  # the signal is clearly there


def test_a_fit_that_never_converges_is_named(fitted, monkeypatch):
    model, data, _ = fitted
    monkeypatch.setattr(type(model), "logpdf", lambda self, pars, data: np.array([np.nan]))
    with pytest.raises(FitError, match=r"the test fit did not converge with MINUIT "
                       r"strategies \[0, 1, 2\]"):
        minimum(model, data, settings(), what="the test fit")


def test_scan_leaves_out_points_without_a_minimum(fitted, caplog):
    model, data, fit = fitted
    poi = model.config.poi_index
    # the signal is 1.5x the background in the last bin: below μ ≈ -0.7 the expected yield
    # there is negative and no fit exists
    full = likelihood_scan(model, data, fit, settings(scan_points=6), (0.0, 2.5))
    wider = likelihood_scan(model, data, fit, settings(scan_points=11), (-2.5, 2.5))
    assert np.all(wider.parameter_values > -1.0)
    np.testing.assert_allclose(wider.delta_nlls[wider.parameter_values >= 0], full.delta_nlls,
                               atol=2e-3)
    assert "expected yield is negative" in caplog.text and "left out of the scan" in caplog.text
    with pytest.raises(FitError, match="converged at only 0 of 3 points"):
        likelihood_scan(model, data, fit, settings(scan_points=3), (-5.0, -3.0))
    assert fit.bestfit[poi] > 0
