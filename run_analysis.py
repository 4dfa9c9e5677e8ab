"""fourtops command line: parse, validate, call ``workflows/``.

    python run_analysis.py                 # the full default pipeline on generated data
    python run_analysis.py run --help      # options of the pipeline
    python run_analysis.py serve --models inference/models   # the inference server
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common.exceptions import FourTopsError

SUBCOMMANDS = ("run", "serve", "train", "morph")


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


def _run(args: argparse.Namespace) -> int:
    from workflows.cluster import ClusterSpec
    from workflows.pipeline import checkpointer_for, prepare, run_processor
    from workflows.report import format_summary, write_outputs

    if args.chunksize < 1:
        raise FourTopsError(f"--chunksize must be positive, got {args.chunksize}")
    t0 = time.perf_counter()
    config, fileset, infos = prepare(args.config, args.skip_bad_files, args.read_timeout)
    t_prepared = time.perf_counter()
    spec = ClusterSpec(executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                       batch_system=args.cluster, status=not args.quiet,
                       batch=config.cluster, dashboard=not args.no_dashboard)
    checkpoints = (None if args.no_resume else
                   checkpointer_for(config, fileset, infos, Path(args.outdir) / "checkpoints"))
    if checkpoints is not None and checkpoints.stored_chunks():
        print(f"resuming: {checkpoints.stored_chunks()} finished chunks from "
              f"{checkpoints.directory}", flush=True)
    result = run_processor(config, fileset, infos, spec, args.chunksize,
                           checkpoints=checkpoints, read_timeout_s=args.read_timeout)
    extra = {"generation_seconds": round(t_prepared - t0, 3),
             "resumed_chunks": result.resumed_chunks}
    summary = write_outputs(result, config, Path(args.outdir), plots=not args.no_plots,
                            extra=extra)
    if checkpoints is not None:
        checkpoints.clear()  # the outputs are complete: the chunks are not needed again
    summary["total_seconds"] = time.perf_counter() - t0
    print(format_summary(summary, Path(args.outdir)))
    return 0


def _serve(argv: list[str]) -> int:
    from inference.server import main as serve_main

    return serve_main(argv)


def _train(argv: list[str]) -> int:
    from workflows.train import main as train_main

    return train_main(argv)


def _morph(argv: list[str]) -> int:
    from workflows.morph import main as morph_main

    return morph_main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in SUBCOMMANDS else "run"
    try:
        if command == "serve":
            return _serve(argv)
        if command == "train":
            return _train(argv)
        if command == "morph":
            return _morph(argv)
        parser = argparse.ArgumentParser(prog="run_analysis.py [run]",
                                         description="Run the four-top analysis pipeline.")
        _add_run_arguments(parser)
        return _run(parser.parse_args(argv))
    except FourTopsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
