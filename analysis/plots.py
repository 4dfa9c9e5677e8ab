"""Plots in the CMS style: stacked simulation against data, with a data/MC ratio panel.

Two views: :func:`stack_plot`, the raw simulation of every region (no QCD multijet is
simulated, so data sit above it: labelled "raw simulation"), and :func:`data_driven_plot`
for the ABCDnn target cells, where the tt̄+QCD background is the ABCDnn prediction.
"""

from __future__ import annotations

from pathlib import Path

import hist
import matplotlib

matplotlib.use("Agg")  # batch-safe; notebooks can still display the returned figure
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402
import numpy as np  # noqa: E402

from analysis.abcdnn.templates import Template  # noqa: E402

DATA_PROCESS = "data"


def stack_plot(h: hist.Hist, region: str, luminosity_fb: float, systematic: str = "nominal",
               title: str | None = None) -> plt.Figure:
    """Stacked MC (by process, largest on top) vs data for one region, with ratio panel.

    ``h`` has axes (region, process, systematic, variable). Returns the figure.
    """
    plt.style.use(hep.style.CMS)
    sliced = h[{"region": region, "systematic": systematic}]
    processes = list(sliced.axes["process"])
    mc = [p for p in processes if p != DATA_PROCESS]
    mc.sort(key=lambda p: sliced[{"process": p}].sum().value)
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 9), sharex=True,
                                  gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05})
    edges = sliced.axes[-1].edges
    total = np.zeros(len(edges) - 1)
    total_var = np.zeros(len(edges) - 1)
    # plain matplotlib stairs: the same picture as mplhep.histplot at a fraction of the cost
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, p in enumerate(mc):
        cell = sliced[{"process": p}]
        ax.stairs(total + cell.values(), edges, baseline=total.copy(), fill=True, label=p,
                  color=colors[i % len(colors)])
        total = total + cell.values()
        total_var = total_var + cell.variances()
    has_data = DATA_PROCESS in processes
    centers = 0.5 * (edges[1:] + edges[:-1])
    ratio = np.full(len(centers), np.nan)
    if has_data:
        data = sliced[{"process": DATA_PROCESS}]
        counts = data.values()
        shown = counts > 0
        ax.errorbar(centers[shown], counts[shown], yerr=np.sqrt(data.variances()[shown]),
                    fmt="o", color="black", markersize=4, label="data")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(total > 0, counts / total, np.nan)
            err = np.where(total > 0, np.sqrt(data.variances()) / total, np.nan)
        rax.errorbar(centers, ratio, yerr=err, fmt="o", color="black", markersize=4)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(total > 0, np.sqrt(total_var) / total, 0.0)
    rax.fill_between(edges, np.append(1 - rel, 1 - rel[-1:]), np.append(1 + rel, 1 + rel[-1:]),
                     step="post", color="grey", alpha=0.4, label="MC stat.")
    rax.axhline(1.0, color="black", linewidth=1)
    # the simulation has no QCD multijet (it comes from ABCDnn): data/MC can sit well
    # above 1, so the range follows the points
    finite = ratio[np.isfinite(ratio)]
    high = max(1.5, float(np.percentile(finite, 90)) * 1.15) if finite.size else 1.5
    rax.set_ylim(0.0 if high > 2 else 0.5, min(high, 5.0))
    rax.set_ylabel("Data / MC")
    rax.set_xlabel(sliced.axes[-1].label)
    ax.set_xlabel("")
    ax.set_ylabel("Events / bin")
    ax.set_yscale("log")
    top = max(total.max() if total.size else 1.0, 1.0)
    ax.set_ylim(0.1, top * 100)
    ax.legend(ncol=2, fontsize="small",
              title=title or f"{region}, raw simulation (no QCD multijet)")
    hep.cms.label("Private work", data=has_data, lumi=round(luminosity_fb, 1), com=13, ax=ax)
    return fig


def plot_all(hists: dict[str, hist.Hist], luminosity_fb: float, folder: Path) -> list[Path]:
    """One PNG per histogram and region; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, h in hists.items():
        for region in h.axes["region"]:
            if h[{"region": region}].sum(flow=True).value == 0:
                continue
            fig = stack_plot(h, region, luminosity_fb)
            path = folder / f"{name}_{region}.png"
            fig.savefig(path, dpi=80)  # the layout fits: no costly bbox_inches="tight"
            plt.close(fig)
            written.append(path)
    return written


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save a figure as PNG (creating the folder) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def data_driven_plot(background: Template, samples: dict, signal: str, data: np.ndarray,
                     luminosity_fb: float, title: str, xlabel: str,
                     background_label: str = "tt+QCD (ABCDnn)") -> plt.Figure:
    """ABCDnn background + minor simulation + signal (stacked) vs data in a target cell.

    ``samples`` maps process → an object with per-bin ``nominal`` and ``variance`` (the fit
    inputs' :class:`~analysis.fit.inputs.SampleHistograms`), binned like ``background``. The
    band is the template's full uncertainty (statistics, ensemble, non-closure,
    normalization; bins treated as independent) with the simulation's statistics.
    """
    plt.style.use(hep.style.CMS)
    edges = np.asarray(background.edges)
    fig, (ax, rax) = plt.subplots(2, 1, figsize=(9, 9), sharex=True,
                                  gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05})
    layers = [(background_label, np.asarray(background.nominal), background.full_variance())]
    minor = sorted((n for n in samples if n != signal), key=lambda n: samples[n].nominal.sum())
    layers += [(n, samples[n].nominal, samples[n].variance) for n in minor]
    layers.append((f"{signal} (SM)", samples[signal].nominal, samples[signal].variance))
    total = np.zeros(len(edges) - 1)
    variance = np.zeros(len(edges) - 1)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, values, var) in enumerate(layers):
        ax.stairs(total + values, edges, baseline=total.copy(), fill=True, label=label,
                  color=colors[i % len(colors)])
        total, variance = total + values, variance + var
    centers = 0.5 * (edges[1:] + edges[:-1])
    ax.errorbar(centers, data, yerr=np.sqrt(data), fmt="o", color="black", markersize=4,
                label="data")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(total > 0, np.sqrt(variance) / total, 0.0)
        ratio = np.where(total > 0, data / total, np.nan)
        err = np.where(total > 0, np.sqrt(data) / total, np.nan)
    ax.stairs(total * (1 + rel), edges, baseline=total * (1 - rel), fill=True, color="none",
              hatch="///", edgecolor="grey", linewidth=0, label="uncertainty")
    rax.stairs(1 + rel, edges, baseline=1 - rel, fill=True, color="grey", alpha=0.4)
    rax.errorbar(centers, ratio, yerr=err, fmt="o", color="black", markersize=4)
    rax.axhline(1.0, color="black", linewidth=1)
    rax.set_ylim(0.5, 1.5)
    rax.set_ylabel("Data / pred.")
    rax.set_xlabel(xlabel)
    ax.set_ylabel("Events / bin")
    ax.set_yscale("log")
    ax.set_ylim(max(0.1, 0.3 * float(min(total[total > 0], default=1.0))), total.max() * 50)
    ax.legend(ncol=2, fontsize="small", title=f"{title}\ndata-driven background")
    hep.cms.label("Private work", data=True, lumi=round(luminosity_fb, 1), com=13, ax=ax)
    return fig
