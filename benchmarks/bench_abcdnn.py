"""Training time of the ABCDnn ensemble (both grids) for N events of a toy feature table.

    python benchmarks/bench_abcdnn.py --events 1000000              # CPU, and GPU if present
    python benchmarks/bench_abcdnn.py --events 100000 --device cpu

Prints the number of events, the steps per training, the wall time per grid and in total,
and the toy closure χ²/ndf of each grid, for every device asked for. ``--device all`` (the
default) times the CPU and, when a CUDA device is present, the GPU; without one it says
so instead of a GPU time. Defaults are the analysis defaults.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

from analysis.abcdnn.ensemble import train_ensemble
from analysis.abcdnn.inputs import prepare_grid
from analysis.abcdnn.regions import TARGET
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.templates import closure_chi2, histogram, make_template, target_histogram
from analysis.abcdnn.toy import make_toy_features
from analysis.abcdnn.training import n_steps

#: Rows per toy cell per unit of ``n_mc = n_data``: MC 1 + data 1.1 + signal MC 0.4; the
#: table has 8 cells (six of the validation grid, the two N jets ≥ 9 cells of the signal grid).
_ROWS_PER_UNIT = 8 * 2.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="rows in total")
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--ensemble", type=int, default=None, help="override ensemble size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    update = {}
    if args.ensemble:
        update["ensemble_size"] = args.ensemble
    settings = ABCDnnSettings().model_copy(update=update)
    per_cell = max(int(args.events / _ROWS_PER_UNIT), 50)
    table = pd.concat([
        make_toy_features(settings.validation_grid, n_mc=per_cell, n_data=per_cell, seed=1),
        make_toy_features(settings.signal_grid, n_mc=per_cell, n_data=per_cell,
                          seed=2).query("n_jets >= 9"),
    ], ignore_index=True)
    print(f"rows {len(table)}  threads {args.threads}  ensemble {settings.ensemble_size}  "
          f"batch {settings.batch_size}")
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("device cuda: no CUDA device on this machine - GPU training time NOT "
                  "measured")
            continue
        _time_device(table, settings.model_copy(update={"device": device}))


def _time_device(table: pd.DataFrame, settings: ABCDnnSettings) -> None:
    device = settings.device
    if device == "cuda":
        print(f"device cuda: {torch.cuda.get_device_name()}")
    total = 0.0
    for grid in (settings.validation_grid, settings.signal_grid):
        data = prepare_grid(table, grid, settings)
        start = time.perf_counter()
        ensemble = train_ensemble(data, settings)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        total += seconds
        template = make_template(ensemble, settings.fit_bins)
        truth = target_histogram(ensemble, TARGET, settings.fit_bins)
        mc = data.mc.in_cell(TARGET)
        raw = histogram(data.mc.score[mc], data.mc.weight[mc], np.asarray(settings.fit_bins))
        chi2 = closure_chi2(template, truth, raw)
        events = len(data.mc.weight) + len(data.target.weight)
        print(f"device {device:4s} grid {grid.name:10s} events {events:8d}  "
              f"steps/member {n_steps(data, settings):4d}  train {seconds:7.1f} s  "
              f"toy closure chi2/ndf {chi2['chi2_ndf']:.2f}  raw/morphed chi2 "
              f"{chi2['improvement']:.1f}")
    print(f"device {device}: total training time {total:.1f} s (both grids, "
          f"{settings.ensemble_size} members each)")


if __name__ == "__main__":
    main()
