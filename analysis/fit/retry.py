"""Retry of a minimization that MINUIT does not call converged, with its careful strategies."""

from __future__ import annotations

import logging
from typing import Any

import pyhf

from analysis.fit.settings import FitSettings
from common.exceptions import FitError

log = logging.getLogger(__name__)


def retrying_with_strategy(call: Any, settings: FitSettings, what: str) -> tuple[Any, int]:
    """``call(strategy=...)`` with the configured MINUIT strategy, then the more careful
    ones up to 2 if a minimization does not converge; the result and the strategy that gave it, or a
    :class:`FitError` naming ``what`` if none does."""
    strategies = list(range(settings.minuit_strategy, 3))  # the configured, then careful ones
    # pyhf logs every failed minimization with MINUIT's whole state (~200 lines); the
    # warning below says what failed, and the last failure is in the error
    pyhf_log = logging.getLogger("pyhf.optimize.mixins")
    was_disabled, pyhf_log.disabled = pyhf_log.disabled, True
    try:
        for strategy in strategies:
            try:
                return call(strategy=strategy), strategy
            except pyhf.exceptions.FailedMinimization as err:
                failure = err
                log.warning("%s with MINUIT strategy %d failed; retrying", what, strategy)
    finally:
        pyhf_log.disabled = was_disabled
    raise FitError(f"{what} failed with MINUIT strategies {strategies}: {failure}; the "
                   "likelihood is too flat or ill-defined somewhere - check the inputs and "
                   "the pre-fit figure")


def retrying(call: Any, settings: FitSettings, what: str) -> Any:
    """The result of :func:`retrying_with_strategy`."""
    return retrying_with_strategy(call, settings, what)[0]
