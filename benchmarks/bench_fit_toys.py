"""Toys of the fit model: pull of μ̂ at μ = 1 and the CLs coverage at the expected limit.

    python benchmarks/bench_fit_toys.py                          # output/fit/workspace.json
    python benchmarks/bench_fit_toys.py --workspace W.json --toys 1000 --coverage-toys 300

Toys are drawn from the workspace's model at nominal nuisances (pyhf's pdf sampling,
auxiliary data included) and fitted with MINUIT; prints the pull mean and width (expected
0 and 1) and the fraction of toys at μ = expected limit whose CLs upper limit covers that μ
(CLs over-covers: expect ≥ the confidence level), and the time per toy fit.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from analysis.fit.limit import upper_limit
from analysis.fit.results import asimov_data, mle_fit, model_and_data
from analysis.fit.settings import FitSettings
from analysis.fit.toys import limit_coverage, toy_pulls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("output/fit/workspace.json"))
    parser.add_argument("--toys", type=int, default=500)
    parser.add_argument("--coverage-toys", type=int, default=200)
    parser.add_argument("--mu", type=float, default=1.0)
    args = parser.parse_args()
    model, _ = model_and_data(json.loads(args.workspace.read_text()))
    start = time.perf_counter()
    pulls = toy_pulls(model, args.mu, args.toys, seed=3)
    per_toy = (time.perf_counter() - start) / args.toys
    print(f"{args.toys} toys at mu={args.mu:g}: pull mean {pulls['mean']:+.3f} "
          f"+/- {pulls['mean_error']:.3f}, width {pulls['width']:.3f}, failed fits "
          f"{pulls['failed']} ({per_toy * 1e3:.0f} ms per toy fit)")
    settings = FitSettings()
    background_only = asimov_data(model, 0.0)
    sigma = mle_fit(model, background_only, settings).uncertainty[model.config.poi_index]
    expected = upper_limit(model, background_only, settings, 0.0, sigma).expected_limit[2]
    coverage = limit_coverage(model, float(expected), args.coverage_toys)
    print(f"CLs coverage at the expected limit mu={expected:.3f}: {coverage['coverage']:.3f} "
          f"of {coverage['toys']} toys (confidence level {coverage['level']:.2f})")


if __name__ == "__main__":
    main()
