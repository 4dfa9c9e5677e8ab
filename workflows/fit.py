"""The fit stage: the run's histograms + ABCDnn template → pyhf workspace, fits, figures.

Reads ``<run>/process/histograms.root`` and ``<run>/abcdnn/templates/``; writes ``<run>/fit/``::

    workspace.json            the full pyhf workspace (schema-validated)
    BkgOnly.json, patchset.json   the HEPData pair (pyhf patchset apply gives workspace.json)
    results.json              every number: μ̂ (HESSE, MINOS), significance, limits, pulls,
                              correlations, ranking, goodness of fit, scan, model report
    figures/*.png             pre-/post-fit, pulls, correlation, ranking, scan, CLs
    plots/datadriven_<region>.png  ABCDnn + minor MC + signal vs data in the target cells
    stage.json                the stage record (hash of inputs and settings)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from analysis.abcdnn.templates import Template
from analysis.config import AnalysisConfig, load_config
from analysis.fit.inputs import FitInputs, load_inputs, read_histograms
from analysis.fit.model import background_only, build_workspace
from analysis.fit.results import fit_workspace
from analysis.fit.settings import FitSettings
from common.exceptions import FitError
from workflows.code_version import code_digest
from workflows.outputs import staged_output, write_json
from workflows.stages import digest, forget, reusable, write_record

FIT_DIR = "fit"


def input_paths(outdir: Path, settings: FitSettings) -> tuple[Path, Path]:
    """The histogram file and the ABCDnn template the fit of run ``outdir`` reads."""
    outdir = Path(outdir)
    return (outdir / "process" / "histograms.root",
            outdir / "abcdnn" / "templates" / f"{settings.template}_{settings.region}.json")


def _inputs_key(inputs: FitInputs, settings: FitSettings, luminosity_fb: float) -> str:
    samples = {name: {"nominal": s.nominal.tolist(), "variance": s.variance.tolist(),
                      "variations": {k: v.tolist() for k, v in s.variations.items()}}
               for name, s in inputs.samples.items()}
    return digest({"edges": inputs.edges.tolist(), "data": inputs.data.tolist(),
                   "samples": samples, "template": inputs.background.__dict__,
                   # the ranking's process count does not change a number: not in the key
                   "settings": settings.model_dump(mode="json", exclude={"ranking_processes"}),
                   "luminosity_fb": luminosity_fb,
                   # the template's own methods and the figures' code change results too
                   "code": code_digest("common", "analysis/fit", "analysis/abcdnn/templates.py",
                                       "analysis/plots.py", "workflows/fit.py")})


def _data_driven_plots(outdir: Path, config: AnalysisConfig, folder: Path) -> list[Path]:
    """ABCDnn background + minor MC + signal vs data in each target cell with a template."""
    from analysis.plots import data_driven_plot, save_figure

    s = config.fit
    hist_path = Path(outdir) / "process" / "histograms.root"
    written = []
    for template_path in sorted((Path(outdir) / "abcdnn" / "templates").glob("*.json")):
        template = Template.from_json(template_path)
        try:
            _, data, samples = read_histograms(hist_path, s.histogram, template.region,
                                               [s.signal, *s.minor_backgrounds], s.data)
        except FitError:
            continue  # the histogram file lacks this cell: no plot rather than no fit
        kind = template_path.stem.split("_", 1)[0]
        fig = data_driven_plot(template, samples, s.signal, data, config.luminosity_fb,
                               title=f"{template.region} ({kind} target cell)",
                               xlabel=config.histograms[s.histogram].label)
        written.append(save_figure(fig, folder / f"datadriven_{template.region}.png"))
    return written


def run_fit_stage(outdir: Path, config: AnalysisConfig, force: bool = False,
                  figures: bool = True) -> dict[str, Any]:
    """Build the model, fit, write everything under ``<outdir>/fit``; return results.json's
    content (plus ``reused``). Reuses an unchanged earlier fit unless ``force``."""
    from analysis.fit.figures import fit_figures

    settings: FitSettings = config.fit
    outdir = Path(outdir)
    hist_path, template_path = input_paths(outdir, settings)
    if not template_path.is_file():
        raise FitError(
            f"no ABCDnn template {template_path.name} in {str(template_path.parent)!r}: run the "
            f"morph stage first (python run_analysis.py morph {outdir})")
    start = time.perf_counter()
    inputs = load_inputs(hist_path, template_path, settings.histogram, settings.region,
                         settings.signal, list(settings.minor_backgrounds), settings.data)
    key = _inputs_key(inputs, settings, config.luminosity_fb)
    folder = outdir / FIT_DIR
    results_path = folder / "results.json"
    if not force and reusable(folder, "fit", key, [results_path]):
        return {**json.loads(results_path.read_text()), "reused": True}
    forget(folder)
    with staged_output(folder) as stage:
        spec, report = build_workspace(inputs, settings)
        bkg, patchset = background_only(spec, settings.signal)
        write_json(spec, stage / "workspace.json")
        write_json(bkg, stage / "BkgOnly.json")
        write_json(patchset, stage / "patchset.json")
        outcome = fit_workspace(spec, settings)
        results = {
            **outcome.results,
            "region": inputs.region,
            "luminosity_fb": config.luminosity_fb,
            "yields_prefit": {"data": float(inputs.data.sum()),
                              settings.background_name: float(np.sum(inputs.background.nominal)),
                              **{n: float(s.nominal.sum()) for n, s in inputs.samples.items()}},
            "model": {"kept": report.kept, "pruned": report.pruned,
                      "symmetrized": report.symmetrized,
                      "clipped_negative_bins": inputs.clipped,
                      "prune_threshold": settings.prune_threshold,
                      "background_normalization": settings.background_normalization,
                      "signal_leakage_per_mu": report.signal_leakage},
            "inputs": {"histograms": str(hist_path), "template": str(template_path)},
        }
        if figures:
            paths = fit_figures(outcome, stage / "figures", config.luminosity_fb,
                                inputs.edges.tolist(), config.histograms[settings.histogram].label,
                                settings.ranking_shown)
            paths += _data_driven_plots(outdir, config, stage / "plots")
            results["figures"] = sorted(str(p.relative_to(stage)) for p in paths)
        results["stage_seconds"] = round(time.perf_counter() - start, 3)
        write_json(results, stage / "results.json")
    write_record(folder, "fit", key, time.perf_counter() - start)
    return {**results, "reused": False}


def main(argv: list[str] | None = None) -> int:
    """``python run_analysis.py fit OUTPUT``: the fit stage on a run with ABCDnn templates."""
    from workflows.report import format_fit_summary

    parser = argparse.ArgumentParser(
        prog="run_analysis.py fit",
        description="Build the pyhf model of the signal region from a run's histograms and "
                    "ABCDnn template; fit, compute significance and limits, draw figures.")
    parser.add_argument("outdir", type=Path, help="the run's output folder")
    parser.add_argument("--config", type=Path, default=None, help="analysis config YAML")
    parser.add_argument("--force", action="store_true", help="refit even if unchanged")
    parser.add_argument("--no-plots", action="store_true", help="no figures")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    results = run_fit_stage(args.outdir, config, force=args.force, figures=not args.no_plots)
    print(format_fit_summary(results, args.outdir / FIT_DIR))
    return 0
