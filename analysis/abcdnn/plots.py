"""Control plots of the morphing: simulation before and after vs the target, with ratios."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # batch-safe; a notebook can still show the returned figure
# the CMS style names fonts a bare machine may lack; the fallback is fine, the warning noise
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402

from analysis.abcdnn.ensemble import GridEnsemble  # noqa: E402
from analysis.abcdnn.regions import TARGET, cell_label, cell_letter  # noqa: E402
from analysis.abcdnn.templates import Template, histogram, morphed_index  # noqa: E402

_LABELS = {"dnn_score": "event DNN score", "ht": r"$H_T$ [GeV]"}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full_like(num, np.nan), where=den > 0)


def plot_cell(
    ensemble: GridEnsemble,
    cell: tuple[int, int],
    variable: str,
    edges: list[float],
    *,
    show_target: bool = True,
    normalization: float | None = None,
) -> plt.Figure:
    """Figure: raw and morphed simulation (ensemble band) vs data minus subtracted MC.

    The simulation is scaled to the target yield of the cell (or ``normalization``,
    e.g. the extended-ABCD prediction) so that the panels compare shapes. With
    ``show_target=False`` (blinded signal region) only the predictions are drawn.
    """
    data = ensemble.data
    index = morphed_index(variable)
    edges_a = np.asarray(edges, dtype=np.float64)
    mc_mask = data.mc.in_cell(cell)
    weights = data.mc.weight[mc_mask]
    raw, _ = histogram([data.mc.score, data.mc.ht][index][mc_mask], weights, edges_a)
    members = np.array([histogram(m[index], weights, edges_a)[0]
                        for m in ensemble.morph_cell(cell)])
    tg_mask = data.target.in_cell(cell)
    target, target_w2 = histogram([data.target.score, data.target.ht][index][tg_mask],
                                  data.target.weight[tg_mask], edges_a)
    norm = normalization if normalization is not None else target.sum()
    raw = raw * norm / raw.sum()
    members = members * norm / members.sum(axis=1, keepdims=True)
    mean, spread = members.mean(axis=0), members.std(axis=0)

    with plt.style.context(hep.style.CMS):
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 9), sharex=True,
                                      gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05})
        ax.stairs(raw, edges_a, color="tab:blue", linestyle="--", label="$t\\bar{t}$ simulation")
        ax.stairs(mean, edges_a, color="tab:red", label="morphed (ABCDnn)")
        ax.stairs(mean + spread, edges_a, baseline=mean - spread, fill=True, color="tab:red",
                  alpha=0.3, label="ensemble spread")
        centers = 0.5 * (edges_a[1:] + edges_a[:-1])
        if show_target:
            ax.errorbar(centers, target, yerr=np.sqrt(np.abs(target_w2)), fmt="o", color="black",
                        markersize=4, label="data $-$ other simulation")
            err = _ratio(np.sqrt(np.abs(target_w2)), target)
            rax.errorbar(centers, np.ones_like(centers), yerr=err, fmt="none", color="black")
            # baseline=None: ratio steps without vertical drops to zero at the ends.
            rax.stairs(_ratio(raw, target), edges_a, color="tab:blue", linestyle="--",
                       baseline=None)
            rax.stairs(_ratio(mean + spread, target), edges_a,
                       baseline=_ratio(mean - spread, target), fill=True, color="tab:red",
                       alpha=0.3)
            rax.stairs(_ratio(mean, target), edges_a, color="tab:red", baseline=None)
            rax.set_ylabel("pred. / target", fontsize=16)
        else:
            rax.stairs(_ratio(raw, mean), edges_a, color="tab:blue", linestyle="--",
                       baseline=None)
            rax.stairs(_ratio(mean + spread, mean), edges_a,
                       baseline=_ratio(mean - spread, mean), fill=True, color="tab:red",
                       alpha=0.3)
            rax.axhline(1.0, color="tab:red")
            rax.set_ylabel("sim. / morphed", fontsize=16)
        rax.set_ylim(0.5, 1.5)
        rax.set_xlabel(_LABELS.get(variable, variable))
        ax.set_ylabel("events / bin")
        region = cell_label(cell, data.grid)
        role = "target" if tuple(cell) == TARGET else "control"
        ax.set_title(f"{region} ({cell_letter(cell)}, {role}, {data.grid.name} grid)",
                     fontsize=14, loc="right")
        hep.cms.text("Private work", ax=ax)  # synthetic data: never "Preliminary"
        ax.legend(fontsize=13)
    return fig


def save(fig: plt.Figure, path: Path) -> Path:
    """Write a figure (format from the suffix) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_truth_closure(
    template: Template,
    truth: tuple[np.ndarray, np.ndarray],
    raw: tuple[np.ndarray, np.ndarray],
    *,
    title: str = "",
) -> plt.Figure:
    """Figure: true background, morphed template and raw tt̄ simulation, with ratios.

    The morphed template is drawn at its extended-ABCD yield and the raw simulation is
    scaled to the same yield, so both differ from the truth only through their shapes
    and the one normalization. The band is the template's full uncertainty (statistics,
    ensemble, non-closure, normalization); the truth points carry their own errors.
    """
    edges = np.asarray(template.edges, dtype=np.float64)
    pred = np.asarray(template.nominal, dtype=np.float64)
    norm = pred.sum()
    raw_h = np.asarray(raw[0], dtype=np.float64)
    raw_h = raw_h * norm / raw_h.sum()
    t, t2 = (np.asarray(a, dtype=np.float64) for a in truth)
    sigma = np.sqrt(template.full_variance())
    log_x = template.variable == "ht"
    with plt.style.context(hep.style.CMS):
        fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 9), sharex=True,
                                      gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05})
        ax.stairs(raw_h, edges, color="tab:blue", linestyle="--",
                  label="$t\\bar{t}$ simulation (same yield)")
        ax.stairs(pred, edges, color="tab:red", label="morphed (ABCDnn)")
        ax.stairs(pred + sigma, edges, baseline=pred - sigma, fill=True, color="tab:red",
                  alpha=0.3, label="template uncertainty")
        centers = np.sqrt(edges[1:] * edges[:-1]) if log_x else 0.5 * (edges[1:] + edges[:-1])
        ax.errorbar(centers, t, yerr=np.sqrt(np.abs(t2)), fmt="o", color="black",
                    markersize=4, label="true background")
        rax.errorbar(centers, np.ones_like(centers), yerr=_ratio(np.sqrt(np.abs(t2)), t),
                     fmt="o", color="black", markersize=3)
        rax.stairs(_ratio(raw_h, t), edges, color="tab:blue", linestyle="--", baseline=None)
        rax.stairs(_ratio(pred + sigma, t), edges, baseline=_ratio(pred - sigma, t),
                   fill=True, color="tab:red", alpha=0.3)
        rax.stairs(_ratio(pred, t), edges, color="tab:red", baseline=None)
        rax.set_ylim(0.0, 2.0)
        rax.set_ylabel("pred. / truth", fontsize=16)
        if log_x:
            ax.set_xscale("log")
        rax.set_xlabel(_LABELS.get(template.variable, template.variable))
        ax.set_ylabel("events / bin")
        ax.set_title(title or template.region, fontsize=14, loc="right")
        hep.cms.text("Private work", ax=ax)
        ax.legend(fontsize=13)
    return fig

