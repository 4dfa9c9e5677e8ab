"""fourtops command line: parse, validate, call ``workflows/``.

    python run_analysis.py                 # the full default pipeline on generated data:
                                           # process -> morph (ABCDnn) -> fit -> export, each
                                           # reused when its inputs and settings are unchanged
    python run_analysis.py run --help      # options of the pipeline
    python run_analysis.py morph output    # one stage on a run's output folder
    python run_analysis.py fit output
    python run_analysis.py export output   # HEPData submission and reinterpretation bundle
    python run_analysis.py serve --models inference/models   # the inference server
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.exceptions import FourTopsError

SUBCOMMANDS = ("run", "serve", "train", "morph", "fit", "export")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None,
                   help="analysis YAML (default: the shipped analysis/default_config.yaml)")
    p.add_argument("--outdir", default="output", help="output folder (default: output)")
    p.add_argument("--workers", type=int, default=2, help="workers (default: 2)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="use an existing dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--cluster", choices=("condor", "slurm"), default=None,
                   help="start workers on a batch system through dask-jobqueue")
    p.add_argument("--executor", choices=("iterative", "futures", "dask"), default="dask",
                   help="where chunks run (default: dask, a LocalCluster unless --scheduler)")
    p.add_argument("--chunksize", type=int, default=50_000, help="events per chunk")
    p.add_argument("--skip-bad-files", action="store_true",
                   help="skip unreadable files (listed in the summary) instead of stopping")
    p.add_argument("--no-plots", action="store_true", help="do not draw plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--read-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long a remote read (xrootd, HTTP) may wait (default: 60)")
    p.add_argument("--no-resume", action="store_true",
                   help="ignore and do not keep checkpoints of finished chunks (by default an "
                        "interrupted run resumes: OUTDIR/checkpoints)")
    p.add_argument("--no-dashboard", action="store_true",
                   help="do not serve the dask dashboard (its address is printed otherwise)")
    p.add_argument("--force", action="store_true",
                   help="rerun every stage even if its inputs and settings are unchanged")


def _run(args: argparse.Namespace) -> int:
    from workflows.report import format_fit_summary, format_stages, format_summary
    from workflows.stages import run_pipeline

    if args.chunksize < 1:
        raise FourTopsError(f"--chunksize must be positive, got {args.chunksize}")
    run = run_pipeline(args)
    outdir = Path(args.outdir)
    print(format_summary(run["process"], outdir / "process"))
    print(format_stages(run["summary"]))
    print(format_fit_summary(run["fit"], outdir / "fit"))
    return 0


def _serve(argv: list[str]) -> int:
    from inference.server import main as serve_main

    return serve_main(argv)


def _train(argv: list[str]) -> int:
    from workflows.train import main as train_main

    return train_main(argv)


def _morph(argv: list[str]) -> int:
    from workflows.stages import morph_main

    return morph_main(argv)


def _fit(argv: list[str]) -> int:
    from workflows.fit import main as fit_main

    return fit_main(argv)


def _export(argv: list[str]) -> int:
    from workflows.export import main as export_main

    return export_main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # a batch log is a file, where stdout is block-buffered: show each line when printed
    # (a notebook's stdout has no reconfigure and needs none)
    if hasattr(sys.stdout, "reconfigure") and not sys.stdout.isatty():
        sys.stdout.reconfigure(line_buffering=True)
    command = argv.pop(0) if argv and argv[0] in SUBCOMMANDS else "run"
    try:
        if command == "serve":
            return _serve(argv)
        if command == "train":
            return _train(argv)
        if command == "morph":
            return _morph(argv)
        if command == "fit":
            return _fit(argv)
        if command == "export":
            return _export(argv)
        parser = argparse.ArgumentParser(prog="run_analysis.py [run]",
                                         description="Run the four-top analysis pipeline.")
        _add_run_arguments(parser)
        return _run(parser.parse_args(argv))
    except FourTopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
