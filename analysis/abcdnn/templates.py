"""Histogram templates of the morphed background, their uncertainties, and closure numbers.

The template of the target cell is the DNN-score histogram of the morphed simulation
(simulation weights), shaped by each ensemble member and normalized to the extended-ABCD
yield. Variations (all in the fit binning):

* ``ensemble_up/down``: mean ± standard deviation of the members' normalized shapes;
* ``nonclosure_up/down``: the validation target cell's shape non-closure, measured as a
  difference of quantile functions and transferred to the signal template quantile by
  quantile (:mod:`analysis.abcdnn.quantile_nonclosure`), a shape-only variation. A
  bin-by-bin ratio measured in the validation cell was tried first: the two cells' score
  distributions sit in different places, so the ratio landed on the wrong part of the
  signal template, and the background-only fits pulled μ̂ up by 1.4σ on average.
* ``normalization_nonclosure``: the relative difference between the extended-ABCD yield
  and the observed yield of the validation target cell, again only its part beyond the
  statistical error of both, given to the signal template as a symmetric normalization
  uncertainty. The extended-ABCD formula assumes that the N b ratio changes log-linearly
  with N jets; b-tag combinatorics make the ratio grow roughly linearly with the number of
  extra jets instead (log-concave), and a multijet fraction that changes with N jets adds
  to it, so the formula is biased by several per cent in both grids, with a sign that need
  not be the same in the two. The validation cell measures the size of that bias, not its
  direction in the signal cell.
* ``extrapolation_up/down`` (signal template only): the signal cell's simulation morphed by
  the validation grid's maps, which stop one N-jets step short of ≥9 jets, against the
  nominal (:func:`shorter_extrapolation_shape`), as a shape-only variation and its mirror.
  The validation cell tests an extrapolation from 6-7 to 8 jets; the signal cell needs one
  from 7-8 to ≥9, where the scores reach higher and the multijet fraction is smaller.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from analysis.abcdnn.ensemble import GridEnsemble
from analysis.abcdnn.regions import TARGET, cell_label
from common.exceptions import BackgroundEstimateError


def histogram(values: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sum of weights and of squared weights per bin; values outside go to the edge bins."""
    edges = np.asarray(edges, dtype=np.float64)
    v = np.clip(np.asarray(values, dtype=np.float64), edges[0], np.nextafter(edges[-1], -np.inf))
    w = np.asarray(weights, dtype=np.float64)
    return np.histogram(v, edges, weights=w)[0], np.histogram(v, edges, weights=w * w)[0]


def _unit(h: np.ndarray) -> np.ndarray:
    total = h.sum()
    if not total > 0:
        raise BackgroundEstimateError("a template has no positive yield; cannot normalize it")
    return h / total


