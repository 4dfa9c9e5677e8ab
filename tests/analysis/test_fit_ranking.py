"""The impacts ranking against cabinetry's own, on the small hand-built model."""

from __future__ import annotations

import cabinetry
import numpy as np
import pyhf
import pytest

from analysis.fit.model import build_workspace
from analysis.fit.ranking import impacts_ranking
from analysis.fit.results import mle_fit, model_and_data
from common.exceptions import FitError
from tests.analysis.fit_inputs import make_inputs, settings

COLUMNS = ("prefit_up", "prefit_down", "postfit_up", "postfit_down")


@pytest.fixture(scope="module")
def fitted():
    spec = build_workspace(make_inputs(scale=10.0), settings())[0]
    model, data = model_and_data(spec)
    return spec, model, data, mle_fit(model, data, settings())


@pytest.fixture(scope="module")
def ours(fitted):
    spec, model, data, fit = fitted
    return impacts_ranking(spec, model, data, fit, settings())


def test_same_impacts_as_cabinetry(fitted, ours):
    spec, model, data, fit = fitted
    theirs = cabinetry.fit.ranking(model, data, fit_results=fit, strategy=1)
    assert ours.labels == theirs.labels
    sigma = fit.uncertainty[model.config.poi_index]
    for column in COLUMNS:
        np.testing.assert_allclose(getattr(ours, column), getattr(theirs, column),
                                   atol=0.01 * sigma)
    # μ itself is not ranked; a constrained parameter has all four impacts
    assert model.config.poi_name not in ours.labels
    assert np.all(np.abs(ours.postfit_up) + np.abs(ours.postfit_down) > 0)


def test_more_background_means_less_signal(ours):
    ranking = ours
    norm = ranking.labels.index("abcdnn_norm")
    assert ranking.prefit_up[norm] < 0 < ranking.prefit_down[norm]
    lumi = ranking.labels.index("lumi")  # more luminosity: more signal per μ, smaller μ̂
    assert ranking.prefit_up[lumi] < 0


def test_worker_processes_give_the_same_numbers(fitted, ours):
    spec, model, data, fit = fitted
    two = impacts_ranking(spec, model, data, fit, settings(), processes=2)
    for column in COLUMNS:
        np.testing.assert_array_equal(getattr(ours, column), getattr(two, column))


def test_a_fit_that_never_converges_is_named(fitted, monkeypatch):
    spec, model, data, fit = fitted
    monkeypatch.setattr(type(model), "logpdf",
                        lambda self, pars, data: np.array([np.nan]))
    with pytest.raises(FitError, match=r"ranking fit with .* fixed at .* strategies \[0, 1, 2\]"):
        impacts_ranking(spec, model, data, fit, settings())
    assert isinstance(model, pyhf.pdf.Model)
