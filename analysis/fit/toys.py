"""Toy studies of a model: pulls of μ̂ and the coverage of the CLs upper limit.

Toys are drawn from the model's own pdf (Poisson main bins, Gaussian/Poisson auxiliary
data) at nominal nuisance parameters and the chosen μ, and fitted with pyhf's MINUIT
optimizer (HESSE errors): the same likelihood the analysis fits, without cabinetry's
bookkeeping, which costs more than the fit on a small model.
"""

from __future__ import annotations

import numpy as np
import pyhf

from analysis.fit.minimize import MigradOnly
from common.exceptions import FitError


def sample_toys(model: pyhf.pdf.Model, mu: float, n: int, seed: int) -> np.ndarray:
    """``n`` toy data sets (main + auxdata) at signal strength ``mu``, nominal nuisances."""
    pars = np.asarray(model.config.suggested_init(), dtype=np.float64)
    pars[model.config.poi_index] = mu
    np.random.seed(seed)  # pyhf's numpy backend samples through numpy's global generator
    return np.asarray(model.make_pdf(pyhf.tensorlib.astensor(pars)).sample((n,)))


def toy_pulls(model: pyhf.pdf.Model, mu: float, n: int, seed: int = 1) -> dict[str, float]:
    """Fit ``n`` toys at ``mu``: mean and width of (μ̂ - μ)/σ̂, and how many fits failed."""
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(strategy=0))
    i = model.config.poi_index
    pulls, failed = [], 0
    for toy in sample_toys(model, mu, n, seed):
        try:
            fit = pyhf.infer.mle.fit(toy, model, return_uncertainties=True)
        except Exception:  # a toy whose minimization fails is counted, not hidden
            failed += 1
            continue
        mu_hat, sigma = fit[i]
        pulls.append((mu_hat - mu) / sigma)
    if len(pulls) < 2:
        raise FitError(f"only {len(pulls)} of {n} toy fits converged")
    p = np.asarray(pulls)
    return {"toys": n, "failed": failed, "mean": float(p.mean()), "width": float(p.std(ddof=1)),
            "mean_error": float(p.std(ddof=1) / np.sqrt(len(p)))}


def limit_coverage(model: pyhf.pdf.Model, mu_true: float, n: int, level: float = 0.95,
                   seed: int = 2) -> dict[str, float]:
    """Fraction of toys at ``mu_true`` whose CLs(μ_true) stays above 1 - level, i.e. whose
    upper limit covers the true value (CLs is built to over-cover: expect ≥ level)."""
    pyhf.set_backend("numpy", MigradOnly(strategy=0))  # the tests need minima, not HESSE
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    bounds[model.config.poi_index] = (0.0, bounds[model.config.poi_index][1])
    covered = 0
    toys = sample_toys(model, mu_true, n, seed)
    for toy in toys:
        cls = float(pyhf.infer.hypotest(mu_true, toy, model, test_stat="qtilde",
                                        par_bounds=bounds))
        covered += cls > 1.0 - level
    return {"toys": n, "mu_true": mu_true, "coverage": covered / n, "level": level}
