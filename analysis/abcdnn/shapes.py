"""Shape-only and normalization comparisons of a template with a reference histogram.

A morph corrects the *shape* of the simulation; extended ABCD sets its *normalization*.
The two are checked apart:

* shape: both histograms are scaled to unit area and compared with
  χ² = dᵀ (C_a + C_b)⁻¹ d over all bins but one (unit area fixes the last; ndf = bins - 1).
  The covariance of a unit-area shape h/Σh of independent bins with variances v is
  J diag(v) Jᵀ with J_ij = (δ_ij - h_i/Σh)/Σh. A template adds the covariance of its
  ensemble members' shapes (they are unit-area already) and its non-closure and
  extrapolation shape variations as fully correlated terms;
* normalization: (predicted - true yield) / sqrt(σ_pred² + σ_true²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.abcdnn.templates import Template
from common.exceptions import BackgroundEstimateError


@dataclass(frozen=True)
class Comparison:
    """χ², degrees of freedom and p-value of one comparison."""

    chi2: float
    ndf: int
    p_value: float

    @property
    def chi2_ndf(self) -> float:
        """χ² per degree of freedom."""
        return self.chi2 / max(self.ndf, 1)


def unit_shape(sumw: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-area shape of a histogram of independent bins and its covariance."""
    h = np.asarray(sumw, dtype=np.float64)
    total = h.sum()
    if not total > 0:
        raise BackgroundEstimateError("a histogram has no positive yield; no shape to compare")
    shape = h / total
    jac = (np.eye(len(h)) - np.outer(shape, np.ones(len(h)))) / total
    return shape, jac @ np.diag(np.asarray(variance, dtype=np.float64)) @ jac.T


def template_shape(template: Template, *, nonclosure: bool = True
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Unit-area shape of a template and its covariance: simulation statistics, the
    ensemble members' spread (their sample covariance), the extrapolation shape variation
    and, with ``nonclosure``, the non-closure one (each fully correlated across bins)."""
    nominal = np.asarray(template.nominal, dtype=np.float64)
    shape, cov = unit_shape(nominal, np.asarray(template.stat_unc) ** 2)
    members = np.asarray(template.members, dtype=np.float64)
    if len(members) > 1:
        member_shapes = members / members.sum(axis=1, keepdims=True)
        cov = cov + np.cov(member_shapes, rowvar=False, ddof=1)
    variations = [template.extrapolation_up]
    if nonclosure:
        variations.append(template.nonclosure_up)
    for up in variations:
        if len(up):
            up = np.asarray(up, dtype=np.float64)
            delta = up / up.sum() - shape
            cov = cov + np.outer(delta, delta)
    return shape, cov


def compare_shapes(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
                   ) -> Comparison:
    """χ² of two unit-area shapes (shape, covariance); the last bin is left out."""
    d = (a[0] - b[0])[:-1]
    cov = (a[1] + b[1])[:-1, :-1]
    used = np.diag(cov) > 0
    d, cov = d[used], cov[np.ix_(used, used)]
    chi2 = float(d @ np.linalg.solve(cov, d)) if len(d) else 0.0
    ndf = int(len(d))
    return Comparison(chi2, ndf, float(stats.chi2.sf(chi2, ndf)) if ndf else 1.0)


def compare_normalization(template: Template, true_yield: float, true_variance: float
                          ) -> tuple[float, float]:
    """(pull, two-sided p-value) of the template's extended-ABCD yield vs the true one;
    the yield's uncertainty includes its normalization non-closure."""
    norm = template.normalization
    own = template.normalization_rel_uncertainty() * norm["value"]
    sigma = float(np.sqrt(own**2 + true_variance))
    pull = (norm["value"] - true_yield) / sigma
    return pull, float(2.0 * stats.norm.sf(abs(pull)))


def bin_pulls(template: Template, truth: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per-bin pulls (prediction - truth)/σ, σ² = the template's full variance
    (:meth:`Template.full_variance`) plus the truth variance."""
    var = template.full_variance() + np.asarray(truth[1], dtype=np.float64)
    return (np.asarray(template.nominal) - np.asarray(truth[0], dtype=np.float64)) / np.sqrt(var)
