"""The processor against a minimal coffea processor, all numbers from one run on the same files.

    python benchmarks/bench_processor_speed.py [--repeats 3] [--chunksize 50000] [--ml]

On the default config's tt̄ files (generated into its cache once, then reused) it times, each
through a coffea Runner with the iterative executor (one process), best of ``--repeats``
rounds taken in turn so that load on a shared machine hits all alike:

* the bare uproot read of exactly the branches the minimal processor reads;
* a minimal coffea processor written for the comparison (below): trigger, lepton veto, jet
  selection, N jets, N b, HT, one histogram;
* this processor with nominal corrections only, and with every systematic variation
  (ML columns off: their cost is the inference benchmark's subject; ``--ml`` adds them);

each as events/s and as a ratio to the minimal processor. Then a profile of one chunk with
all variations, its columns read beforehand: seconds in the selection, the jet variations,
the weights, the histogram fills and the feature table.

``--baseline REV`` (a git revision, e.g. the commit before a change; may be repeated) adds,
in every round, that version's processor timed the same way (its sources unpacked with
``git archive`` into a temporary folder and run in a subprocess with this benchmark, given the
same files: its own generator may make others), and the speed-up against it.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import awkward as ak
import hist
import numpy as np
import uproot
from coffea import processor
from coffea.nanoevents import NanoEventsFactory

from analysis.config import AnalysisConfig, load_config
from simulation import generate_dataset
from workflows.fileset import build_fileset
from workflows.pipeline import PipelineSchema, dataset_infos


class MinimalProcessor(processor.ProcessorABC):
    """The least a multijet selection does in coffea: the yardstick of the benchmark."""

    def __init__(self, config: AnalysisConfig):
        self.cfg = config

    def process(self, events: ak.Array) -> dict[str, Any]:
        cfg = self.cfg
        fired = np.zeros(len(events), dtype=bool)
        for path in cfg.trigger.paths["synthetic"]:
            fired |= ak.to_numpy(events.HLT[path.removeprefix("HLT_")])
        ele, mu = events.Electron, events.Muon
        veto = (ak.any((ele.pt > cfg.leptons.pt_min) & (ele.cutBased >= 4), axis=1)
                | ak.any((mu.pt > cfg.leptons.pt_min) & mu.tightId
                         & (mu.pfRelIso04_all < cfg.leptons.muon_iso_max), axis=1))
        jets = events.Jet
        jets = jets[(jets.pt > cfg.jets.pt_min) & (abs(jets.eta) < cfg.jets.abs_eta_max)
                    & ((jets.jetId & cfg.jets.jet_id_bit) != 0)]
        n_jets = ak.num(jets)
        n_b = ak.sum(jets.btagDeepFlavB > cfg.btag.working_points["synthetic"], axis=1)
        ht = ak.sum(jets.pt, axis=1)
        sel = fired & ~ak.to_numpy(veto) & ak.to_numpy((n_jets >= 6) & (n_b >= 2) & (ht >= 700))
        h = hist.Hist.new.Reg(30, 700, 3100, name="ht").Weight()
        h.fill(ht=ak.to_numpy(ht[sel]), weight=ak.to_numpy(events.genWeight[sel]))
        return {"ht": h, "events": len(events)}

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


def _run(proc: processor.ProcessorABC, paths: list[str], chunksize: int) -> float:
    """Events/s of a Runner (iterative executor) over ``paths``, preprocessing included."""
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False),
                              schema=PipelineSchema, chunksize=chunksize)
    fileset = {"ttbar": {"files": {p: "Events" for p in paths}}}
    start = time.perf_counter()
    out = runner(fileset, processor_instance=proc, treename="Events")
    seconds = time.perf_counter() - start
    n = out["events"] if "events" in out else sum(out["entries"]["ttbar"].values())
    return n / seconds


def _branches_read(proc: processor.ProcessorABC, path: str) -> list[str]:
    """The branches ``proc`` materializes, from NanoEvents' access log."""
    log: list = []
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=PipelineSchema, mode="virtual", access_log=log,
        entry_stop=1000, metadata={"dataset": "ttbar", "filename": path}).events()
    proc.process(events)
    return sorted({entry.branch for entry in log})


