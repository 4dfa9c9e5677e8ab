"""The ABCDnn step of the pipeline: train, predict the background, export, plot.

``run_morph`` trains an ensemble of maps for the validation grid and the signal grid,
builds the target-cell DNN-score templates normalized by extended ABCD, turns the
validation-grid non-closure into a shape uncertainty of the signal template, writes the
templates (JSON), the control plots, the ONNX map in the model repository layout, and a
summary. Outputs under ``outdir``::

    abcdnn/templates/{signal,validation}_<region>.json   (DNN score, the fit binning)
    abcdnn/templates/ht/{signal,validation}_<region>.json (HT, settings.ht_bins)
    abcdnn/plots/<grid>_<region>_<variable>.png, abcdnn/plots/closure_validation.png
    abcdnn/summary.json
    models/abcdnn_map/1/model.onnx (+ config.pbtxt; signal grid), models/abcdnn_map_validation
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from analysis.abcdnn.ensemble import GridEnsemble, train_ensembles
from analysis.abcdnn.export import MODEL_NAME, apply_map, export_ensemble
from analysis.abcdnn.inputs import REQUIRED_COLUMNS, prepare_grid
from analysis.abcdnn.plots import plot_cell, save
from analysis.abcdnn.quantile_nonclosure import (
    QuantileShift,
    apply_quantile_nonclosure,
    quantile_shift,
)
from analysis.abcdnn.regions import ALL_CELLS, TARGET, cell_label, encode_conditions
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.support import MIN_CONTROL_EVENTS, score_support
from analysis.abcdnn.templates import (
    Template,
    apply_extrapolation,
    closure_chi2,
    make_template,
    normalization_nonclosure,
    shorter_extrapolation_shape,
    target_histogram,
)
from analysis.abcdnn.training import morph
from common.exceptions import BackgroundEstimateError, ConfigError

log = logging.getLogger(__name__)

#: Largest |ONNX - PyTorch| accepted when the exported map is checked after writing it.
ONNX_TOLERANCE = 1e-5
_SIGNAL_SEED_OFFSET = 100_003  # the two grids' ensembles use different random streams


@dataclass
class MorphResult:
    """What ``run_morph`` produced (paths and the numbers of the summary)."""

    templates: dict[str, Template]
    template_paths: dict[str, Path]
    model_path: Path
    #: the same templates in HT (GeV edges ``settings.ht_bins``; log-spaced in log HT)
    ht_templates: dict[str, Template] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    summary_path: Path | None = None


def load_features(features: pd.DataFrame | Path) -> pd.DataFrame:
    """The concatenated feature table from a DataFrame, a parquet file or a folder of them.

    A folder may be the run's output folder (its ``features/`` subfolder is used).
    """
    if isinstance(features, pd.DataFrame):
        return features
    path = Path(features)
    if path.is_dir() and (path / "features").is_dir():
        path = path / "features"
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise BackgroundEstimateError(
            f"no feature tables (*.parquet) at {str(path)!r}; run the processing step first"
        )
    return pd.concat([pd.read_parquet(f, columns=REQUIRED_COLUMNS) for f in files],
                     ignore_index=True)


def _plots(ensemble: GridEnsemble, settings: ABCDnnSettings, plot_dir: Path,
           blind_target: bool) -> list[Path]:
    paths = []
    grid = ensemble.data.grid.name
    for cell in ALL_CELLS:
        is_target = cell == TARGET
        for variable, edges in (("dnn_score", settings.fit_bins), ("ht", settings.ht_bins)):
            fig = plot_cell(ensemble, cell, variable, edges,
                            show_target=not (is_target and blind_target),
                            normalization=ensemble.abcd.value if is_target else None)
            name = f"{grid}_{cell_label(cell, ensemble.data.grid)}_{variable}.png"
            paths.append(save(fig, plot_dir / name))
    return paths


def _check_onnx(ensemble: GridEnsemble, repo_dir: Path, name: str) -> float:
    """Run the exported map through the inference client on the target cell; max |Δ|."""
    data = ensemble.data
    mask = data.mc.in_cell(TARGET)
    x, cells = data.mc.x[mask], data.mc.cells[mask]
    y = apply_map(x, encode_conditions(cells, ensemble.settings.encoding), repository=repo_dir,
                  name=name)
    reference = np.stack([morph(f, x, cells, ensemble.settings.encoding)
                          for f in ensemble.flows], axis=1)
    return float(np.max(np.abs(y - reference))) if len(x) else 0.0


def _templates(validation: GridEnsemble, signal: GridEnsemble, edges: list[float],
               variable: str) -> tuple[dict[str, Template], QuantileShift]:
    """Target-cell templates of both grids in ``variable``, with the validation grid's
    quantile non-closure (its part beyond the statistical error) applied to both as a shape
    uncertainty, its normalization non-closure to the signal template (in the
    validation cell it is measured on the compared events), and to the signal template the
    extrapolation variation (the validation grid's maps on the signal cell's simulation);
    (templates, quantile shift)."""
    shift = quantile_shift(validation, variable)
    vr_template = apply_quantile_nonclosure(
        make_template(validation, edges, variable=variable), validation, shift)
    sr_template = apply_quantile_nonclosure(
        make_template(signal, edges, variable=variable), signal, shift)
    vr_target = target_histogram(validation, TARGET, edges, variable)
    sr_template.normalization_nonclosure = normalization_nonclosure(vr_template, *vr_target)
    sr_template = apply_extrapolation(
        sr_template, shorter_extrapolation_shape(validation, signal, edges, variable))
    return {"validation": vr_template, "signal": sr_template}, shift


def run_morph(
    features: pd.DataFrame | Path, outdir: Path, settings: ABCDnnSettings | None = None,
    *, plots: bool = True,
) -> MorphResult:
    """Train both grids, write templates, plots, the ONNX map and a summary under ``outdir``.

    ``plots=False`` skips the control plots (quick checks that only need the templates).
    """
    settings = settings or ABCDnnSettings()
    table = load_features(features)
    outdir = Path(outdir)
    base = outdir / "abcdnn"
    repo_dir = outdir / "models"
    summary: dict = {"settings": json.loads(settings.model_dump_json()), "grids": {}}

    grids = ((settings.validation_grid, 0), (settings.signal_grid, _SIGNAL_SEED_OFFSET))
    inputs = {grid.name: (prepare_grid(table, grid, settings), offset) for grid, offset in grids}
    start = time.perf_counter()
    ensembles = train_ensembles(inputs, settings)
    seconds = time.perf_counter() - start
    log.info("ABCDnn: %d members per grid trained in %.1f s (%d processes)",
             settings.ensemble_size, seconds, settings.processes)
    summary["training_seconds"] = seconds
    for name, (data, _) in inputs.items():
        summary["grids"][name] = {
            "events": {"simulation": int(len(data.mc.weight)),
                       "target": int(len(data.target.weight))},
            "extended_abcd": ensembles[name].abcd.to_dict(),
        }

    validation = ensembles[settings.validation_grid.name]
    signal = ensembles[settings.signal_grid.name]
    templates, shift = _templates(validation, signal, settings.fit_bins, "dnn_score")
    ht_templates, ht_shift = _templates(validation, signal, settings.ht_bins, "ht")
    vr_target = target_histogram(validation, TARGET, settings.fit_bins)
    summary["validation_closure"] = closure_chi2(templates["validation"], vr_target)
    summary["nonclosure_quantile_shift"] = shift.to_dict()
    summary["nonclosure_quantile_shift_ht"] = ht_shift.to_dict()
    summary["normalization_nonclosure"] = templates["signal"].normalization_nonclosure
    summary["score_support"] = {}
    for name, (data, _) in inputs.items():
        support = score_support(data, settings.fit_bins)
        summary["score_support"][name] = support
        if support["extrapolated_bins"]:
            edges = settings.fit_bins
            bins = ", ".join(f"[{edges[i]:g}, {edges[i + 1]:g}]"
                             for i in support["extrapolated_bins"])
            log.warning(
                "ABCDnn %s grid: the DNN-score bins %s (%.0f %% of the target's simulation) hold "
                "fewer than %d control-cell data events: the map is extrapolated there, not "
                "trained; its shape in those bins is not validated", name, bins,
                100 * support["extrapolated_fraction"], MIN_CONTROL_EVENTS)

    template_paths = {
        key: t.to_json(base / "templates" / f"{key}_{t.region}.json")
        for key, t in templates.items()
    }
    for key, t in ht_templates.items():
        t.to_json(base / "templates" / "ht" / f"{key}_{t.region}.json")
    figures: list[Path] = []
    if plots:
        figures = _plots(validation, settings, base / "plots", blind_target=False)
        figures += _plots(signal, settings, base / "plots", blind_target=True)
        closure = plot_cell(validation, TARGET, "dnn_score", settings.fit_bins,
                            normalization=validation.abcd.value)
        figures.append(save(closure, base / "plots" / "closure_validation.png"))

    model_path = export_ensemble(signal, repo_dir, MODEL_NAME)
    export_ensemble(validation, repo_dir, f"{MODEL_NAME}_validation")
    diff = _check_onnx(signal, repo_dir, MODEL_NAME)
    summary["onnx_max_abs_diff"] = diff
    if diff > ONNX_TOLERANCE:
        raise BackgroundEstimateError(
            f"the exported ABCDnn map differs from PyTorch by {diff:.2g} (> {ONNX_TOLERANCE}); "
            "the ONNX export is broken - do not use the written model"
        )
    summary_path = base / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=1))
    return MorphResult(templates=templates, template_paths=template_paths,
                       model_path=model_path, ht_templates=ht_templates, plots=figures,
                       summary=summary, summary_path=summary_path)


def _settings_from_args(args: argparse.Namespace) -> ABCDnnSettings:
    base = ABCDnnSettings()
    if args.config is not None:
        from analysis.config import load_config

        # The analysis config embeds ABCDnnSettings under "abcdnn" where it has the section.
        base = getattr(load_config(args.config), "abcdnn", None) or base
    update = {k: v for k, v in {"ensemble_size": args.ensemble_size, "epochs": args.epochs,
                                "device": args.device, "seed": args.seed}.items()
              if v is not None}
    return ABCDnnSettings.model_validate({**base.model_dump(), **update})


def main(argv: list[str] | None = None) -> int:
    """``python run_analysis.py morph RUN_DIR``: the ABCDnn step on a finished run."""
    parser = argparse.ArgumentParser(
        prog="run_analysis.py morph",
        description="Train the ABCDnn background morphing on a run's feature tables and "
                    "write templates, plots and the ONNX map.")
    parser.add_argument("features", type=Path,
                        help="run output folder (with features/) or a folder/file of parquet")
    parser.add_argument("--outdir", type=Path, default=None,
                        help="where to write (default: the run folder)")
    parser.add_argument("--config", type=Path, default=None, help="analysis config YAML")
    parser.add_argument("--ensemble-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        settings = _settings_from_args(args)
    except ValidationError as err:
        raise ConfigError(f"ABCDnn settings: {err}") from err
    outdir = args.outdir or (args.features if args.features.is_dir() else args.features.parent)
    result = run_morph(args.features, outdir, settings)
    closure = result.summary["validation_closure"]
    print(f"ABCDnn: signal template {result.template_paths['signal']}")
    print(f"        validation closure chi2/ndf = {closure['chi2']:.1f}/{closure['ndf']}")
    print(f"        model {result.model_path}")
    return 0
