"""Generator throughput (written events/s per core) and per-process yields.

Run: ``python benchmarks/bench_generator.py [--events N]``. Prints events/s for ttbar with
the default generator HT filter and for tttt (generation + detector + writing, one
process), also with the allocator left at its defaults (:mod:`simulation.memory`), then
sigma x filter efficiency and the preselected cross section (HT >= 700, >= 6 jets, >= 2 b
tags, lepton veto) per process, in pb (= events per pb^-1).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

import simulation.api
from simulation import GeneratorSettings, SampleSpec, generate_dataset
from simulation.events import build_events
from simulation.mc import filter_efficiency, generate_filtered
from simulation.settings import MC_PROCESSES


def throughput(process: str, n: int) -> tuple[float, float]:
    """Written events per wall-clock second and per CPU second (one process, one file).

    The CPU-time figure is the per-core rate even when other jobs share the machine.
    """
    with tempfile.TemporaryDirectory() as d:
        t0, c0 = time.perf_counter(), time.process_time()
        generate_dataset(SampleSpec(process=process, n_events=n, seed=1), Path(d),
                         luminosity_fb=1.0)
        return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def preselection_efficiency(process: str, n: int, s: GeneratorSettings) -> float:
    """Fraction of filter-passing events that pass the analysis preselection."""
    g = generate_filtered(np.random.default_rng(2), process, n, s)
    b = build_events(np.random.default_rng(3), g.table, process, s, is_data=False)
    j = b.collections["Jet"]
    good = j["valid"] & (j["pt"] > 30) & (np.abs(j["eta"]) < 2.4) & (j["jetId"] >= 2)
    ht = (j["pt"] * good).sum(axis=1)
    nb = (good & (j["btagDeepFlavB"] > s.detector.btag_wp)).sum(axis=1)
    veto = np.zeros(len(ht), bool)
    for name, tight in (("Electron", "cutBased"), ("Muon", "tightId")):
        lep = b.collections[name]
        ok = lep["valid"] & (lep["pt"] > 15) & (np.abs(lep["eta"]) < 2.4)
        ok &= (lep[tight] >= 4) if name == "Electron" else lep[tight]
        veto |= (ok & (lep["pfRelIso03_all"] < 0.15)).any(axis=1)
    sel = (ht >= 700) & (good.sum(axis=1) >= 6) & (nb >= 2) & ~veto
    return float(sel.mean())


def main() -> None:
    """Print the benchmark numbers."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=50_000)
    args = ap.parse_args()
    tuned = simulation.api.generation_allocator
    for proc in ("ttbar", "tttt"):
        throughput(proc, 2000)  # warm-up (imports, compiled kernels, caches)
        wall, cpu = throughput(proc, args.events)
        simulation.api.generation_allocator = contextlib.nullcontext
        wall_d, cpu_d = throughput(proc, args.events)
        simulation.api.generation_allocator = tuned
        print(f"{proc}: {cpu:,.0f} written events per CPU-second ({wall:,.0f} per wall-clock "
              f"second; {args.events} events, default HT filter); with the allocator at its "
              f"defaults {cpu_d:,.0f} ({wall_d:,.0f}), ratio {cpu / cpu_d:.2f}")
    s = GeneratorSettings()
    print(f"\nHT filter {s.ht_filter_gev} GeV; yields in pb (= events per pb^-1)")
    print(f"{'process':8s} {'xsec':>10s} {'eff_filter':>10s} {'xsec*eff':>10s} "
          f"{'eff_presel':>10s} {'presel/fb':>10s}")
    for proc in MC_PROCESSES:
        eff = filter_efficiency(np.random.default_rng(1), proc, s)
        pre = preselection_efficiency(proc, 20_000, s)
        xs = s.processes[proc].xsec_pb
        print(f"{proc:8s} {xs:10.4g} {eff:10.4f} {xs * eff:10.4g} {pre:10.4f} "
              f"{xs * eff * pre * 1000:10.4g}")


if __name__ == "__main__":
    main()
