"""Scaling benchmark, all numbers from one run on the same generated files.

Prints, for the processor with every systematic variation (``--ml`` adds taggers + DNN):
events/s against the number of dask workers (one thread each), events/s per worker, the
speed-up over one worker, the ratio to the bare uproot read of the same branches, the peak
memory of each worker; the cost growth with input size (1x, 4x, 16x the events on the
largest worker count); and the disk the generator writes per fb^-1 of pseudo-data.

    python benchmarks/bench_scaling.py [--events 50000] [--workers 1,2] [--ml]

On a 16-core machine: ``--workers 1,2,4,8,16``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import uproot
from bench_spine import _bare_read_rate, _branches_read

from analysis.config import load_config
from simulation import generate_dataset
from simulation.settings import SampleSpec
from workflows.cluster import ClusterSpec
from workflows.fileset import build_fileset
from workflows.pipeline import dataset_infos, run_processor


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB. From /proc's VmHWM where there is one:
    getrusage's ru_maxrss survives exec, so a spawned dask worker would report at least its
    parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed_run(config, paths: list[str], workers: int, chunksize: int) -> tuple[float, float]:
    """(events/s, largest worker peak RSS in MB) on a fresh LocalCluster of ``workers``."""
    import logging

    from distributed import Client, LocalCluster

    datasets = {"ttbar": config.datasets["ttbar"].model_copy(update={"files": paths,
                                                                    "generator": None})}
    config = config.model_copy(update={"datasets": datasets})
    fileset = build_fileset(config, {"ttbar": paths}, skip_bad_files=False)
    infos = dataset_infos(config, fileset, Path("."))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        spec = ClusterSpec("dask", scheduler=cluster.scheduler_address, status=False,
                           dashboard=False)
        result = run_processor(config, fileset, infos, spec, chunksize)
        rss = max(client.run(_peak_rss_mb).values())
    return result.events_per_second, rss


def _disk_per_fb(config, folder: Path, luminosity_fb: float) -> float:
    """MB written per fb^-1 of pseudo-data (the largest sample of a run)."""
    spec = config.datasets["data"].generator
    paths = generate_dataset(spec, folder, luminosity_fb=luminosity_fb, settings=config.generator)
    return sum(Path(p).stat().st_size for p in paths) / 1e6 / luminosity_fb


def main() -> None:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=50_000, help="tt̄ events of the 1x sample")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--chunksize", type=int, default=25_000)
    ap.add_argument("--ml", action="store_true", help="with taggers + event DNN")
    ap.add_argument("--lumi", type=float, default=0.2, help="fb^-1 for the disk measurement")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]

    config = load_config()
    if not args.ml:
        config = config.model_copy(update={"ml": None})
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for factor in (1, 4, 16):
            spec = SampleSpec(process="ttbar", n_events=args.events * factor, seed=17 + factor,
                              n_files=max(2, 2 * factor))
            sizes[factor] = [str(p) for p in generate_dataset(
                spec, Path(tmp) / f"x{factor}", luminosity_fb=config.luminosity_fb,
                settings=config.generator)]
        base = sizes[1]
        with_plain = config.model_copy(update={"datasets": {
            "ttbar": config.datasets["ttbar"].model_copy(update={"files": base,
                                                                "generator": None})}})
        infos = dataset_infos(with_plain, build_fileset(with_plain, {"ttbar": base}, False),
                              Path("."))
        read_rate = _bare_read_rate(base, _branches_read(with_plain, infos, base[0]))

        written = sum(uproot.open(p)["Events"].num_entries for p in base)
        print(f"processor {'with' if args.ml else 'without'} ML, all systematic variations; "
              f"{args.events} tt̄ events passing the generator filter, {written} written after "
              f"its skim (the events/s below are of these), chunks of {args.chunksize}")
        print(f"bare uproot read of the same branches: {read_rate:.0f} events/s (one core)")
        print("workers  events/s  per worker  speed-up  /bare read  peak RSS per worker [MB]")
        rates = {}
        for n in workers:
            rate, rss = _timed_run(config, base, n, args.chunksize)
            rates[n] = rate
            print(f"{n:7d} {rate:9.0f} {rate / n:11.0f} {rate / rates[workers[0]]:9.2f} "
                  f"{rate / read_rate:11.3f} {rss:12.0f}")
        top = workers[-1]
        print(f"input size on {top} workers: filter-passing events  events/s  time [s]  "
              "time / 1x time")
        times = {}
        for factor, paths in sizes.items():
            t0 = time.perf_counter()
            rate, _ = _timed_run(config, paths, top, args.chunksize)
            times[factor] = time.perf_counter() - t0
            print(f"{factor:>24d}x {args.events * factor:8d} {rate:9.0f} {times[factor]:9.1f} "
                  f"{times[factor] / times[1]:14.2f}")
        disk = _disk_per_fb(config, Path(tmp) / "data", args.lumi)
        print(f"pseudo-data written: {disk:.0f} MB per fb^-1 (generated at {args.lumi} fb^-1)")
        print(f"this process peak RSS: {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
