"""The MINUIT-strategy retry: the next strategy after a failure, one warning line each
instead of pyhf's dump of MINUIT's state, and a FitError naming the step when all fail."""

from __future__ import annotations

import logging

import pyhf
import pytest
import scipy.optimize

from analysis.fit.retry import retrying_with_strategy
from analysis.fit.settings import FitSettings
from common.exceptions import FitError


def _failing_until(good: int):
    def call(strategy: int) -> str:
        if strategy < good:
            # what pyhf does on a failed minimization: log the result, then raise
            result = scipy.optimize.OptimizeResult(message="EDM above max", success=False)
            logging.getLogger("pyhf.optimize.mixins").error("MINUIT STATE DUMP")
            raise pyhf.exceptions.FailedMinimization(result)
        return f"converged with {strategy}"
    return call


def test_retries_with_the_next_strategy_and_keeps_pyhf_quiet(caplog):
    with caplog.at_level(logging.WARNING):
        value, strategy = retrying_with_strategy(_failing_until(2), FitSettings(), "the fit")
    assert (value, strategy) == ("converged with 2", 2)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["the fit with MINUIT strategy 0 failed; retrying",
                        "the fit with MINUIT strategy 1 failed; retrying"]
    assert not logging.getLogger("pyhf.optimize.mixins").disabled  # restored afterwards


def test_every_strategy_failing_names_the_step():
    with pytest.raises(FitError, match=r"the μ scan failed with MINUIT strategies \[0, 1, 2\]"):
        retrying_with_strategy(_failing_until(3), FitSettings(), "the μ scan")


def test_never_retries_with_a_less_careful_strategy_than_configured():
    tried = []

    def call(strategy: int) -> str:
        tried.append(strategy)
        raise pyhf.exceptions.FailedMinimization(
            scipy.optimize.OptimizeResult(message="EDM above max", success=False))

    with pytest.raises(FitError, match=r"strategies \[2\]"):
        retrying_with_strategy(call, FitSettings(minuit_strategy=2), "the limit")
    assert tried == [2]
