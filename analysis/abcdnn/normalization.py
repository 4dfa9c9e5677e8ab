"""Extended-ABCD normalization of the target cell (Choi & Oh, arXiv:1906.10831).

With the cell letters of :mod:`analysis.abcdnn.regions` (X, A, B: low N b; Y, C, D: high
N b; N jets increasing left to right), the ratio R = high-N b / low-N b is extrapolated
from the two control columns (R_Y, R_C) to the target column, N_D = N_B * R_D:

- ``loglinear`` (Choi & Oh): ln R linear in N jets, R_D = R_C**2 / R_Y, i.e.
  N_D = N_B * N_X * N_C**2 / (N_A**2 * N_Y);
- ``linear``: R itself linear in N jets, R_D = 2 R_C - R_Y. With a fixed number of true b
  jets, each extra jet adds about the same chance of one more b tag, so R grows about
  linearly with the jets rather than geometrically.

Yields are data minus the subtracted simulation. Their variances are the Poisson variance
of the data count plus the sum of squared simulation weights; the cells are independent, so
the variance of N_D is the sum over cells of (dN_D/dN_cell)² times the cell's variance.
Neither form is exact (the ratio is a mixture of processes whose ratios grow differently),
so the difference between the two can be kept as the extrapolation's own uncertainty.

Signal in the control cells (tt̄tt̄ has many jets and b tags, so the cells next to the
target hold some) is taken for background unless it is subtracted at the true signal
strength. The estimate therefore records its signal leakage dN_D/dμ = Σ_k (dN_D/dN_k) s_k
(s_k: the signal simulation in cell k at μ = 1), the events of the target cell's
prediction per unit of signal strength in data; the fit uses it to let the background
move with μ (``fit.signal_leakage``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.exceptions import BackgroundEstimateError

#: The control cells of the extended-ABCD formula.
CELLS = ("B", "X", "C", "A", "Y")
#: The ratio extrapolations and their formulas (as written in the summaries).
FORMULAS = {"loglinear": "N_D = N_B*N_X*N_C^2/(N_A^2*N_Y)",
            "linear": "N_D = N_B*(2*N_C/N_A - N_Y/N_X)"}


@dataclass(frozen=True)
class Yield:
    """A data-minus-simulation yield and its variance."""

    value: float
    variance: float


@dataclass(frozen=True)
class ABCDEstimate:
    """Extended-ABCD prediction of the target cell."""

    value: float
    statistical: float
    yields: dict[str, Yield]
    extrapolation: str = "loglinear"
    extrapolation_uncertainty: float = 0.0
    #: dN_D/dμ: target-cell events per unit signal strength from signal in the control cells
    signal_leakage: float = 0.0
    #: μ at which the signal simulation was subtracted from the control-cell yields
    subtracted_signal_strength: float = 0.0
    #: dN_D/dN_k per control cell: a new signal's leakage is the sum of these times its yields
    gradient: dict[str, float] | None = None

    @property
    def uncertainty(self) -> float:
        """Statistics and the extrapolation's uncertainty, in quadrature."""
        return float(np.hypot(self.statistical, self.extrapolation_uncertainty))

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            "value": self.value,
            "uncertainty": self.uncertainty,
            "statistical_uncertainty": self.statistical,
            "extrapolation": self.extrapolation,
            "extrapolation_uncertainty": self.extrapolation_uncertainty,
            "formula": FORMULAS[self.extrapolation],
            "signal_leakage": self.signal_leakage,
            "subtracted_signal_strength": self.subtracted_signal_strength,
            "yield_gradient": self.gradient,
            "yields": {
                k: {"value": v.value, "variance": v.variance} for k, v in self.yields.items()
            },
        }


