"""The CLs limit two ways on one workspace, side by side: cabinetry's Brent searches
(``cabinetry.fit.limit``, six searches to 0.01 in μ) and the shared hypothesis-test grid of
:mod:`analysis.fit.limit`; prints both limits, their difference in % and the seconds and
hypothesis tests of each.

    python benchmarks/bench_fit_limit.py                      # output/fit/workspace.json
    python benchmarks/bench_fit_limit.py --workspace W.json --points 14
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cabinetry
import numpy as np

from analysis.fit.limit import upper_limit
from analysis.fit.results import mle_fit, model_and_data
from analysis.fit.retry import retrying
from analysis.fit.settings import FitSettings

LABELS = ("observed", "exp -2s", "exp -1s", "expected", "exp +1s", "exp +2s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("output/fit/workspace.json"))
    parser.add_argument("--points", type=int, default=FitSettings().limit_points)
    args = parser.parse_args()
    settings = FitSettings(limit_points=args.points)
    model, data = model_and_data(json.loads(args.workspace.read_text()))
    fit = mle_fit(model, data, settings)
    i = model.config.poi_index
    mu_hat, sigma = fit.bestfit[i], fit.uncertainty[i]
    print(f"mu_hat = {mu_hat:.2f} +/- {sigma:.2f}")

    start = time.perf_counter()
    grid = upper_limit(model, data, settings, mu_hat, sigma)
    grid_s = time.perf_counter() - start
    bounds = [tuple(b) for b in model.config.suggested_bounds()]
    bounds[i] = (0.0, bounds[i][1])
    start = time.perf_counter()
    brent = retrying(lambda strategy: cabinetry.fit.limit(
        model, data, bracket=(0.2 * sigma, max(mu_hat, 0) + 6 * sigma), par_bounds=bounds,
        strategy=strategy), settings, "cabinetry's limit")
    brent_s = time.perf_counter() - start
    a = np.array([grid.observed_limit, *grid.expected_limit])
    b = np.array([brent.observed_limit, *brent.expected_limit])
    print(f"{'limit':>9} {'grid':>10} {'brent':>10} {'diff %':>7}")
    for label, x, y in zip(LABELS, a, b, strict=True):
        print(f"{label:>9} {x:10.3f} {y:10.3f} {100 * (x / y - 1):+7.2f}")
    print(f"grid: {len(grid.poi_values)} hypothesis tests, {grid_s:.1f} s; "
          f"brent: {len(brent.poi_values)} hypothesis tests, {brent_s:.1f} s; "
          f"ratio {brent_s / grid_s:.1f}x")


if __name__ == "__main__":
    main()
