"""Figures of the fit, drawn by cabinetry's ``visualize`` functions in the CMS style.

cabinetry draws the figures (data vs pre-/post-fit model with the uncertainty band and a
ratio panel, pulls, correlations, impacts ranking, the μ scan, the CLs curve) in its own
layout; it has no experiment label, so the CMS label (mplhep) with the luminosity is added
here before saving.
"""

from __future__ import annotations

from pathlib import Path

import cabinetry
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep as hep  # noqa: E402

from analysis.fit.results import FitOutcome  # noqa: E402


def _save(fig: plt.Figure, path: Path, luminosity_fb: float, data: bool = True) -> Path:
    hep.cms.label("Private work", data=data, lumi=round(luminosity_fb, 1), com=13,
                  ax=fig.axes[0], fontsize=11)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def fit_figures(outcome: FitOutcome, folder: Path, luminosity_fb: float, edges: list[float],
                variable: str, ranking_shown: int = 20) -> list[Path]:
    """Write the fit's figures as PNG into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model, data = outcome.model, outcome.data
    channel = model.config.channels[0]
    # cabinetry takes binning and axis label of a region from its own config format
    config = {"Regions": [{"Name": channel, "Binning": list(edges), "Variable": variable}]}
    written = []
    # cabinetry lays its figures out for matplotlib's default style (the CMS style's large
    # fonts overlap them): draw in the default style, add the CMS label with the luminosity
    with plt.style.context("default"):
        for label, fit in (("prefit", None), ("postfit", outcome.fit)):
            prediction = cabinetry.model_utils.prediction(model, fit_results=fit)
            for entry in cabinetry.visualize.data_mc(prediction, data, config=config,
                                                     save_figure=False, close_figure=False):
                written.append(_save(entry["figure"], folder / f"{label}_{channel}.png",
                                     luminosity_fb))
        drawn = {
            "pulls": cabinetry.visualize.pulls(
                outcome.fit, exclude=[model.config.poi_name], save_figure=False,
                close_figure=False),
            "correlation": cabinetry.visualize.correlation_matrix(
                outcome.fit, pruning_threshold=0.05, save_figure=False, close_figure=False),
            "scan": cabinetry.visualize.scan(outcome.scan, save_figure=False,
                                             close_figure=False),
        }
        if outcome.limit is not None:  # None: no limit within the POI bounds (results.json)
            drawn["cls"] = cabinetry.visualize.limit(outcome.limit, save_figure=False,
                                                     close_figure=False)
        if outcome.ranking is not None:
            drawn["ranking"] = cabinetry.visualize.ranking(
                outcome.ranking, max_pars=ranking_shown, save_figure=False, close_figure=False)
        for name, fig in drawn.items():
            written.append(_save(fig, folder / f"{name}.png", luminosity_fb))
    return written
