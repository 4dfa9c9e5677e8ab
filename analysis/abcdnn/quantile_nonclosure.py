"""The validation cell's shape non-closure, measured and transferred in quantiles.

The morph misses the validation target cell's true distribution by Δ(q) = Q_true(q) -
Q_morphed(q), the difference of the two quantile functions in the flow's own variable
(logit of the DNN score, log HT). The signal target cell sits elsewhere in the score (its
median score is ~0.7 where the validation cell's is ~0.3), so a bin-by-bin ratio measured in
the validation cell lands on other quantiles of the signal template; the quantile shift does
not: on the truth model both cells' morphs miss in the same way, too narrow a distribution
(the morph under-corrects the middle quantiles by 0.3-0.6 in logit in the validation cell
and by 0.2-0.4 in the signal cell).

The signal template's non-closure variation moves each morphed event by ±δ(u), u being the
event's quantile in its own member's morphed distribution, and is shape-only. Only the part
of Δ beyond its statistical error is kept, sign(Δ)·sqrt(max(Δ² - σ², 0)), with σ² from
Poisson replicas of the data and the simulation plus the members' spread (which the
template's ensemble variation already carries), as for the normalization non-closure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from analysis.abcdnn.ensemble import GridEnsemble
from analysis.abcdnn.regions import TARGET
from analysis.abcdnn.templates import Template, histogram, morphed_index
from common.exceptions import BackgroundEstimateError

#: Quantiles at which the shift is measured; beyond the ends it is held constant.
QUANTILES: np.ndarray = np.linspace(0.05, 0.95, 19)
_REPLICAS = 40


@dataclass(frozen=True)
class QuantileShift:
    """Δ(q) of one variable in the validation target cell, raw and beyond statistics."""

    variable: str
    quantiles: list[float]
    raw: list[float]
    error: list[float]
    kept: list[float]

    def at(self, u: np.ndarray) -> np.ndarray:
        """The kept shift at quantiles ``u`` (linear in between, constant beyond the ends)."""
        return np.interp(u, self.quantiles, self.kept)

    def to_dict(self) -> dict:
        """JSON-ready form (for the morph summary)."""
        return asdict(self)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles of a weighted sample (mid-point CDF; signed weights allowed, the CDF is made
    non-decreasing). Raises :class:`BackgroundEstimateError` when the weights sum to ≤ 0."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    if not total > 0:
        raise BackgroundEstimateError(
            f"a quantile was asked of a sample whose weights sum to {total:.3g} (not positive): "
            "the validation target cell has no data-minus-simulation events or no simulated "
            "events; check the subtracted processes' normalization or the validation grid")
    order = np.argsort(values, kind="stable")
    cdf = np.maximum.accumulate((np.cumsum(weights[order]) - 0.5 * weights[order]) / total)
    return np.interp(q, cdf, values[order])


def _quantile_rank(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-point CDF of each event in its own weighted sample."""
    order = np.argsort(values, kind="stable")
    cdf = (np.cumsum(weights[order]) - 0.5 * weights[order]) / weights.sum()
    out = np.empty_like(cdf)
    out[order] = cdf
    return out


def _transformed(ensemble: GridEnsemble, score: np.ndarray, ht: np.ndarray,
                 variable: str) -> np.ndarray:
    """The flow's variable: logit of the (clipped) score or log HT."""
    return ensemble.data.standardizer.to_z(score, ht)[:, morphed_index(variable)]


def _untransformed(z: np.ndarray, variable: str) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z)) if variable == "dnn_score" else np.exp(z)


def measure_shift(target_z: np.ndarray, target_w: np.ndarray, member_z: list[np.ndarray],
                  mc_w: np.ndarray, variable: str, seed: int = 0) -> QuantileShift:
    """Δ(q) = Q_target(q) - mean over members of Q_member(q): ``target_z`` with weights
    ``target_w`` is the truth (data minus subtracted simulation), ``member_z`` the same
    simulated events (weights ``mc_w``) after each member's map, all in the flow's variable."""
    def shift(tw: np.ndarray, mw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_member = np.array([weighted_quantiles(z, mw, QUANTILES) for z in member_z])
        return weighted_quantiles(target_z, tw, QUANTILES) - per_member.mean(axis=0), per_member

    raw, per_member = shift(target_w, mc_w)
    rng = np.random.default_rng(seed)
    replicas = np.array([shift(target_w * rng.poisson(1.0, len(target_w)),
                               mc_w * rng.poisson(1.0, len(mc_w)))[0]
                         for _ in range(_REPLICAS)])
    spread = per_member.std(axis=0, ddof=1) if len(member_z) > 1 else np.zeros_like(raw)
    error = np.sqrt(replicas.var(axis=0, ddof=1) + spread**2)
    kept = np.sign(raw) * np.sqrt(np.clip(raw**2 - error**2, 0.0, None))
    return QuantileShift(variable=variable, quantiles=QUANTILES.tolist(), raw=raw.tolist(),
                         error=error.tolist(), kept=kept.tolist())


def quantile_shift(validation: GridEnsemble, variable: str = "dnn_score",
                   seed: int = 0) -> QuantileShift:
    """:func:`measure_shift` in the validation target cell of ``validation``."""
    data = validation.data
    target = data.target.in_cell(TARGET)
    t_z = _transformed(validation, data.target.score[target], data.target.ht[target], variable)
    members = [_transformed(validation, s, h, variable) for s, h in validation.morph_cell(TARGET)]
    return measure_shift(t_z, data.target.weight[target], members,
                         data.mc.weight[data.mc.in_cell(TARGET)], variable, seed)


def shifted_shapes_of(member_z: list[np.ndarray], weights: np.ndarray, shift: QuantileShift,
                      edges: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Unit-area shapes (mean over members) of morphed events ``member_z`` (flow variable,
    weights ``weights``) moved by +δ(u) and by -δ(u), histogrammed in ``edges`` (the
    template's own units: score or GeV)."""
    edges_a = np.asarray(edges, dtype=np.float64)
    shapes: dict[float, list[np.ndarray]] = {1.0: [], -1.0: []}
    for z in member_z:
        dz = shift.at(_quantile_rank(z, weights))
        for sign, out in shapes.items():
            h = histogram(_untransformed(z + sign * dz, shift.variable), weights, edges_a)[0]
            out.append(h / h.sum())
    return np.mean(shapes[1.0], axis=0), np.mean(shapes[-1.0], axis=0)


def apply_quantile_nonclosure(template: Template, ensemble: GridEnsemble,
                              shift: QuantileShift) -> Template:
    """Set the template's shape-only ``nonclosure_up/down`` from the quantile shift, each
    renormalized to the nominal yield. ``ensemble`` must be the one the template was made
    of (same members, same cell)."""
    if shift.variable != template.variable:
        raise BackgroundEstimateError(
            f"a {shift.variable} non-closure cannot be applied to a {template.variable} template")
    mc = ensemble.data.mc
    members = [_transformed(ensemble, s, h, shift.variable) for s, h in ensemble.morph_cell(TARGET)]
    up, down = shifted_shapes_of(members, mc.weight[mc.in_cell(TARGET)], shift, template.edges)
    return _set_shapes(template, up, down)


def _set_shapes(template: Template, up: np.ndarray, down: np.ndarray) -> Template:
    """``nonclosure_up/down`` = the nominal yield in the unit shapes ``up`` and ``down``."""
    total = float(np.sum(template.nominal))
    template.nonclosure_up = (total * np.asarray(up)).tolist()
    template.nonclosure_down = (total * np.asarray(down)).tolist()
    return template