@dataclass
class Template:
    """A background template with its variations (arrays per bin of ``edges``)."""

    region: str
    variable: str
    edges: list[float]
    nominal: list[float]
    stat_unc: list[float]
    ensemble_up: list[float]
    ensemble_down: list[float]
    members: list[list[float]]
    normalization: dict
    nonclosure_up: list[float] = field(default_factory=list)
    nonclosure_down: list[float] = field(default_factory=list)
    #: relative normalization uncertainty from the validation cell's non-closure (0: none)
    normalization_nonclosure: float = 0.0
    #: shape-only variation from the shorter extrapolation (:func:`apply_extrapolation`)
    extrapolation_up: list[float] = field(default_factory=list)
    extrapolation_down: list[float] = field(default_factory=list)

    def to_json(self, path: Path) -> Path:
        """Write the template as JSON (no pickles: the fit and readers load it anywhere)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def from_json(cls, path: Path) -> Template:
        """Read a template written by :meth:`to_json`."""
        return cls(**json.loads(Path(path).read_text()))

    def total_variance(self) -> np.ndarray:
        """Per-bin variance: simulation statistics plus the ensemble half-spread."""
        half = 0.5 * (np.asarray(self.ensemble_up) - np.asarray(self.ensemble_down))
        return np.asarray(self.stat_unc) ** 2 + half**2

    def normalization_rel_uncertainty(self) -> float:
        """Relative uncertainty of the yield: extended-ABCD statistics and the
        normalization non-closure, added in quadrature."""
        value = self.normalization.get("value", 0)
        stat = self.normalization["uncertainty"] / value if value > 0 else 0.0
        return float(np.hypot(stat, self.normalization_nonclosure))

    def full_variance(self) -> np.ndarray:
        """Per-bin variance with every uncertainty: :meth:`total_variance` plus the
        non-closure and extrapolation half-differences and the normalization
        ((σ_N/N ⊕ non-closure) · p)²."""
        p = np.asarray(self.nominal, dtype=np.float64)
        var = self.total_variance()
        for up, down in ((self.nonclosure_up, self.nonclosure_down),
                         (self.extrapolation_up, self.extrapolation_down)):
            if len(up):
                var = var + (0.5 * (np.asarray(up) - np.asarray(down))) ** 2
        return var + (self.normalization_rel_uncertainty() * p) ** 2


#: Position of each morphed variable in a member's (DNN score, HT) output.
MORPHED_VARIABLES: dict[str, int] = {"dnn_score": 0, "ht": 1}


def morphed_index(variable: str) -> int:
    """Index of ``variable`` in the morphed (score, HT) pair; refuses any other name."""
    if variable not in MORPHED_VARIABLES:
        raise BackgroundEstimateError(
            f"template variable {variable!r} is not morphed; use 'dnn_score' or 'ht'")
    return MORPHED_VARIABLES[variable]


def member_histograms(
    ensemble: GridEnsemble, cell: tuple[int, int], edges: np.ndarray, variable: str = "dnn_score"
) -> np.ndarray:
    """Histograms (members × bins) of the morphed simulation in ``cell``."""
    weights = ensemble.data.mc.weight[ensemble.data.mc.in_cell(cell)]
    index = morphed_index(variable)
    return np.array([histogram(m[index], weights, edges)[0] for m in ensemble.morph_cell(cell)])


def make_template(
    ensemble: GridEnsemble, edges: list[float], cell: tuple[int, int] = TARGET,
    variable: str = "dnn_score",
) -> Template:
    """Template of ``cell`` in ``variable`` ("dnn_score", or "ht" with edges in GeV),
    normalized to the extended-ABCD yield (target cell)."""
    index = morphed_index(variable)
    edges_a = np.asarray(edges, dtype=np.float64)
    weights = ensemble.data.mc.weight[ensemble.data.mc.in_cell(cell)]
    hists = [histogram(m[index], weights, edges_a) for m in ensemble.morph_cell(cell)]
    shapes = np.array([_unit(sumw) for sumw, _ in hists])
    norm = ensemble.abcd.value
    mean = shapes.mean(axis=0)
    spread = shapes.std(axis=0, ddof=1) if len(shapes) > 1 else np.zeros_like(mean)
    # Simulation statistics: relative sqrt(sumw2)/sumw per bin of the first member (a map
    # moves events between bins; it does not change their weights).
    sumw, sumw2 = hists[0]
    rel = np.divide(np.sqrt(sumw2), sumw, out=np.zeros_like(sumw), where=sumw > 0)
    nominal = norm * mean
    return Template(
        region=cell_label(cell, ensemble.data.grid),
        variable=variable,
        edges=list(map(float, edges_a)),
        nominal=nominal.tolist(),
        stat_unc=(nominal * rel).tolist(),
        ensemble_up=(norm * (mean + spread)).tolist(),
        ensemble_down=(norm * np.clip(mean - spread, 0.0, None)).tolist(),
        members=(norm * shapes).tolist(),
        normalization=ensemble.abcd.to_dict(),
    )


def target_histogram(ensemble: GridEnsemble, cell: tuple[int, int], edges: list[float],
                     variable: str = "dnn_score") -> tuple:
    """Data-minus-subtracted-simulation histogram (sumw, sumw2) of ``variable`` in ``cell``."""
    mask = ensemble.data.target.in_cell(cell)
    values = ensemble.data.target.score if variable == "dnn_score" else ensemble.data.target.ht
    return histogram(values[mask], ensemble.data.target.weight[mask], edges)


def normalization_nonclosure(validation: Template, target_sumw: np.ndarray,
                             target_sumw2: np.ndarray) -> float:
    """Relative non-closure of the extended-ABCD yield in the validation target cell.

    With r = predicted/observed (observed: data minus subtracted simulation), returns the
    part of |r - 1| beyond its statistical error, sqrt(max((r - 1)² - r² σ_r², 0)), where
    σ_r² = (σ_pred/pred)² + Σsumw2/Σsumw² (prediction and observation use disjoint cells,
    so they are independent). Raises :class:`BackgroundEstimateError` when the observed
    yield is not positive.
    """
    observed = float(np.sum(target_sumw))
    if not observed > 0:
        raise BackgroundEstimateError(
            f"the validation target cell has a non-positive data-minus-simulation yield "
            f"{observed:.3g}; its non-closure cannot be measured - check the subtracted "
            "processes' normalization or the validation grid")
    predicted = float(validation.normalization["value"])
    ratio = predicted / observed
    rel_var = ((validation.normalization["uncertainty"] / predicted) ** 2
               + float(np.sum(target_sumw2)) / observed**2)
    return float(np.sqrt(max((ratio - 1.0) ** 2 - ratio**2 * rel_var, 0.0)))


def _set_shape_variation(template: Template, delta: np.ndarray, name: str) -> Template:
    """Set ``<name>_up/down`` = nominal·(1 ± δ), clipped at 0 and renormalized to the
    nominal yield (a shape-only variation)."""
    nominal = np.asarray(template.nominal, dtype=np.float64)
    for sign, side in ((1.0, "up"), (-1.0, "down")):
        varied = np.clip(nominal * (1.0 + sign * delta), 0.0, None)
        varied *= nominal.sum() / varied.sum()
        setattr(template, f"{name}_{side}", varied.tolist())
    return template


def shorter_extrapolation_shape(validation: GridEnsemble, signal: GridEnsemble,
                                edges: list[float], variable: str = "dnn_score") -> np.ndarray:
    """Unit-area shape (mean of the members) of the signal target cell's simulation morphed
    by the *validation* grid's maps with *their* target condition (8 jets, ≥3 b by default).

    The signal grid's maps reach ≥9 jets by extrapolating one N-jets step beyond their
    training; the validation grid's maps stop at 8 jets. Their difference on the same events
    is how much that last step moves the shape, the part of the extrapolation that the
    validation cell cannot test: on the truth model the signal cell's DNN-score shape missed
    by 2-3σ at both ends of the score, and on the pseudo-dataset checked bin by bin this
    alternative lay on the truth's side at both ends.
    """
    index = morphed_index(variable)
    mc = signal.data.mc
    mask = mc.in_cell(TARGET)
    edges_a = np.asarray(edges, dtype=np.float64)
    morphed = validation.morph_events(mc.score[mask], mc.ht[mask], TARGET)
    return np.mean([_unit(histogram(m[index], mc.weight[mask], edges_a)[0]) for m in morphed],
                   axis=0)


def apply_extrapolation(template: Template, alternative_shape: np.ndarray) -> Template:
    """Set the shape-only extrapolation variations: up = the nominal yield in the
    alternative shape, down = its mirror nominal·(1 - δ), δ_b = alt_b/nominal_b - 1 (unit
    shapes), renormalized to the nominal yield."""
    nominal = np.asarray(template.nominal, dtype=np.float64)
    alt = np.asarray(alternative_shape, dtype=np.float64)
    if len(alt) != len(nominal):
        raise BackgroundEstimateError(
            f"extrapolation shape has {len(alt)} bins but the template {len(nominal)}")
    shape = _unit(nominal)
    delta = np.divide(alt, shape, out=np.ones_like(shape), where=shape > 0) - 1.0
    return _set_shape_variation(template, delta, "extrapolation")


def closure_chi2(
    template: Template,
    truth: tuple[np.ndarray, np.ndarray],
    raw: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    include_normalization: bool = True,
) -> dict[str, float]:
    """χ² between a template and the true background histogram (sumw, sumw2).

    χ² = rᵀ C⁻¹ r with r = prediction - truth and the covariance C = diag(template
    simulation statistics² + ensemble half-spread² + truth sumw2) plus, with
    ``include_normalization``, the fully correlated extended-ABCD normalization
    uncertainty (σ_N/N ⊕ normalization non-closure)² p pᵀ. Bins where the diagonal
    vanishes are skipped; ndf is the number of bins used. With ``raw`` (the unmorphed
    simulation histogram, sumw and sumw2, at its own normalization) also returns its χ²
    (diagonal: raw sumw2 + truth sumw2) and ``improvement`` = chi2_raw / chi2.
    Acceptance: chi2_ndf ≤ 1.5 and improvement ≥ 3.
    """
    t, t2 = (np.asarray(a, dtype=np.float64) for a in truth)
    p = np.asarray(template.nominal, dtype=np.float64)
    if len(t) != len(p):
        raise BackgroundEstimateError(
            f"truth histogram has {len(t)} bins, template {len(p)}; fill it with the "
            f"template's edges {template.edges}"
        )
    diag = template.total_variance() + t2
    used = diag > 0
    cov = np.diag(diag)
    if include_normalization:
        cov = cov + template.normalization_rel_uncertainty() ** 2 * np.outer(p, p)
    r = (p - t)[used]
    value = float(r @ np.linalg.solve(cov[np.ix_(used, used)], r))
    ndf = int(used.sum())
    out = {"chi2": value, "ndf": ndf, "chi2_ndf": value / max(ndf, 1)}
    if raw is not None:
        q, q2 = (np.asarray(a, dtype=np.float64) for a in raw)
        raw_diag = q2 + t2
        raw_used = raw_diag > 0
        raw_value = float(np.sum((q - t)[raw_used] ** 2 / raw_diag[raw_used]))
        out["chi2_raw"] = raw_value
        out["chi2_raw_ndf"] = raw_value / max(int(raw_used.sum()), 1)
        out["improvement"] = raw_value / value if value > 0 else float("inf")
    return out
