"""Spine benchmark, all numbers from one run on the same files.

Prints: generator events/s per core; processor events/s per worker (iterative executor, one
process); the bare uproot read-and-decompress rate of exactly the branches the processor
reads, from the same files; and the ratio processor / bare read. The processor runs the
default config with every systematic variation. ``--ml`` adds the processor with ML columns
(taggers + event DNN, in-process ONNX Runtime on one core) beside it.

    python benchmarks/bench_spine.py [--events 100000] [--ml]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import uproot
from coffea.nanoevents import NanoEventsFactory

from analysis.config import load_config
from simulation import generate_dataset
from simulation.settings import SampleSpec
from workflows.cluster import ClusterSpec
from workflows.fileset import build_fileset
from workflows.pipeline import PipelineSchema, dataset_infos, run_processor


def _branches_read(config, infos, path: str, ml_columns=None) -> list[str]:
    """The branches the processor materializes, from NanoEvents' access log."""
    from corrections import load_corrections
    from processors.fourtops import FourTopsProcessor

    log: list = []  # coffea appends Accessed(branch, buffer_key)
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=PipelineSchema, mode="virtual", access_log=log,
        metadata={"dataset": "ttbar", "filename": path},
    ).events()
    corrections = load_corrections(config.corrections) if config.corrections else None
    FourTopsProcessor(config, infos, corrections=corrections,
                      ml_columns=ml_columns).process(events)
    return sorted({entry.branch for entry in log})


def _bare_read_rate(paths: list[str], branches: list[str]) -> float:
    """Events/s of reading and decompressing exactly ``branches`` with uproot."""
    t0 = time.perf_counter()
    n = 0
    for path in paths:
        with uproot.open(path) as f:
            n += len(f["Events"].arrays(branches, library="ak"))
    return n / (time.perf_counter() - t0)


def main() -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000, help="tt̄ events to generate")
    ap.add_argument("--chunksize", type=int, default=50_000)
    ap.add_argument("--ml", action="store_true", help="also time the processor with ML columns")
    args = ap.parse_args()

    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        spec = SampleSpec(process="ttbar", n_events=args.events, seed=7, n_files=2)
        # warm-up: the generator's compiled kernels load (or compile, on a fresh checkout)
        generate_dataset(spec.model_copy(update={"n_events": 2000}), Path(tmp) / "warm-up",
                         luminosity_fb=config.luminosity_fb, settings=config.generator)
        t0, c0 = time.perf_counter(), time.process_time()
        paths = [str(p) for p in generate_dataset(spec, Path(tmp) / "ttbar",
                                                  luminosity_fb=config.luminosity_fb,
                                                  settings=config.generator)]
        gen_rate = args.events / (time.perf_counter() - t0)
        gen_cpu_rate = args.events / (time.process_time() - c0)  # robust on a shared machine

        datasets = {"ttbar": config.datasets["ttbar"].model_copy(update={"files": paths,
                                                                        "generator": None})}
        with_ml = config.model_copy(update={"datasets": datasets})
        plain = with_ml.model_copy(update={"ml": None})  # spine only: no taggers, no DNN
        fileset = build_fileset(plain, {"ttbar": paths}, skip_bad_files=False)
        infos = dataset_infos(plain, fileset, Path("."))
        spec_run = ClusterSpec("iterative", workers=1, status=False)
        proc_rate = run_processor(plain, fileset, infos, spec_run,
                                  args.chunksize).events_per_second
        nominal = plain.model_copy(update={
            "systematics": plain.systematics.model_copy(update={"enabled": False})})
        nominal_rate = run_processor(nominal, fileset, infos, spec_run,
                                     args.chunksize).events_per_second
        branches = _branches_read(plain, infos, paths[0])
        read_rate = _bare_read_rate(paths, branches)

        ml_rate = ml_read_rate = None
        if args.ml:
            from processors.ml import ml_columns_from_config

            ml_columns, _ = ml_columns_from_config(with_ml)
            ml_rate = run_processor(with_ml, fileset, infos, spec_run, args.chunksize,
                                    ml_columns=ml_columns).events_per_second
            ml_branches = _branches_read(with_ml, infos, paths[0], ml_columns)
            ml_read_rate = _bare_read_rate(paths, ml_branches)

    print(f"generated tt̄ events             : {args.events}")
    print(f"branches the processor reads    : {len(branches)}")
    print(f"generator     events/s per core : {gen_rate:12.0f} (wall), "
          f"{gen_cpu_rate:.0f} (per CPU second)")
    print(f"processor     events/s per worker: {proc_rate:12.0f}")
    print(f"processor, nominal only (no systematic variations): {nominal_rate:12.0f}")
    print(f"cost of all variations / nominal only: {nominal_rate / proc_rate:12.2f}")
    print(f"bare uproot read events/s       : {read_rate:12.0f}")
    print(f"processor / bare read           : {proc_rate / read_rate:12.3f}")
    if ml_rate is not None:
        print(f"branches with taggers + DNN     : {len(ml_branches)}")
        print(f"processor+ML  events/s per worker: {ml_rate:12.0f}")
        print(f"bare uproot read (ML branches)  : {ml_read_rate:12.0f}")
        print(f"processor+ML / processor        : {ml_rate / proc_rate:12.3f}")


if __name__ == "__main__":
    main()
