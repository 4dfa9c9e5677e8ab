"""Pipeline stages with reuse: process → morph (ABCDnn) → fit → export.

Each stage writes under the run's output folder and records, in ``<stage folder>/stage.json``,
a hash of its inputs and settings. A rerun reuses a stage whose record matches the hash
it would have now and whose outputs are all present; otherwise the stage runs again (and
so do the stages after it whose inputs then change). What enters each hash:

* process (``process/``): the whole analysis config except the ``abcdnn`` and ``fit``
  sections, and every input ROOT file and ML model file by name, size and modification time
  (reading 1.4 GB of ROOT files to hash them costs more than it saves);
* morph (``abcdnn/``, ``models/abcdnn_map*``): the feature tables' contents and the
  ``abcdnn`` settings;
* fit (``fit/``): the fitted histograms and the ABCDnn template (contents), the luminosity
  and the ``fit`` settings;
* export (``export/``): the fit's, the process stage's and the models' files (contents)
  and the ``fit`` settings.

Each hash also holds the source of the code the stage runs (``workflows.code_version``): after
an upgrade or an edit the stage runs again instead of handing back what older code made.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workflows.code_version import PROCESSING_CODE, code_digest

STAGE_FILE = "stage.json"
STAGES = ("process", "morph", "fit", "export")


def digest(obj: Any) -> str:
    """SHA-256 of a JSON-able object in canonical form (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(paths: Iterable[Path], root: Path | None = None) -> str:
    """SHA-256 over the names (relative to ``root``) and contents of files."""
    h = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        name = str(path.relative_to(root)) if root else path.name
        h.update(name.encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _say(line: str) -> None:
    """A progress line, flushed: batch logs are files, where stdout is block-buffered."""
    print(line, flush=True)


def file_fingerprint(paths: Iterable[str | Path]) -> list[list[Any]]:
    """(path, size, mtime) of each local file; remote URLs by name only."""
    rows = []
    for p in sorted(str(p) for p in paths):
        if "://" in p:
            rows.append([p])
            continue
        stat = Path(p).stat()
        rows.append([p, stat.st_size, stat.st_mtime_ns])
    return rows


def stage_record(folder: Path) -> dict[str, Any] | None:
    """The stage record in ``folder`` or None."""
    path = Path(folder) / STAGE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def reusable(folder: Path, stage: str, key: str, outputs: Iterable[Path]) -> bool:
    """True when ``folder`` holds a finished ``stage`` made with hash ``key`` and every
    listed output exists."""
    record = stage_record(folder)
    return (record is not None and record.get("stage") == stage and record.get("hash") == key
            and record.get("complete") is True and all(Path(p).exists() for p in outputs))


def forget(folder: Path) -> None:
    """Remove a stage record before the stage runs, so a half-run stage is never reused."""
    (Path(folder) / STAGE_FILE).unlink(missing_ok=True)


def write_record(folder: Path, stage: str, key: str, seconds: float,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the record of a finished stage (the last thing a stage does)."""
    record = {"stage": stage, "hash": key, "complete": True, "seconds": round(seconds, 3),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {})}
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / STAGE_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return record


# --- the stages -------------------------------------------------------------------------
PROCESS_DIR, MORPH_DIR = "process", "abcdnn"


def _process_key(config: Any, fileset: Any, plots: bool) -> str:
    files = [p for ds in fileset.datasets.values() for p in ds.files]
    models: list[Path] = []
    if config.ml is not None and config.ml.enabled:
        repository = Path(config.ml.inference.repository)
        models = [p for p in repository.rglob("*") if p.is_file()] if repository.is_dir() else []
    return digest({"config": config.model_dump(mode="json", exclude={"abcdnn", "fit"}),
                   "files": file_fingerprint(files), "models": file_fingerprint(models),
                   "plots": plots, "code": code_digest(*PROCESSING_CODE)})


def run_process_stage(args: Any, outdir: Path, force: bool = False) -> tuple[Any, dict]:
    """Processing (histograms, cutflow, features, raw-simulation plots) into
    ``<outdir>/process``; returns (config, summary with ``reused``)."""
    from workflows.cluster import ClusterSpec
    from workflows.fileset import DEFAULT_READ_TIMEOUT_S
    from workflows.pipeline import checkpointer_for, prepare, run_processor
    from workflows.report import write_outputs

    start = time.perf_counter()
    timeout_s = getattr(args, "read_timeout", DEFAULT_READ_TIMEOUT_S)
    # a large luminosity's pseudo-data are generated in slices, one per local worker
    local = getattr(args, "scheduler", None) is None and getattr(args, "cluster", None) is None
    processes = (getattr(args, "workers", None) or 1) if local else 1
    say = None if getattr(args, "quiet", False) else _say
    config, fileset, infos = prepare(args.config, args.skip_bad_files, timeout_s,
                                     generation_processes=processes, progress=say)
    generation = time.perf_counter() - start
    folder = Path(outdir) / PROCESS_DIR
    key = _process_key(config, fileset, not args.no_plots)
    outputs = [folder / "histograms.root", folder / "summary.json", folder / "features"]
    if not force and reusable(folder, "process", key, outputs):
        return config, {**json.loads((folder / "summary.json").read_text()), "reused": True}
    forget(folder)
    spec = ClusterSpec(executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                       batch_system=args.cluster, status=not args.quiet,
                       batch=config.cluster, dashboard=not getattr(args, "no_dashboard", False))
    # finished chunks of an interrupted run are kept here and reused (workflows/checkpoints)
    checkpoints = (None if getattr(args, "no_resume", False) else
                   checkpointer_for(config, fileset, infos, Path(outdir) / "checkpoints"))
    if checkpoints is not None and checkpoints.stored_chunks():
        print(f"resuming: {checkpoints.stored_chunks()} finished chunks from "
              f"{checkpoints.directory}", flush=True)
    result = run_processor(config, fileset, infos, spec, args.chunksize,
                           checkpoints=checkpoints, read_timeout_s=timeout_s)
    summary = write_outputs(result, config, folder, plots=not args.no_plots,
                            extra={"generation_seconds": round(generation, 3),
                                   "resumed_chunks": result.resumed_chunks})
    if checkpoints is not None:
        checkpoints.clear()  # the outputs are complete: the chunks are not needed again
    write_record(folder, "process", key, time.perf_counter() - start)
    return config, {**summary, "reused": False}


def run_morph_stage(outdir: Path, settings: Any, force: bool = False) -> dict[str, Any]:
    """ABCDnn (templates, plots, ONNX map) from ``<outdir>/process/features`` into
    ``<outdir>/abcdnn`` and ``<outdir>/models``; returns the stage record with ``reused``."""
    from workflows.morph import run_morph

    outdir = Path(outdir)
    source = outdir / PROCESS_DIR if (outdir / PROCESS_DIR / "features").is_dir() else outdir
    tables = sorted((source / "features").glob("*.parquet"))
    if not tables:
        from common.exceptions import BackgroundEstimateError

        raise BackgroundEstimateError(
            f"no feature tables in {str(source / 'features')!r}: run the process stage first "
            "(python run_analysis.py --outdir OUTPUT)")
    start = time.perf_counter()
    folder = outdir / MORPH_DIR
    # how many processes train the members does not change them: not part of the key
    key = digest({"features": file_digest(tables),
                  "abcdnn": settings.model_dump(mode="json", exclude={"processes"}),
                  "code": code_digest("common", "analysis/abcdnn", "workflows/morph.py")})
    templates = folder / "templates"
    if (not force and reusable(folder, "morph", key, [templates])
            and any(templates.glob("signal_*.json"))):
        return {**(stage_record(folder) or {}), "reused": True}
    forget(folder)
    result = run_morph(source, outdir, settings)
    closure = result.summary.get("validation_closure", {})
    record = write_record(folder, "morph", key, time.perf_counter() - start,
                          {"templates": {k: str(p) for k, p in result.template_paths.items()},
                           "validation_closure": closure})
    return {**record, "reused": False}


def morph_main(argv: list[str] | None = None) -> int:
    """``python run_analysis.py morph OUTPUT``: the morph stage alone (reused if unchanged)."""
    import argparse

    from pydantic import ValidationError

    from common.exceptions import ConfigError
    from workflows.morph import _settings_from_args

    parser = argparse.ArgumentParser(
        prog="run_analysis.py morph",
        description="The ABCDnn stage on a run's feature tables: templates, plots, ONNX map.")
    parser.add_argument("features", type=Path, help="the run's output folder")
    parser.add_argument("--config", type=Path, default=None, help="analysis config YAML")
    parser.add_argument("--ensemble-size", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="retrain even if unchanged")
    args = parser.parse_args(argv)
    try:
        settings = _settings_from_args(args)
    except ValidationError as err:
        raise ConfigError(f"ABCDnn settings: {err}") from err
    record = run_morph_stage(args.features, settings, force=args.force)
    closure = record.get("validation_closure", {})
    state = "reused (inputs and settings unchanged)" if record["reused"] else \
        f"trained in {record['seconds']:.0f} s"
    print(f"ABCDnn: {state}; templates in {args.features / MORPH_DIR / 'templates'}")
    if closure:
        print(f"        validation closure chi2/ndf = {closure['chi2']:.1f}/{closure['ndf']}")
    return 0


def run_pipeline(args: Any) -> dict[str, Any]:
    """process → morph → fit → export into ``args.outdir``; writes and returns the run
    summary."""
    from workflows.export import run_export_stage
    from workflows.fit import run_fit_stage
    from workflows.outputs import write_json

    start = time.perf_counter()
    outdir = Path(args.outdir)
    force = getattr(args, "force", False)
    quiet = getattr(args, "quiet", False)

    def done(stage: str, record: dict[str, Any], since: float) -> float:
        now = time.perf_counter()
        if not quiet:  # a line per stage: the morph and fit stages have no progress bar
            _say(f"{stage} stage: " + ("reused" if record["reused"] else
                                       f"ran in {now - since:.0f} s"))
        return now

    config, process = run_process_stage(args, outdir, force)
    t_process = done("process", process, start)
    morph = run_morph_stage(outdir, config.abcdnn, force)
    t_morph = done("morph", morph, t_process)
    fit = run_fit_stage(outdir, config, force, figures=not args.no_plots)
    t_fit = done("fit", fit, t_morph)
    export = run_export_stage(outdir, config, force)
    t_export = done("export", export, t_fit)
    summary = {
        "stages": {
            "process": {"reused": process["reused"], "seconds": round(t_process - start, 3),
                        "folder": str(outdir / PROCESS_DIR)},
            "morph": {"reused": morph["reused"], "seconds": round(t_morph - t_process, 3),
                      "folder": str(outdir / MORPH_DIR)},
            "fit": {"reused": fit["reused"], "seconds": round(t_fit - t_morph, 3),
                    "folder": str(outdir / "fit")},
            "export": {"reused": export["reused"], "seconds": round(t_export - t_fit, 3),
                       "folder": str(outdir / "export")},
        },
        "result": {k: fit[k] for k in ("mu_hat", "mu_uncertainty", "mu_minos",
                                       "significance", "limit")},
        "total_seconds": round(t_export - start, 3),
    }
    write_json(summary, outdir / "summary.json")
    return {"summary": summary, "process": process, "fit": fit}
