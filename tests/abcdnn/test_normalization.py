"""Extended ABCD: the formula, its uncertainty by hand and against a toy-MC spread."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.abcdnn.normalization import Yield, extended_abcd, signed_yield
from common.exceptions import BackgroundEstimateError


def test_formula_and_uncertainty_by_hand() -> None:
    # N_D = B X C^2 / (A^2 Y) = 100*400*50^2 / (200^2*100) = 25.
    counts = {"B": 100.0, "X": 400.0, "C": 50.0, "A": 200.0, "Y": 100.0}
    est = extended_abcd({k: Yield(v, v) for k, v in counts.items()})
    assert est.value == pytest.approx(25.0)
    # Poisson: (σ/N_D)² = 1/100 + 1/400 + 4/50 + 4/200 + 1/100 = 0.1225 -> σ = 0.35 * 25.
    assert est.uncertainty == pytest.approx(8.75)


def test_subtracted_simulation_enters_value_and_variance() -> None:
    # Cell with 120 data events and 10 simulated events of weight 2 to subtract.
    y = signed_yield(np.concatenate([np.ones(120), -np.full(10, 2.0)]))
    assert y.value == pytest.approx(100.0)
    assert y.variance == pytest.approx(120.0 + 10 * 4.0)


def test_ratio_varying_log_linearly_is_reproduced_exactly() -> None:
    # Low-N b yields 1000, 500, 250; the high/low ratio goes 0.1, 0.2, 0.4 with N jets.
    low = [1000.0, 500.0, 250.0]
    ratio = [0.1, 0.2, 0.4]
    yields = {"X": low[0], "A": low[1], "B": low[2], "Y": low[0] * ratio[0],
              "C": low[1] * ratio[1]}
    est = extended_abcd({k: Yield(v, v) for k, v in yields.items()})
    assert est.value == pytest.approx(low[2] * ratio[2])
    # The simple ABCD (B*C/A) would be wrong by a factor 2: the extended one is needed.
    assert yields["B"] * yields["C"] / yields["A"] == pytest.approx(50.0)


def test_uncertainty_agrees_with_toy_spread() -> None:
    rng = np.random.default_rng(11)
    expected = {"B": 3000.0, "X": 8000.0, "C": 1500.0, "A": 5000.0, "Y": 1200.0}
    # Subtracted simulation: 20 % of the expectation from ~40 simulated events of equal
    # weight, whose number fluctuates too (its variance is what Σw² estimates).
    sub = 0.2
    values, predicted = [], []
    for _ in range(3000):
        yields = {}
        for k, mu in expected.items():
            n = rng.poisson(mu * (1 + sub))
            w = np.full(rng.poisson(40), mu * sub / 40)
            yields[k] = Yield(n - w.sum(), n + (w**2).sum())
        est = extended_abcd(yields)
        values.append(est.value)
        predicted.append(est.uncertainty)
    assert np.std(values) == pytest.approx(np.mean(predicted), rel=0.06)
    truth = 3000 * 8000 * 1500**2 / (5000**2 * 1200)
    assert np.mean(values) == pytest.approx(truth, rel=0.01)


def test_missing_or_negative_cells_are_errors() -> None:
    good = {k: Yield(10.0, 10.0) for k in "BXCAY"}
    with pytest.raises(BackgroundEstimateError, match="missing"):
        extended_abcd({k: v for k, v in good.items() if k != "C"})
    with pytest.raises(BackgroundEstimateError, match="non-positive"):
        extended_abcd({**good, "A": Yield(-3.0, 10.0)})


def test_linear_formula_and_uncertainty_by_hand() -> None:
    # R_Y = 100/400 = 0.25, R_C = 50/200 = 0.25 -> R_D = 2*0.25 - 0.25 = 0.25, N_D = 25.
    counts = {"B": 100.0, "X": 400.0, "C": 50.0, "A": 200.0, "Y": 100.0}
    est = extended_abcd({k: Yield(v, v) for k, v in counts.items()}, "linear")
    assert est.value == pytest.approx(25.0)
    assert est.to_dict()["formula"] == "N_D = N_B*(2*N_C/N_A - N_Y/N_X)"
    # dN_D/dN: B 0.25, C 2*100/200 = 1, A -2*100*0.25/200 = -0.25, Y -100/400 = -0.25,
    # X 100*0.25/400 = 0.0625; Poisson variances = the counts.
    variance = 0.25**2 * 100 + 1 * 50 + 0.25**2 * 200 + 0.25**2 * 100 + 0.0625**2 * 400
    assert est.uncertainty == pytest.approx(np.sqrt(variance))


def test_ratio_varying_linearly_is_reproduced_by_the_linear_extrapolation_only() -> None:
    # High/low ratio 0.8, 1.1, 1.4 with N jets (as b-tag combinatorics make it).
    low = [1000.0, 500.0, 250.0]
    ratio = [0.8, 1.1, 1.4]
    yields = {"X": low[0], "A": low[1], "B": low[2], "Y": low[0] * ratio[0],
              "C": low[1] * ratio[1]}
    as_yields = {k: Yield(v, v) for k, v in yields.items()}
    assert extended_abcd(as_yields, "linear").value == pytest.approx(low[2] * ratio[2])
    # the log-linear formula over-predicts such a ratio: 1.1**2 / 0.8 = 1.5125 > 1.4
    assert extended_abcd(as_yields).value == pytest.approx(250 * 1.1**2 / 0.8)


def test_linear_uncertainty_agrees_with_toy_spread() -> None:
    rng = np.random.default_rng(12)
    expected = {"B": 3000.0, "X": 8000.0, "C": 5500.0, "A": 5000.0, "Y": 7000.0}
    values, predicted = [], []
    for _ in range(3000):
        counts = {k: float(rng.poisson(mu)) for k, mu in expected.items()}
        est = extended_abcd({k: Yield(n, n) for k, n in counts.items()}, "linear")
        values.append(est.value)
        predicted.append(est.uncertainty)
    assert np.std(values) == pytest.approx(np.mean(predicted), rel=0.06)
    truth = 3000 * (2 * 5500 / 5000 - 7000 / 8000)
    assert np.mean(values) == pytest.approx(truth, rel=0.01)


def test_linear_extrapolation_below_zero_and_unknown_names_are_errors() -> None:
    # R_Y = 1.0, R_C = 0.3: 2*0.3 - 1.0 < 0
    falling = {"B": Yield(100, 100), "X": Yield(100, 100), "Y": Yield(100, 100),
               "A": Yield(100, 100), "C": Yield(30, 30)}
    with pytest.raises(BackgroundEstimateError, match="loglinear"):
        extended_abcd(falling, "linear")
    with pytest.raises(BackgroundEstimateError, match="abcd_extrapolation"):
        extended_abcd(falling, "quadratic")


def test_the_other_extrapolation_is_an_uncertainty_when_asked() -> None:
    counts = {"B": 250.0, "X": 1000.0, "Y": 800.0, "A": 500.0, "C": 550.0}  # R 0.8, 1.1
    yields = {k: Yield(v, v) for k, v in counts.items()}
    alone = extended_abcd(yields, "linear")
    both = extended_abcd(yields, "linear", with_alternative=True)
    assert both.value == alone.value == pytest.approx(350.0)
    # the log-linear N_D is 250 * 1.1**2 / 0.8 = 378.125
    assert both.extrapolation_uncertainty == pytest.approx(28.125)
    assert both.statistical == alone.statistical == alone.uncertainty
    assert both.uncertainty == pytest.approx(np.hypot(alone.statistical, 28.125))
    assert both.to_dict()["uncertainty"] == pytest.approx(both.uncertainty)


def test_a_linear_alternative_below_zero_counts_as_large_as_the_yield() -> None:
    # R_Y = 1.0, R_C = 0.3: log-linear N_D = 100 * 0.3**2 / 1.0 = 9; linear 2*0.3 - 1 < 0
    falling = {"B": Yield(100, 100), "X": Yield(100, 100), "Y": Yield(100, 100),
               "A": Yield(100, 100), "C": Yield(30, 30)}
    est = extended_abcd(falling, "loglinear", with_alternative=True)
    assert est.value == pytest.approx(9.0)
    assert est.extrapolation_uncertainty == pytest.approx(9.0)


@pytest.mark.parametrize("form", ["loglinear", "linear"])
def test_signal_leakage_is_what_signal_in_the_control_cells_adds(form: str) -> None:
    """dN_D/dμ: adding μ times the signal to every control cell raises N_D by μ·leakage
    (to first order; checked by finite differences at μ = ±0.5)."""
    counts = {"B": 900.0, "X": 4000.0, "C": 1300.0, "A": 2600.0, "Y": 1500.0}
    signal = {"B": 3.0, "X": 0.2, "C": 4.0, "A": 0.5, "Y": 1.0}

    def n_d(mu: float) -> float:
        return extended_abcd({k: Yield(v + mu * signal[k], v) for k, v in counts.items()},
                             form).value

    est = extended_abcd({k: Yield(v, v) for k, v in counts.items()}, form, signal=signal,
                        subtracted_signal_strength=1.0)
    assert est.signal_leakage == pytest.approx(n_d(0.5) - n_d(-0.5), rel=1e-4)
    assert est.signal_leakage > 0  # signal in B and C, the cells that scale N_D up
    assert est.to_dict()["signal_leakage"] == est.signal_leakage
    assert est.to_dict()["subtracted_signal_strength"] == 1.0
    # the per-cell gradient gives another signal's leakage without the estimate
    other = {"B": 1.0, "X": 2.0, "C": 0.0, "A": 3.0, "Y": 0.5}
    by_gradient = sum(est.gradient[k] * other[k] for k in other)
    moved = extended_abcd({k: Yield(v + 1e-3 * other[k], v) for k, v in counts.items()}, form)
    assert by_gradient == pytest.approx((moved.value - est.value) / 1e-3, rel=1e-3)
    # no signal given: no leakage
    assert extended_abcd({k: Yield(v, v) for k, v in counts.items()}, form).signal_leakage == 0