def _bare_read(paths: list[str], branches: list[str]) -> float:
    """Events/s of reading and decompressing exactly ``branches`` with uproot."""
    start, n = time.perf_counter(), 0
    for path in paths:
        with uproot.open(path) as f:
            n += len(f["Events"].arrays(branches, library="ak"))
    return n / (time.perf_counter() - start)


# where the processor's time goes: (part, module path fragment, function names)
PARTS = [
    ("selection", "analysis/selection.py", ("preselect_flat", "preselect", "has_veto_lepton",
                                            "trigger_decision")),
    ("selection", "processors/compat.py", ("adapt_jets",)),
    ("jet variations", "analysis/variations.py", ("varied_pt_mass", "jet_variations")),
    ("weights", "analysis/weights.py", ("event_weights",)),
    ("histogram fills", "processors/fills.py", ("add", "bin_index", "histograms", "yields")),
    ("histogram fills", "processors/fourtops.py", ("_fill",)),
    ("feature table", "processors/fourtops.py", ("_columns", "_identity")),
    ("ML columns", "processors/ml.py", ("__call__", "boosted")),
]


def _profile(proc: processor.ProcessorABC, path: str, chunksize: int) -> None:
    """Seconds per part of one chunk's processing (its columns read before the clock)."""
    # virtual arrays keep what they loaded: a first pass reads the columns, the second is
    # profiled (eager NanoEvents cannot build this schema's nested index branches)
    events = NanoEventsFactory.from_root(
        {path: "Events"}, schemaclass=PipelineSchema, mode="virtual", entry_stop=chunksize,
        metadata={"dataset": "ttbar", "filename": path}).events()
    proc.process(events)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(proc.process, events)
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (.., .., tottime, cumtime, ..)
    parts: dict[str, float] = {}
    for (file, _, name), (_, _, _, cumtime, _) in stats.items():
        for part, fragment, names in PARTS:
            if file.replace("\\", "/").endswith(fragment) and name in names:
                parts[part] = parts.get(part, 0.0) + cumtime
    print(f"\nprofile of one chunk ({len(events)} events, all variations, columns in memory; "
          f"profiler overhead included): {total:.2f} s")
    for part in dict.fromkeys(p for p, _, _ in PARTS):
        if part in parts:
            print(f"  {part:16s}: {parts[part]:6.2f} s  ({parts[part] / total:5.1%})")
    rest = total - sum(parts.values())
    print(f"  {'other':16s}: {rest:6.2f} s  ({rest / total:5.1%})")


def _unpack(rev: str, folder: Path) -> Path:
    """The sources of git revision ``rev`` in ``folder``, with this benchmark beside them."""
    archive = subprocess.run(["git", "archive", rev], check=True, capture_output=True).stdout
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "benchmarks").mkdir(exist_ok=True)
    shutil.copy(__file__, folder / "benchmarks" / Path(__file__).name)
    return folder