def extended_abcd(yields: dict[str, Yield], extrapolation: str = "loglinear",
                  with_alternative: bool = False, signal: dict[str, float] | None = None,
                  subtracted_signal_strength: float = 0.0) -> ABCDEstimate:
    """Predict N_D and its uncertainty from the five control-cell yields.

    ``yields`` maps the letters X, A, B, Y, C to :class:`Yield`; ``extrapolation`` is
    ``"loglinear"`` or ``"linear"`` (module docstring). With ``with_alternative`` the
    difference to the other form's N_D is the estimate's ``extrapolation_uncertainty``
    (added to its statistics in ``uncertainty``). ``signal`` maps cell letters to the signal
    simulation's yield at μ = 1 there (missing cells: none) for the ``signal_leakage``;
    ``subtracted_signal_strength`` is the μ at which ``yields`` already subtract it. Raises
    :class:`BackgroundEstimateError` if a cell is missing, its yield is not positive, or the
    linear extrapolation of the ratio reaches zero.
    """
    if extrapolation not in FORMULAS:
        raise BackgroundEstimateError(
            f"unknown extended-ABCD extrapolation {extrapolation!r}; choose one of "
            f"{sorted(FORMULAS)} (abcdnn.abcd_extrapolation)"
        )
    missing = sorted(set(CELLS) - set(yields))
    if missing:
        raise BackgroundEstimateError(
            f"extended ABCD needs the control cells {sorted(CELLS)}; missing {missing}"
        )
    for letter in CELLS:
        if not yields[letter].value > 0:
            raise BackgroundEstimateError(
                f"control cell {letter} has a non-positive data-minus-simulation yield "
                f"{yields[letter].value:.3g}; the subtracted simulation exceeds the data there - "
                "check the normalization of the subtracted processes or use coarser regions"
            )
    value, statistical, gradient = _predict(yields, extrapolation)
    leakage = sum(gradient[k] * (signal or {}).get(k, 0.0) for k in CELLS)
    spread = 0.0
    if with_alternative:
        other = next(f for f in FORMULAS if f != extrapolation)
        try:
            spread = abs(_predict(yields, other)[0] - value)
        except BackgroundEstimateError:  # the linear form falls to zero: as large as N_D
            spread = value
    return ABCDEstimate(value=value, statistical=statistical,
                        yields={k: yields[k] for k in CELLS}, extrapolation=extrapolation,
                        extrapolation_uncertainty=spread, signal_leakage=float(leakage),
                        subtracted_signal_strength=subtracted_signal_strength,
                        gradient={k: float(v) for k, v in gradient.items()})


def _predict(yields: dict[str, Yield], extrapolation: str
             ) -> tuple[float, float, dict[str, float]]:
    """(N_D, its statistical uncertainty, dN_D/dN_k per cell) of one extrapolation form."""
    n = {k: yields[k].value for k in CELLS}
    if extrapolation == "loglinear":
        value = n["B"] * n["X"] * n["C"] ** 2 / (n["A"] ** 2 * n["Y"])
        # a product of powers: dN_D/dN_k = power_k * N_D / N_k
        powers = {"B": 1, "X": 1, "C": 2, "A": -2, "Y": -1}
        gradient = {k: p * value / n[k] for k, p in powers.items()}
    else:
        r_c, r_y = n["C"] / n["A"], n["Y"] / n["X"]
        ratio = 2.0 * r_c - r_y
        if not ratio > 0:
            raise BackgroundEstimateError(
                f"the linear extrapolation of the high/low N b ratio reaches {ratio:.3g} in the "
                f"target cell (ratios {r_y:.3g}, {r_c:.3g} in the control columns); use "
                "abcdnn.abcd_extrapolation: loglinear"
            )
        value = n["B"] * ratio
        gradient = {"B": ratio, "C": 2.0 * n["B"] / n["A"], "A": -2.0 * n["B"] * r_c / n["A"],
                    "Y": -n["B"] / n["X"], "X": n["B"] * r_y / n["X"]}
    variance = sum(gradient[k] ** 2 * yields[k].variance for k in CELLS)
    return value, float(np.sqrt(variance)), gradient


def signed_yield(weights: np.ndarray) -> Yield:
    """Yield and variance of signed weights (data +1, subtracted simulation -w).

    For data (weight 1) the sum of squares is the count, i.e. the Poisson variance.
    """
    weights = np.asarray(weights, dtype=np.float64)
    return Yield(value=float(weights.sum()), variance=float((weights**2).sum()))
