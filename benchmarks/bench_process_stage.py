"""The default run's processing time, this checkout against older revisions on the same files.

    python benchmarks/bench_process_stage.py --baseline REV [--baseline REV2] [--rounds 2]
                                             [--cache DIR] [--no-ml] [--workers 2]

What the process stage's ``summary.json`` records as ``processing_seconds`` is the wall time
of ``workflows.pipeline.run_processor``: a local dask cluster started (``--workers``
processes, the models loaded on each), every chunk of 50 000 events processed and
checkpointed, the cluster closed. This benchmark runs exactly that, with each revision's own
``run_processor``, processor, ML code, models and default config, over the same input files:
the default config's samples named by the manifests in ``--cache DIR`` (default: this
checkout's cache, generated there by this checkout if missing). The revisions' own generators
may differ (a skim, another layout), so each revision's ``run_analysis.py`` alone would not
process the same events.

An older revision is unpacked with ``git archive`` into a temporary folder and run in a
subprocess from there (so are the runs of this checkout, for symmetry), one run at a time,
interleaved round by round (this, REV, this, REV, ...): load that comes and goes on a shared
machine then hits every revision alike. Each run prints its wall seconds, events/s, the
seconds the cluster took to start, the CPU seconds of the dask worker processes (less
sensitive to other load than the wall time) and the mean 1-minute load average during the
run (its own workers included). Then every revision's output is compared with this
checkout's: every bin of every histogram and of the yields by label (values and variances),
the common cutflow steps (a newer revision may put the generator's steps in front), and the
common columns of the nominal feature tables, rows matched by (run, lumi, event).
``--no-ml`` times the processor without taggers and event DNN (the ML section off).

A revision must have ``workflows.pipeline.run_processor`` with checkpoints and
``ClusterSpec(dashboard=...)`` (c3650f4 or later).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parents[1]
CHUNKSIZE = 50_000  # run_analysis.py's default


def default_files(cache: Path | None) -> tuple[dict[str, list[str]], Path]:
    """Absolute paths of the default config's input files (from the manifests in ``cache``,
    else generated or reused by this checkout) and the cache folder."""
    from analysis.config import load_config
    from workflows.pipeline import _default_dir, input_files

    config = load_config(None)
    if cache is None:
        files = input_files(config, _default_dir())
        return {k: [str(Path(p).resolve()) for p in v] for k, v in files.items()}, Path(
            config.cache_dir).resolve()
    files = {}
    for name in config.datasets:
        manifests = sorted((cache / name).glob("*.manifest.json"))
        if len(manifests) != 1:
            sys.exit(f"{cache / name}: expected one generator manifest, found {len(manifests)}")
        names = json.loads(manifests[0].read_text())["files"]
        files[name] = [str((cache / name / f).resolve()) for f in names]
    return files, cache.resolve()


def time_one(files_json: Path, cache: Path, out: Path, workers: int, no_ml: bool) -> None:
    """Run this folder's run_processor on the listed files; JSON row to stdout, output pickled."""
    from analysis.config import load_config
    from workflows.cluster import ClusterSpec
    from workflows.fileset import build_fileset
    from workflows.pipeline import _default_dir, checkpointer_for, dataset_infos, run_processor

    update: dict[str, Any] = {"cache_dir": str(cache)}  # the certified-lumi JSON, manifests
    if no_ml:
        update["ml"] = None
    config = load_config(None).model_copy(update=update)
    fileset = build_fileset(config, json.loads(files_json.read_text()), False)
    infos = dataset_infos(config, fileset, _default_dir())
    checkpoints = checkpointer_for(config, fileset, infos, out.parent / f"{out.stem}.checkpoints")
    spec = ClusterSpec(executor="dask", workers=workers, status=False, dashboard=False)
    loads, stop = [], threading.Event()

    def sample() -> None:  # the 1-minute load average every 5 s
        while not stop.wait(5.0):
            loads.append(os.getloadavg()[0])

    threading.Thread(target=sample, daemon=True).start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_processor(config, fileset, infos, spec, CHUNKSIZE, checkpoints=checkpoints)
    stop.set()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the closed cluster's workers
    checkpoints.clear()
    keep = ("hists", "yields", "cutflow", "features")
    with out.open("wb") as f:
        pickle.dump({k: result.output[k] for k in keep}, f)
    print(json.dumps({
        "seconds": result.seconds, "events": result.events,
        "worker_cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "load": float(np.mean(loads)) if loads else os.getloadavg()[0]}))


def _hist_slices(h: Any) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]:
    """(region, process, systematic) label -> (values, variances) with flow bins."""
    view, (regions, processes, systs) = h.view(flow=True), h.axes[:3]
    return {(r, p, s): (view.value[i, j, k], view.variance[i, j, k])
            for i, r in enumerate(regions) for j, p in enumerate(processes)
            for k, s in enumerate(systs)}


def _features(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    cols: dict[str, list[np.ndarray]] = {}
    for chunk in chunks:
        for k, v in chunk.items():
            cols.setdefault(k, []).append(np.asarray(v))
    table = {k: np.concatenate(v) for k, v in cols.items()}
    if not table:
        return table
    order = np.lexsort((table["event"], table["luminosityBlock"], table["run"]))
    return {k: v[order] for k, v in table.items()}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between two outputs, in the parts both have (empty: identical)."""
    found = []
    hists = {**{k: (a["hists"][k], b["hists"][k]) for k in set(a["hists"]) & set(b["hists"])},
             "yields": (a["yields"], b["yields"])}
    for name, (ha, hb) in sorted(hists.items()):
        sa, sb = _hist_slices(ha), _hist_slices(hb)
        if list(ha.axes[3:]) != list(hb.axes[3:]) or set(sa) != set(sb):
            found.append(f"histogram {name}: other axes or categories")
            continue
        bad = [k for k in sa if not (np.array_equal(sa[k][0], sb[k][0])
                                     and np.array_equal(sa[k][1], sb[k][1]))]
        if bad:
            worst = max(np.max(np.abs(sa[k][0] - sb[k][0])) for k in bad)
            found.append(f"histogram {name}: {len(bad)} slices differ, e.g. {bad[0]}, "
                         f"max |diff| of the values {worst:.1e}")
    for ds in sorted(set(a["cutflow"]) | set(b["cutflow"])):
        ca, cb = a["cutflow"].get(ds, {}), b["cutflow"].get(ds, {})
        steps = [s for s in ca if s in cb]
        if not steps or any(ca[s] != cb[s] for s in steps):
            found.append(f"cutflow {ds}: steps differ")
    for ds in sorted(set(a["features"]) | set(b["features"])):
        fa, fb = _features(a["features"].get(ds, [])), _features(b["features"].get(ds, []))
        keys = ("run", "luminosityBlock", "event")
        if not fa or not fb or len(fa["event"]) != len(fb["event"]) or not all(
                np.array_equal(fa[k], fb[k]) for k in keys):
            found.append(f"features {ds}: other rows")
            continue
        bad = sorted(k for k in set(fa) & set(fb) if not np.array_equal(fa[k], fb[k]))
        found += [f"features {ds}: " + ", ".join(
            f"{k} (max |diff| {np.max(np.abs(fa[k] - fb[k])):.1e})"
            if fa[k].dtype.kind == "f" else k for k in bad)] if bad else []
    return found


def _checkout(rev: str, folder: Path) -> Path:
    """The sources of git revision ``rev`` in ``folder``, with this benchmark beside them."""
    archive = subprocess.run(["git", "archive", rev], check=True, capture_output=True,
                             cwd=HERE).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "benchmarks").mkdir(exist_ok=True)
    shutil.copy(__file__, folder / "benchmarks" / Path(__file__).name)
    return folder


def _run(folder: Path, files_json: Path, cache: Path, out: Path, args: Any) -> dict[str, Any]:
    """One timed run of the revision in ``folder``, in a subprocess started there."""
    cmd = [sys.executable, str(folder / "benchmarks" / Path(__file__).name), "--one", str(out),
           "--files", str(files_json), "--cache", str(cache), "--workers", str(args.workers)]
    env = {**os.environ, "PYTHONPATH": str(folder)}  # its packages, on the workers too
    done = subprocess.run(cmd + (["--no-ml"] if args.no_ml else []), cwd=folder, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the run in {folder} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Time the revisions round by round and print the table and the output comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", action="append", default=[], metavar="REV",
                    help="a git revision to time beside this checkout (repeatable)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cache", type=Path, help="take the input files from this cache folder")
    ap.add_argument("--workers", type=int, default=2, help="dask workers (default run: 2)")
    ap.add_argument("--no-ml", action="store_true", help="without taggers and event DNN")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # a single timed run
    ap.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        time_one(args.files, args.cache, args.one, args.workers, args.no_ml)
        return
    files, cache = default_files(args.cache)
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        files_json = Path(tmp) / "files.json"
        files_json.write_text(json.dumps(files))
        folders = {"this checkout": HERE}
        folders |= {rev: _checkout(rev, Path(tmp) / rev) for rev in args.baseline}
        for r in range(args.rounds):
            for name, folder in folders.items():
                out = Path(tmp) / f"{len(rows.get(name, []))}-{folder.name}.pkl"
                row = _run(folder, files_json, cache, out, args)
                rows.setdefault(name, []).append({**row, "out": out})
                print(f"round {r + 1} {name:14s}: {row['seconds']:7.1f} s  "
                      f"{row['events'] / row['seconds']:7.0f} events/s  workers' CPU "
                      f"{row['worker_cpu_seconds']:7.1f} s  load {row['load']:.2f}", flush=True)
        print(f"\n{sum(len(v) for v in files.values())} files, "
              f"{rows['this checkout'][0]['events']} events, {args.workers} dask workers, "
              f"{'no ML' if args.no_ml else 'ML on'}; mean of {args.rounds} rounds")
        ours = rows["this checkout"]
        for name, runs in rows.items():
            seconds = np.mean([x["seconds"] for x in runs])
            cpu = np.mean([x["worker_cpu_seconds"] for x in runs])
            print(f"{name:14s}: {seconds:7.1f} s  {runs[0]['events'] / seconds:7.0f} events/s"
                  f"  workers' CPU {cpu:7.1f} s  wall / this checkout's: "
                  f"{seconds / np.mean([x['seconds'] for x in ours]):.2f}")
        with open(ours[0]["out"], "rb") as f:
            reference = pickle.load(f)
        for name, runs in rows.items():
            for i, run in enumerate(runs):
                with open(run["out"], "rb") as f:
                    found = differences(reference, pickle.load(f))
                print(f"output of {name}, round {i + 1} against this checkout's first: "
                      + ("identical" if not found else "; ".join(found)))


if __name__ == "__main__":
    main()
