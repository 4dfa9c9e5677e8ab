"""Extended-ABCD normalization of the target cell (Choi & Oh, arXiv:1906.10831).

With the cell letters of :mod:`analysis.abcdnn.regions` (X, A, B: low N b; Y, C, D: high
N b; N jets increasing left to right), the ratio high-N b / low-N b is allowed to change
log-linearly with N jets, which gives::

    N_D = N_B * N_X * N_C**2 / (N_A**2 * N_Y)

Yields are data minus the subtracted simulation. Their variances are the Poisson variance
of the data count plus the sum of squared simulation weights; the cells are independent, so
the relative variance of N_D is the sum of (exponent * relative error)² over the cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.exceptions import BackgroundEstimateError

#: Exponent of each control cell in the extended-ABCD product.
EXPONENTS: dict[str, int] = {"B": 1, "X": 1, "C": 2, "A": -2, "Y": -1}


@dataclass(frozen=True)
class Yield:
    """A data-minus-simulation yield and its variance."""

    value: float
    variance: float


@dataclass(frozen=True)
class ABCDEstimate:
    """Extended-ABCD prediction of the target cell."""

    value: float
    uncertainty: float
    yields: dict[str, Yield]

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            "value": self.value,
            "uncertainty": self.uncertainty,
            "formula": "N_D = N_B*N_X*N_C^2/(N_A^2*N_Y)",
            "yields": {
                k: {"value": v.value, "variance": v.variance} for k, v in self.yields.items()
            },
        }


def extended_abcd(yields: dict[str, Yield]) -> ABCDEstimate:
    """Predict N_D and its statistical uncertainty from the five control-cell yields.

    ``yields`` maps the letters X, A, B, Y, C to :class:`Yield`. Raises
    :class:`BackgroundEstimateError` if a cell is missing or its yield is not positive.
    """
    missing = sorted(set(EXPONENTS) - set(yields))
    if missing:
        raise BackgroundEstimateError(
            f"extended ABCD needs the control cells {sorted(EXPONENTS)}; missing {missing}"
        )
    value = 1.0
    rel_var = 0.0
    for letter, power in EXPONENTS.items():
        y = yields[letter]
        if not y.value > 0:
            raise BackgroundEstimateError(
                f"control cell {letter} has a non-positive data-minus-simulation yield "
                f"{y.value:.3g}; the subtracted simulation exceeds the data there - check "
                "the normalization of the subtracted processes or use coarser regions"
            )
        value *= y.value**power
        rel_var += (power**2) * y.variance / y.value**2
    return ABCDEstimate(value=value, uncertainty=value * float(np.sqrt(rel_var)),
                        yields={k: yields[k] for k in EXPONENTS})


def signed_yield(weights: np.ndarray) -> Yield:
    """Yield and variance of signed weights (data +1, subtracted simulation -w).

    For data (weight 1) the sum of squares is the count, i.e. the Poisson variance.
    """
    weights = np.asarray(weights, dtype=np.float64)
    return Yield(value=float(weights.sum()), variance=float((weights**2).sum()))
