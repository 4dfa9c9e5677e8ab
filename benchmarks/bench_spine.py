"""Spine benchmark, all numbers from one run on the same files.

Prints: generator events/s per core; processor events/s per worker (iterative executor, one
process); the bare uproot read-and-decompress rate of exactly the branches the processor
reads, from the same files; and the ratio processor / bare read. The processor runs the
default config with every systematic variation. ``--ml`` adds the processor with ML columns
(taggers + event DNN, in-process ONNX Runtime on one core) beside it, with per model the
inference calls, rows and seconds per chunk, and the DNN score of every event compared with
the ML columns computed one jet variation at a time (the processor before the calls were
merged across variations). ``--mass-window LOW,HIGH`` also runs it with that trijet-mass
pre-filter before the resolved tagger and prints how much the DNN scores move.
Rates are given per wall second and per CPU second of the process (the latter is robust on
a shared machine; the iterative executor and the one-thread ONNX Runtime sessions run in
this process).

    python benchmarks/bench_spine.py [--events 100000] [--ml] [--mass-window 40,500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
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


def _count_inference() -> dict[str, list[float]]:
    """Calls, rows and seconds per model of every in-process client from now on.

    Patched into the client class, not wrapped around one object: the executor pickles the
    processor, and the copy must report to the same table.
    """
    from inference.client import InProcessClient

    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    original = InProcessClient.infer

    def infer(self, model, inputs, outputs=None):
        t0 = time.perf_counter()
        out = original(self, model, inputs, outputs)
        s = stats[model]
        s[0] += 1
        s[1] += len(next(iter(inputs.values())))
        s[2] += time.perf_counter() - t0
        return out

    InProcessClient.infer = infer
    return stats


class PerVariationColumns:
    """The ML columns computed one jet variation at a time (the reference of the check)."""

    def __init__(self, columns) -> None:
        self.columns = columns

    def boosted(self, events):
        return self.columns.boosted(events)

    def variations(self, jet_sets, btag_wp):
        return {name: self.columns(events, jets, btag_wp, boosted)
                for name, (events, jets, boosted) in jet_sets.items()}


def _timed_run(config, fileset, infos, spec_run, chunksize, ml_columns=None):
    """(result, events per wall second, events per CPU second) of one processor run."""
    c0 = time.process_time()
    result = run_processor(config, fileset, infos, spec_run, chunksize, ml_columns=ml_columns)
    return result, result.events_per_second, result.events / (time.process_time() - c0)


def _dnn_scores(result) -> dict[int, float]:
    """Event number -> DNN score of the nominal feature table of the run."""
    tables = result.output["features"]["ttbar"]
    event = np.concatenate([np.asarray(t["event"]) for t in tables])
    score = np.concatenate([np.asarray(t["dnn_score"]) for t in tables])
    return dict(zip(event.tolist(), score.tolist(), strict=True))


def _compare(a: dict[int, float], b: dict[int, float]) -> str:
    if set(a) != set(b):
        return f"different events ({len(a)} vs {len(b)})"
    d = np.abs(np.array([a[k] - b[k] for k in a]))
    return f"{len(d)} events, max |diff| {d.max():.2e}, changed > 1e-6: {(d > 1e-6).mean():.3f}"


def _per_model(stats, n_chunks: int) -> list[str]:
    return [f"  {model:22s} calls {c / n_chunks:6.1f}  rows {r / n_chunks:9.0f}  "
            f"seconds {s / n_chunks:7.3f}  per chunk" for model, (c, r, s) in sorted(stats.items())]


def _ml_runs(args, with_ml, plain, fileset, infos, spec_run, paths) -> list[str]:
    """Time the processor without and with ML columns side by side; the report lines."""
    from processors.ml import InferenceColumns, ml_columns_from_config

    columns, _ = ml_columns_from_config(with_ml)
    columns.client.client.load_all()  # once per process (the executor's copies share it)
    stats = _count_inference()
    # the no-ML rate again, right beside the ML runs: the ratio of neighbours in time
    _, plain_wall, plain_cpu = _timed_run(plain, fileset, infos, spec_run, args.chunksize)
    result, wall, cpu = _timed_run(with_ml, fileset, infos, spec_run, args.chunksize, columns)
    n_chunks = len(result.output["features"]["ttbar"])
    per_model = _per_model(stats, n_chunks)
    reference, _, _ = _timed_run(with_ml, fileset, infos, spec_run, args.chunksize,
                                 PerVariationColumns(columns))
    ml_branches = _branches_read(with_ml, infos, paths[0], columns)
    lines = [
        f"branches with taggers + DNN     : {len(ml_branches)}",
        f"bare uproot read (ML branches)  : {_bare_read_rate(paths, ml_branches):12.0f}",
        f"processor (again)    events/s  : {plain_wall:12.0f} wall, {plain_cpu:.0f} per CPU s",
        f"processor+ML         events/s  : {wall:12.0f} wall, {cpu:.0f} per CPU s",
        f"processor+ML / processor       : {wall / plain_wall:12.3f} wall, "
        f"{cpu / plain_cpu:.3f} per CPU s",
        f"inference per model ({n_chunks} chunks of <= {args.chunksize} events):",
        *per_model,
        "DNN score vs one variation at a time: "
        + _compare(_dnn_scores(reference), _dnn_scores(result)),
    ]
    if args.mass_window:
        low, high = (float(v) for v in args.mass_window.split(","))
        features = with_ml.ml.features.model_copy(update={"resolved_mass_window": (low, high)})
        windowed = with_ml.model_copy(update={"ml": with_ml.ml.model_copy(
            update={"features": features})})
        stats.clear()
        cut, cut_wall, cut_cpu = _timed_run(windowed, fileset, infos, spec_run, args.chunksize,
                                            InferenceColumns(columns.client, features))
        lines += [
            f"processor+ML, trijet mass in ({low:g}, {high:g}) GeV: {cut_wall:.0f} wall, "
            f"{cut_cpu:.0f} per CPU s; / processor {cut_wall / plain_wall:.3f} wall, "
            f"{cut_cpu / plain_cpu:.3f} per CPU s",
            *_per_model(stats, n_chunks),
            "DNN score with the pre-filter vs without: "
            + _compare(_dnn_scores(result), _dnn_scores(cut)),
        ]
    return lines


def main() -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000, help="tt̄ events to generate")
    ap.add_argument("--chunksize", type=int, default=50_000)
    ap.add_argument("--ml", action="store_true", help="also time the processor with ML columns")
    ap.add_argument("--mass-window", default=None,
                    help="LOW,HIGH GeV: also run --ml with this trijet-mass pre-filter")
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

        ml_lines: list[str] = []
        if args.ml:
            ml_lines = _ml_runs(args, with_ml, plain, fileset, infos, spec_run, paths)

    print(f"generated tt̄ events             : {args.events}")
    print(f"branches the processor reads    : {len(branches)}")
    print(f"generator     events/s per core : {gen_rate:12.0f} (wall), "
          f"{gen_cpu_rate:.0f} (per CPU second)")
    print(f"processor     events/s per worker: {proc_rate:12.0f}")
    print(f"processor, nominal only (no systematic variations): {nominal_rate:12.0f}")
    print(f"cost of all variations / nominal only: {nominal_rate / proc_rate:12.2f}")
    print(f"bare uproot read events/s       : {read_rate:12.0f}")
    print(f"processor / bare read           : {proc_rate / read_rate:12.3f}")
    for line in ml_lines:
        print(line)


if __name__ == "__main__":
    main()
