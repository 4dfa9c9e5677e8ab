"""ABCDnn closure in every cell of a grid: does the morph reproduce the truth where it trains?

Uses the tables ``bench_abcdnn_truth.py`` caches in its ``--out`` folder (simulation, the
truth background, pseudo-data per seed). Trains one grid's ensemble on one or more of its
pseudo-datasets and prints, per cell (the five control cells and the target), the DNN-score
shape of the morphed simulation over the truth (unit area, fit binning) and its χ² against
the truth with the truth check's shape uncertainty (``analysis.abcdnn.shapes``: truth and
simulation statistics and the ensemble members' covariance, no non-closure; the last bin
left out). The pseudo-data's own statistics are not in it, so a χ² well above its ndf means
the map misses the truth, not that the data fluctuated. It also prints the pseudo-data
(minus the subtracted simulation) against the truth in each cell, which the map cannot
beat, and under each cell's ratios the pseudo-data's own ratio to the truth per bin (what a
map that followed its training data exactly would show there). A control cell
that does not close says the map's training, not its extrapolation, is what fails.
Training settings can be overridden for comparisons::

    python benchmarks/bench_abcdnn_truth.py --out /tmp/abcdnn_truth --seeds 2 --tables-only
    python benchmarks/bench_abcdnn_cells.py --out /tmp/abcdnn_truth --seed 2 --parts 0 1
    python benchmarks/bench_abcdnn_cells.py --out /tmp/abcdnn_truth --seed 2 --parts 0 1 \\
        --set '{"max_steps": 1000, "min_steps": 1000}'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.abcdnn.ensemble import train_ensembles  # noqa: E402
from analysis.abcdnn.inputs import prepare_grid  # noqa: E402
from analysis.abcdnn.regions import ALL_CELLS, TARGET, cell_label  # noqa: E402
from analysis.abcdnn.settings import ABCDnnSettings  # noqa: E402
from analysis.abcdnn.shapes import compare_shapes, template_shape, unit_shape  # noqa: E402
from analysis.abcdnn.templates import make_template  # noqa: E402
from analysis.abcdnn.truth import truth_histograms  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Train and print the per-cell closure table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="bench_abcdnn_truth's --out")
    parser.add_argument("--seed", type=int, default=2, help="pseudo-data seed (data_<seed>)")
    parser.add_argument("--split", type=int, default=5, help="as in bench_abcdnn_truth")
    parser.add_argument("--parts", type=int, nargs="+", default=[0])
    parser.add_argument("--grid", choices=["validation", "signal"], default="validation")
    parser.add_argument("--ensemble-size", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--set", default="{}", help="JSON of ABCDnn settings to override")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = ABCDnnSettings(ensemble_size=args.ensemble_size, processes=args.processes)
    settings = settings.model_copy(update=json.loads(args.set))
    grid = settings.validation_grid if args.grid == "validation" else settings.signal_grid
    k = args.split
    mc = pd.read_parquet(args.out / "mc.parquet")
    mc = mc.assign(weight=mc["weight"] / k)
    truth = pd.read_parquet(args.out / "truth.parquet")
    truth = truth.assign(weight=truth["weight"] / k)
    data = pd.read_parquet(args.out / f"data_{args.seed}.parquet")
    # the pseudo-data minus every subtracted process (tt̄tt̄ too), against the same truth
    all_minor = mc.assign(process=mc["process"].where(mc["process"] != "tttt", "ttW"))
    print(f"{args.grid} grid, settings changed: {json.loads(args.set) or 'none'}")
    for part in args.parts:
        pseudo = data[data["event"] % k == part]
        table = pd.concat([mc, pseudo.assign(process=settings.data_process)], ignore_index=True)
        start = time.perf_counter()
        ensemble = train_ensembles(
            {grid.name: (prepare_grid(table, grid, settings), 1000 * part)}, settings)[grid.name]
        print(f"pseudo-dataset {args.seed}.{part} (trained in {time.perf_counter() - start:.0f} s)"
              f"; per cell: chi2/ndf morphed vs truth | pseudo-data vs truth, "
              "morphed/truth per DNN bin")
        for cell in ALL_CELLS:
            truth_hist, _ = truth_histograms(table, truth, grid, settings, "dnn_score", cell)
            truth_shape = unit_shape(*truth_hist)
            # the truth check's shape uncertainty (simulation statistics, members' spread)
            shape, cov = template_shape(make_template(ensemble, settings.fit_bins, cell),
                                        nonclosure=False)
            morphed = compare_shapes((shape, cov), truth_shape)
            observed, _ = truth_histograms(all_minor, pseudo.assign(weight=1.0), grid, settings,
                                           "dnn_score", cell)
            observed_shape = unit_shape(*observed)
            data_cmp = compare_shapes(observed_shape, truth_shape)
            t = truth_shape[0]
            ratio = np.divide(shape, t, out=np.full_like(t, np.nan), where=t > 0)
            data_ratio = np.divide(observed_shape[0], t, out=np.full_like(t, np.nan), where=t > 0)
            print(f"  {cell_label(cell, grid):12s} {morphed.chi2:6.1f}/{morphed.ndf} | "
                  f"{data_cmp.chi2:6.1f}/{data_cmp.ndf}  {' '.join(f'{r:5.2f}' for r in ratio)}"
                  f"{'  (target)' if cell == TARGET else ''}", flush=True)
            print(f"  {'pseudo-data':12s} {'':16s}  {' '.join(f'{r:5.2f}' for r in data_ratio)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
