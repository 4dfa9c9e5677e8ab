"""Generator throughput (written events/s per core) and per-process yields.

Run: ``python benchmarks/bench_generator.py [--events N] [--luminosity L]``. Prints
events/s for ttbar with the default generator HT filter and for tttt (generation + detector
+ writing, one process), also with the allocator left at its defaults
(:mod:`simulation.memory`), then sigma x filter efficiency and the preselected cross section
(HT >= 700, >= 6 jets, >= 2 b tags, lepton veto) per process, in pb (= events per pb^-1),
and last the disk and CPU time per fb^-1 of pseudo-data and per 10k tt events with the
shipped config's generator (skim, PF candidates for tagged jets only) and with every event
and PF candidate written, side by side. ``--zstd-levels 1,6,9`` prints only the disk and
CPU time per fb^-1 of the pseudo-data at each ZSTD compression level.
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


def _written(spec: SampleSpec, settings: GeneratorSettings, luminosity_fb: float
             ) -> tuple[float, float, int]:
    """(MB on disk, CPU seconds, events written) of one generated sample."""
    import uproot

    with tempfile.TemporaryDirectory() as d:
        c0 = time.process_time()
        paths = generate_dataset(spec, Path(d), luminosity_fb=luminosity_fb, settings=settings)
        cpu = time.process_time() - c0
        events = sum(uproot.open(p)["Events"].num_entries for p in paths)
        return sum(p.stat().st_size for p in paths) / 1e6, cpu, events


def skim_comparison(luminosity_fb: float, n_ttbar: int) -> None:
    """Disk and generation time with the shipped skim against writing everything."""
    from analysis.config import load_config

    config = load_config(None)
    shipped = config.generator
    everything = shipped.model_copy(update={"skim": None, "pfcands_fatjet_pt_min": None,
                                            "write_link_pt": True})
    data = config.datasets["data"].generator
    ttbar = SampleSpec(process="ttbar", n_events=n_ttbar, seed=5)
    print(f"\npseudo-data at {luminosity_fb} fb^-1 and {n_ttbar} tt events passing the "
          "generator filter, one process")
    print(f"{'generator':22s} {'data MB/fb':>10s} {'CPU s/fb':>9s} {'events/fb':>10s} "
          f"{'tt MB/10k':>10s} {'tt CPU s/10k':>12s} {'tt written':>10s}")
    rows = {}
    for name, settings in (("everything written", everything), ("shipped (skim)", shipped)):
        mb, cpu, ev = _written(data, settings, luminosity_fb)
        t_mb, t_cpu, t_ev = _written(ttbar, settings, 1.0)
        rows[name] = (mb / luminosity_fb, cpu / luminosity_fb)
        scale = 10_000 / n_ttbar
        print(f"{name:22s} {mb / luminosity_fb:10.0f} {cpu / luminosity_fb:9.1f} "
              f"{ev / luminosity_fb:10.0f} {t_mb * scale:10.1f} {t_cpu * scale:12.1f} "
              f"{t_ev:10d}")
    (a_mb, a_cpu), (b_mb, b_cpu) = rows.values()
    print(f"shipped / everything: disk {b_mb / a_mb:.3f}, CPU time {b_cpu / a_cpu:.3f}")


def compression_levels(luminosity_fb: float, levels: list[int]) -> None:
    """Disk and generation CPU time of the shipped pseudo-data per ZSTD level (lossless:
    the events are the same; only the file's bytes change)."""
    import uproot

    import simulation.writer
    from analysis.config import load_config

    config = load_config(None)
    data = config.datasets["data"].generator
    shipped = simulation.writer.COMPRESSION
    print(f"\npseudo-data at {luminosity_fb} fb^-1, shipped generator, per ZSTD level")
    print(f"{'level':>5s} {'MB/fb':>8s} {'CPU s/fb':>9s}")
    try:
        for level in levels:
            simulation.writer.COMPRESSION = uproot.ZSTD(level)
            mb, cpu, _ = _written(data, config.generator, luminosity_fb)
            print(f"{level:5d} {mb / luminosity_fb:8.1f} {cpu / luminosity_fb:9.1f}")
    finally:
        simulation.writer.COMPRESSION = shipped


def main() -> None:
    """Print the benchmark numbers."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--luminosity", type=float, default=0.5,
                    help="fb^-1 of pseudo-data for the disk and time per fb^-1")
    ap.add_argument("--skim-only", action="store_true",
                    help="only the disk and time comparison of the skim")
    ap.add_argument("--zstd-levels", default=None,
                    help="comma-separated ZSTD levels: only the disk and CPU time per level")
    args = ap.parse_args()
    if args.zstd_levels:
        compression_levels(args.luminosity, [int(v) for v in args.zstd_levels.split(",")])
        return
    if args.skim_only:
        skim_comparison(args.luminosity, 20_000)
        return
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
    skim_comparison(args.luminosity, 20_000)


if __name__ == "__main__":
    main()