def _baseline_rates(folder: Path, chunksize: int, paths: list[str]) -> dict[str, float]:
    """Events/s of the processor in ``folder`` on ``paths`` (its own generator may differ:
    it is given the files, never asked to make them)."""
    env = {**os.environ, "PYTHONPATH": str(folder)}  # its packages before the installed ones
    out = subprocess.run([sys.executable, str(folder / "benchmarks" / Path(__file__).name),
                          "--fourtops-only", "--chunksize", str(chunksize), "--files", *paths],
                         capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"the baseline's processor failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the benchmark and print its table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3, help="rounds; the best of each is shown")
    ap.add_argument("--chunksize", type=int, default=50_000)
    ap.add_argument("--ml", action="store_true", help="also time the processor with ML columns")
    ap.add_argument("--baseline", metavar="REV", action="append",
                    help="also time the processor of git REV (may be repeated)")
    ap.add_argument("--files", nargs="+", help="the tt̄ files (default: the config's)")
    ap.add_argument("--fourtops-only", action="store_true",
                    help="time only this processor, print JSON (what --baseline runs)")
    args = ap.parse_args()

    from corrections import load_corrections
    from processors.fourtops import FourTopsProcessor

    config = load_config()
    spec = config.datasets["ttbar"].generator
    paths = args.files or [str(p) for p in generate_dataset(
        spec, Path(config.cache_dir) / "ttbar", luminosity_fb=config.luminosity_fb,
        settings=config.generator)]
    config = config.model_copy(update={"datasets": {"ttbar": config.datasets["ttbar"]}})
    plain = config.model_copy(update={"ml": None})
    fileset = build_fileset(plain, {"ttbar": paths}, skip_bad_files=False)
    infos = dataset_infos(plain, fileset, Path("."))
    corrections = load_corrections(config.corrections)
    nominal_cfg = plain.model_copy(update={
        "systematics": plain.systematics.model_copy(update={"enabled": False})})

    def fourtops(cfg: AnalysisConfig, ml: Any = None) -> FourTopsProcessor:
        return FourTopsProcessor(cfg, infos, corrections=corrections, ml_columns=ml,
                                 flavours=fileset.flavours())

    minimal = MinimalProcessor(config)
    branches = _branches_read(minimal, paths[0])
    candidates: dict[str, Any] = {
        "bare uproot read": lambda: _bare_read(paths, branches),
        "minimal coffea processor": lambda: _run(minimal, paths, args.chunksize),
        "fourtops, nominal only": lambda: _run(fourtops(nominal_cfg), paths, args.chunksize),
        "fourtops, all variations": lambda: _run(fourtops(plain), paths, args.chunksize),
    }
    if args.fourtops_only:
        _bare_read(paths, branches)
        _run(fourtops(plain), paths[:1], args.chunksize)
        print(json.dumps({k: candidates[k]() for k in list(candidates)[2:]}))
        return
    if args.ml:
        from processors.ml import ml_columns_from_config

        ml_columns, _ = ml_columns_from_config(config)
        candidates["fourtops + ML, all variations"] = lambda: _run(
            fourtops(config, ml_columns), paths, args.chunksize)
    _bare_read(paths, branches)  # warm-up: page cache,
    _run(fourtops(plain), paths[:1], args.chunksize)  # payloads, imports
    best: dict[str, float] = {}
    revisions = args.baseline or []
    with tempfile.TemporaryDirectory() as tmp:
        baselines = {rev: _unpack(rev, Path(tmp) / rev) for rev in revisions}
        for _ in range(args.repeats):
            for name, fn in candidates.items():
                best[name] = max(best.get(name, 0.0), fn())
            for rev, folder in baselines.items():
                for name, rate in _baseline_rates(folder, args.chunksize, paths).items():
                    key = f"{rev}: {name.removeprefix('fourtops, ')}"
                    best[key] = max(best.get(key, 0.0), rate)

    print(f"tt̄ files: {len(paths)} ({fileset.total_entries} events), chunk size {args.chunksize}, "
          f"best of {args.repeats}; the minimal processor reads {len(branches)} branches")
    ref = best["minimal coffea processor"]
    for name, rate in best.items():
        print(f"{name:32s}: {rate:10.0f} events/s   {rate / ref:6.2f} x minimal")
    print(f"cost of all variations / nominal only: "
          f"{best['fourtops, nominal only'] / best['fourtops, all variations']:.2f}")
    for rev in revisions:
        for kind in ("nominal only", "all variations"):
            print(f"speed-up against {rev}, {kind}: "
                  f"{best[f'fourtops, {kind}'] / best[f'{rev}: {kind}']:.2f}")
    _profile(fourtops(plain), paths[0], args.chunksize)


if __name__ == "__main__":
    main()
