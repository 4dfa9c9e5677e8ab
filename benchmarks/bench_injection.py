"""Signal injection: the whole chain (generate → process → morph → fit) on pseudo-data
generated at several signal strengths; prints μ̂ ± σ, the pull and the significances.

    python benchmarks/bench_injection.py                       # μ = 0, 300, 600 at 1 fb^-1
    python benchmarks/bench_injection.py --mu 0 5 --luminosity 3 --ensemble-size 4
    python benchmarks/bench_injection.py --mu 0 0 --data-seed 301 --independent   # two backgrounds
    python benchmarks/bench_injection.py --mu 0 --mc-seed-offset 1000   # another simulation

Each μ gets its own run folder and pseudo-data (``datasets.data.generator.signal_strength``);
the simulated samples are generated once and shared between the runs (their cache folders
are linked), so each extra μ costs the data generation, processing, ABCDnn training and fit.
The ABCDnn target subtracts the tt̄tt̄ simulation at μ = 1 from data in the control
regions, so a large injected μ also leaks signal into the background estimate. The fit
models that leakage in the extended-ABCD normalization (``fit.signal_leakage``: the
background falls by dN_D/dμ per unit μ); the morph's shape still sees the unsubtracted
signal. With ``--passes N`` each μ is fitted N times, every pass after the first
subtracting the signal at the previous pass's μ̂ (``abcdnn.subtracted_signal_strength``;
the analysis can do the same, it needs no knowledge of the injected value): only the morph
and the fit rerun, and only the shape changes (the modelled normalization does not depend
on where the signal was subtracted).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from analysis.config import default_config_path
from workflows.stages import run_pipeline

MC = ("tttt", "ttbar", "ttW", "ttZ", "ttH")


def expected_significance(workspace: Path, mu: float) -> float:
    """Discovery significance (q0) of the Asimov data at signal strength ``mu`` of a run's
    workspace: the expected significance of that injection."""
    from analysis.fit.results import asimov_data, discovery, model_and_data
    from analysis.fit.settings import FitSettings

    model, _ = model_and_data(json.loads(Path(workspace).read_text()))
    return float(discovery(model, asimov_data(model, mu), FitSettings()).observed_significance)


def _config(base: dict, mu: float, luminosity: float, ensemble: int, folder: Path,
            shared_cache: Path, data_seed: int | None, mc_seed_offset: int,
            subtracted_mu: float = 1.0) -> Path:
    data = {**base, "luminosity_fb": luminosity, "cache_dir": str(folder / "cache")}
    data["datasets"] = {k: dict(v) for k, v in base["datasets"].items()}
    for name in MC:
        gen = dict(data["datasets"][name]["generator"])
        gen["seed"] += mc_seed_offset
        data["datasets"][name]["generator"] = gen
    gen = dict(data["datasets"]["data"]["generator"])
    gen["signal_strength"] = mu
    if data_seed is not None:
        gen["seed"] = data_seed
    data["datasets"]["data"]["generator"] = gen
    data["abcdnn"] = {**base.get("abcdnn", {}), "ensemble_size": ensemble,
                      "subtracted_signal_strength": subtracted_mu}
    # μ̂ ± σ needs no impacts ranking (its ~120 fits are most of the fit stage's time)
    data["fit"] = {**base.get("fit", {}), "ranking": False}
    (folder / "cache").mkdir(parents=True, exist_ok=True)
    for name in MC:  # share the simulated samples: only the pseudo-data depend on μ
        (shared_cache / name).mkdir(parents=True, exist_ok=True)
        link = folder / "cache" / name
        if not link.exists():
            link.symlink_to((shared_cache / name).resolve(), target_is_directory=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mu", type=float, nargs="+", default=[0.0, 300.0, 600.0],
                        help="injected signal strengths; σ(μ) ≈ 180 at 1 fb^-1, so 600 is an "
                        "expected 3.3σ")
    parser.add_argument("--luminosity", type=float, default=1.0, help="fb^-1")
    parser.add_argument("--ensemble-size", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=Path("output/injection"))
    parser.add_argument("--data-seed", type=int, default=None,
                        help="seed of the pseudo-data (default: the config's, for every μ)")
    parser.add_argument("--independent", action="store_true",
                        help="the k-th μ gets pseudo-data seed + k: independent backgrounds, "
                        "not one background with more or less signal")
    parser.add_argument("--mc-seed-offset", type=int, default=0,
                        help="added to every simulated sample's seed: another realization of "
                        "the simulation (the ABCDnn template's tt̄ events)")
    parser.add_argument("--passes", type=int, default=1,
                        help="fits per μ; each pass after the first subtracts the signal at the "
                        "previous μ̂ from the ABCDnn control regions")
    args = parser.parse_args()
    base = yaml.safe_load(default_config_path().read_text())
    data_seed = args.data_seed or base["datasets"]["data"]["generator"]["seed"]
    tag = f"lumi{args.luminosity:g}" + (f"_mcseed{args.mc_seed_offset}"
                                        if args.mc_seed_offset else "")
    shared = args.workdir / f"mc_cache_{tag}"
    rows = []
    for k, mu in enumerate(args.mu):
        seed = data_seed + k if args.independent else data_seed
        folder = args.workdir / f"mu{mu:g}_{tag}_data{seed}"
        subtracted = 1.0
        for n in range(args.passes):
            config = _config(base, mu, args.luminosity, args.ensemble_size, folder, shared,
                             seed, args.mc_seed_offset, subtracted)
            start = time.perf_counter()
            run = run_pipeline(SimpleNamespace(
                config=str(config), outdir=str(folder / "output"), skip_bad_files=False,
                executor="dask", workers=2, scheduler=None, cluster=None, quiet=True,
                chunksize=50_000, no_plots=True, force=False))
            fit = run["fit"]
            print(f"mu_injected={mu:g} (data seed {seed}, simulation seeds "
                  f"+{args.mc_seed_offset}, pass {n + 1}, signal subtracted at mu={subtracted:g}): "
                  f"mu_hat={fit['mu_hat']:.2f} +/- {fit['mu_uncertainty']:.2f} "
                  f"pull={(fit['mu_hat'] - mu) / fit['mu_uncertainty']:+.2f} "
                  f"Z_obs={fit['significance']['observed']:.2f} "
                  f"Z_exp(mu=1)={fit['significance']['expected']:.2f} "
                  f"leakage={fit.get('model', {}).get('signal_leakage_per_mu', 0.0):.2f}/mu "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
            # the background's post-fit pulls (ABCDnn template and its statistics) beside μ̂
            pulled = [p for p in fit.get("pulls", []) if abs(p["pull"]) >= 1.0
                      or p["parameter"].startswith("abcdnn")]
            print("  post-fit pulls: " + ", ".join(
                f"{p['parameter']} {p['pull']:+.2f} (constraint {p['constraint']:.2f})"
                for p in pulled), flush=True)
            # never below the expected signal: μ = 1 is subtracted by default
            subtracted = max(round(fit["mu_hat"], 1), 1.0)
        z_exp = expected_significance(folder / "output" / "fit" / "workspace.json", mu) if mu else 0
        rows.append((mu, fit, z_exp))
    print(f"\nluminosity {args.luminosity:g} fb^-1, ABCDnn ensemble {args.ensemble_size}")
    print(f"{'mu_inj':>7} {'mu_hat':>8} {'sigma':>7} {'pull':>6} {'Z_obs':>6} "
          f"{'Z_exp(mu_inj)':>13}")
    for mu, fit, z_exp in rows:
        print(f"{mu:7.2f} {fit['mu_hat']:8.2f} {fit['mu_uncertainty']:7.2f} "
              f"{(fit['mu_hat'] - mu) / fit['mu_uncertainty']:+6.2f} "
              f"{fit['significance']['observed']:6.2f} {z_exp:13.2f}")


if __name__ == "__main__":
    main()
