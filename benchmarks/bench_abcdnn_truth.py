"""ABCDnn against the truth: every number of the full truth check, over several seeds.

Builds real feature tables (generator → processor with taggers and event DNN): the
simulated samples once, a ``truth_background`` sample (the true tt̄ + QCD world,
independent of every pseudo-dataset) and pseudo-data per seed, each cut into ``--split``
independent pseudo-datasets; then, per pseudo-dataset, runs the ABCDnn step (both grids,
full ensemble, training seed varied with the pseudo-data)
and prints, for both target cells and both variables (DNN score, log HT): the
shape-only χ² of raw tt̄ and of the morphed template vs the truth, their ratio, the
normalization pull, and the per-bin pulls of the signal target cell with their mean and
width over all pseudo-datasets (coverage). It also prints the raw-vs-truth shape χ²/ndf of every
cell of both grids. Tables are cached as parquet in the output folder::

    python benchmarks/bench_abcdnn_truth.py --out /tmp/abcdnn_truth --lumi 1 --seeds 2 --split 5
    python benchmarks/bench_abcdnn_truth.py --out /tmp/abcdnn_truth --identity   # null test

``--identity`` replaces every map by the identity (raw tt̄ shapes, extended-ABCD yields).
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

from analysis.abcdnn.ensemble import GridEnsemble  # noqa: E402
from analysis.abcdnn.settings import ABCDnnSettings  # noqa: E402
from analysis.abcdnn.truth import raw_shape_table  # noqa: E402
from workflows.truth_check import (  # noqa: E402
    closure_numbers,
    pseudo_data_table,
    simulation_tables,
    truth_table,
)


def identity_morph(self: GridEnsemble, cell: tuple[int, int]) -> list:
    """Stand-in for :meth:`GridEnsemble.morph_cell`: every member is the identity map."""
    mask = self.data.mc.in_cell(cell)
    return [(self.data.mc.score[mask], self.data.mc.ht[mask])] * len(self.members)


def cached(path: Path, build) -> pd.DataFrame:
    """The parquet table at ``path``, built (and written) on first use."""
    if path.exists():
        return pd.read_parquet(path)
    table = build()
    table.to_parquet(path)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lumi", type=float, default=1.0, help="fb^-1 per pseudo-dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2])
    parser.add_argument("--split", type=int, default=5,
                        help="cut each generated pseudo-dataset into this many independent "
                             "ones (by event number), each at lumi/split")
    parser.add_argument("--truth-seed", type=int, default=5000)
    parser.add_argument("--ensemble-size", type=int, default=10)
    parser.add_argument("--identity", action="store_true", help="identity map (null test)")
    parser.add_argument("--no-plots", action="store_true", help="no figures")
    parser.add_argument("--tables-only", action="store_true", help="build the tables, stop")
    parser.add_argument("--only", type=int, nargs="+", default=None,
                        help="run these pseudo-datasets only (indices; results_<i>.json), "
                             "e.g. in parallel processes; --combine prints them together")
    parser.add_argument("--combine", action="store_true",
                        help="print the coverage of all results_<i>.json in --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    mc = cached(args.out / "mc.parquet", lambda: simulation_tables(args.out / "mc", args.lumi))
    # one truth sample for all seeds (truth seed differs from every pseudo-data seed)
    truth = cached(args.out / "truth.parquet",
                   lambda: truth_table(args.out / "truth", args.lumi, args.truth_seed))
    data = {s: cached(args.out / f"data_{s}.parquet",
                      lambda s=s: pseudo_data_table(args.out / "data", args.lumi, s))
            for s in args.seeds}
    print(f"tables ready after {time.perf_counter() - t0:.0f} s: simulation {len(mc)}, "
          f"truth {len(truth)}, pseudo-data {[len(d) for d in data.values()]} rows")
    if args.tables_only:
        return 0
    base = ABCDnnSettings(ensemble_size=args.ensemble_size)
    if args.identity:
        GridEnsemble.morph_cell = identity_morph
        # the maps are never applied: a minimal training keeps the ensemble's structure
        base = base.model_copy(update={"min_steps": 1, "max_steps": 1})
    # Independent pseudo-datasets at lumi/split: disjoint random subsets of the events
    # (a random subset of Poisson-distributed events is again Poisson and independent of
    # the rest); simulation and truth weights are scaled to the same luminosity.
    k = args.split
    mc = mc.assign(weight=mc["weight"] / k)
    truth = truth.assign(weight=truth["weight"] / k)
    datasets = {f"{s}.{part}": d[d["event"] % k == part]
                for s, d in data.items() for part in range(k)}
    print(f"{len(datasets)} pseudo-datasets at {args.lumi / k:.3g} fb^-1 each; truth sample "
          f"at {args.lumi:g} fb^-1 scaled to it")
    for key, grid in (("validation", base.validation_grid), ("signal", base.signal_grid)):
        print(f"raw tt vs truth, shape chi2/ndf per cell ({key} grid):")
        for cell, row in raw_shape_table(mc, truth, grid, base).items():
            print(f"  {cell:12s} DNN score {row['dnn_score']:6.1f}   log HT {row['ht']:6.1f}")
    results = {}
    stem = "results_identity" if args.identity else "results"
    for index, (seed, pseudo) in enumerate(datasets.items()):
        if args.combine:
            path = args.out / f"{stem}_{index}.json"
            if path.exists():
                results[seed] = json.loads(path.read_text())
            continue
        if args.only is not None and index not in args.only:
            continue
        settings = base.model_copy(update={"seed": base.seed + 1000 * index})
        start = time.perf_counter()
        out = closure_numbers(mc, pseudo, truth, args.out / f"{stem}_run_{seed}", settings,
                              plots=index == 0 and not (args.identity or args.no_plots))
        results[seed] = out
        (args.out / f"{stem}_{index}.json").write_text(json.dumps(out, indent=1))
        print(f"pseudo-dataset {seed} ({time.perf_counter() - start:.0f} s):")
    for seed, out in results.items():
        print(f"pseudo-dataset {seed}:")
        for name, n in out["closure"].items():
            print(f"  {name:22s} raw {n['raw_shape_chi2']:6.1f}/{n['ndf']} "
                  f"morphed {n['shape_chi2']:6.1f}/{n['ndf']} (p {n['shape_p']:.3f}) "
                  f"raw/morphed {n['improvement']:5.1f}  yield {n['predicted_yield']:.0f}"
                  f"±{n['predicted_yield_unc']:.0f} vs {n['true_yield']:.0f}"
                  f"±{n['true_yield_unc']:.0f} (pull {n['normalization_pull']:+.2f}, "
                  f"p {n['normalization_p']:.3f}; norm. non-closure "
                  f"{100 * n.get('normalization_nonclosure', 0.0):.1f} %)  "
                  f"{'PASS' if n['passed'] else 'FAIL'}")
    if results:
        print("passes per check (shape p >= 0.01, normalization p >= 0.01, raw/morphed >= 3):")
        for name in next(iter(results.values()))["closure"]:
            flags = ["PASS" if r["closure"][name]["passed"] else "FAIL" for r in results.values()]
            print(f"  {name:22s} {flags.count('PASS')}/{len(flags)}  {' '.join(flags)}")
    for variable in ("dnn_score", "ht"):
        if not results:
            break
        pulls = np.concatenate([r["pulls"][variable] for r in results.values()])
        print(f"coverage, signal target cell, {variable}: {len(pulls)} bin pulls over "
              f"{len(results)} pseudo-datasets: mean {pulls.mean():+.2f}, width "
              f"{pulls.std(ddof=1):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
