"""Minimizations that need only the minimum: MIGRAD without pyhf's HESSE afterwards.

pyhf's MINUIT optimizer runs HESSE after every MIGRAD and calls the fit failed when HESSE
does (a matrix that is not positive definite, e.g. with μ fixed far from μ̂). The impacts
ranking, the μ scan and the CLs hypothesis tests use only −2 ln L at the minimum and the
fitted values, so here MIGRAD alone decides: it is retried with MINUIT's more careful
strategies only when MIGRAD itself does not converge. HESSE errors and MINOS stay with the
maximum-likelihood fit (cabinetry).
"""

from __future__ import annotations

from typing import Any

import iminuit
import numpy as np
import pyhf
import scipy.optimize

from analysis.fit.settings import FitSettings
from common.exceptions import FitError


def minimum(model: pyhf.pdf.Model, data: list[float], settings: FitSettings,
            fixed: dict[int, float] | None = None, what: str = "a fit") -> tuple[float, Any]:
    """−2 ln L at the minimum and the fitted parameter values, with the parameters in
    ``fixed`` (index → value) held; the others start at pyhf's suggested values.

    MIGRAD through iminuit on pyhf's −2 ln L, with pyhf's bounds and step sizes; a
    :class:`FitError` naming ``what`` when no strategy converges.
    """
    init = np.asarray(model.config.suggested_init(), dtype=np.float64)
    is_fixed = list(model.config.suggested_fixed())
    for index, value in (fixed or {}).items():
        init[index], is_fixed[index] = value, True
    bounds = model.config.suggested_bounds()
    observed = np.asarray(data, dtype=np.float64)

    def twice_nll(pars: np.ndarray) -> float:
        return float(-2.0 * model.logpdf(pars, observed)[0])

    minuit = iminuit.Minuit(twice_nll, init, name=model.config.par_names)
    minuit.errordef = iminuit.Minuit.LEAST_SQUARES  # −2 ln L: 1σ at Δ = 1
    minuit.limits = bounds
    minuit.fixed = is_fixed
    minuit.errors = [(high - low) / 1000.0 for low, high in bounds]  # pyhf's step sizes
    strategies = list(range(settings.minuit_strategy, 3))  # the configured, then careful ones
    for strategy in strategies:
        minuit.strategy = strategy
        minuit.migrad()
        if minuit.valid:
            return float(minuit.fval), np.asarray(minuit.values)
    expected = np.asarray(model.expected_actualdata(init))
    why = (f"the expected yield is negative in bin(s) {np.flatnonzero(expected < 0).tolist()} "
           "there" if np.any(expected < 0) else "the likelihood is ill-defined there")
    raise FitError(f"{what} did not converge with MINUIT strategies {strategies}; {why} - "
                   "check the inputs and the pre-fit figure")


class MigradOnly(pyhf.optimize.minuit_optimizer):
    """pyhf's MINUIT optimizer without the HESSE after MIGRAD, for pyhf's hypothesis tests
    (``pyhf.infer.hypotest`` asks for no uncertainties). Not for fits that return
    uncertainties: those need HESSE."""

    def _minimize(self, minimizer: iminuit.Minuit, func: Any, x0: Any, do_grad: bool = False,
                  bounds: Any = None, fixed_vals: Any = None,
                  options: dict[str, Any] | None = None) -> scipy.optimize.OptimizeResult:
        options = dict(options or {})
        strategy = options.pop("strategy", self.strategy)
        minimizer.strategy = (0 if do_grad else 1) if strategy is None else strategy
        minimizer.tol = options.pop("tolerance", self.tolerance)
        minimizer.migrad(ncall=options.pop("maxiter", self.maxiter))
        if options:
            raise pyhf.exceptions.Unsupported(f"unsupported options: {list(options)}")
        return scipy.optimize.OptimizeResult(
            x=minimizer.values, unc=None, corr=None, success=minimizer.valid,
            fun=minimizer.fval, hess_inv=None, nfev=minimizer.nfcn, njev=minimizer.ngrad,
            message="Optimization terminated successfully." if minimizer.valid
            else "Optimization failed.", minuit=minimizer)
