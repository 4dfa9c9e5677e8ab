"""Feature tables for the ABCDnn truth checks: generator → processor → per-event table.

The truth checks need the simulated samples (the same for every pseudo-dataset) and, per
seed, a pseudo-data sample and an independent ``truth_background`` sample. This module
builds them through the real chain (synthetic NanoAOD files, the four-top processor with
its taggers and event DNN), at a chosen luminosity and sample size, so a reduced check in
the test suite and the full benchmark run the same code. Simulated samples are generated
once per settings and reused (the generator's cache); only pseudo-data and truth seeds vary.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from analysis.abcdnn.plots import plot_truth_closure, save
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.shapes import bin_pulls
from analysis.abcdnn.truth import truth_closure, truth_histograms
from analysis.config import default_config_path
from workflows.cluster import ClusterSpec
from workflows.morph import run_morph
from workflows.pipeline import prepare, run_processor

TRUTH = "truth_background"
MC_DATASETS = ("tttt", "ttbar", "ttW", "ttZ", "ttH")


def _config(folder: Path, luminosity_fb: float, datasets: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(default_config_path().read_text())
    config["cache_dir"] = str(folder / "cache")
    config["luminosity_fb"] = float(luminosity_fb)
    config["systematics"]["enabled"] = False
    config["datasets"] = datasets
    path = folder / f"config_{'_'.join(sorted(datasets))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _tables(config_path: Path) -> dict[str, pd.DataFrame]:
    config, fileset, infos = prepare(config_path, skip_bad_files=False)
    result = run_processor(config, fileset, infos, ClusterSpec(executor="iterative"),
                           chunksize=50_000)
    out = {}
    for name, parts in result.output["features"].items():
        parts = [pd.DataFrame(p) for p in parts if len(p.get("event", ()))]
        out[name] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out


def simulation_tables(folder: Path, luminosity_fb: float, scale: float = 1.0
                      ) -> pd.DataFrame:
    """Feature table of the simulated samples of the default configuration.

    ``scale`` multiplies every sample's generated event count (seeds unchanged), for a
    reduced check; weights are normalized to ``luminosity_fb`` as in the analysis.
    """
    base = yaml.safe_load(default_config_path().read_text())["datasets"]
    datasets = {}
    for name in MC_DATASETS:
        ds = dict(base[name])
        gen = dict(ds["generator"])
        gen["n_events"] = max(1000, int(round(gen["n_events"] * scale)))
        ds["generator"] = gen
        datasets[name] = ds
    tables = _tables(_config(Path(folder), luminosity_fb, datasets))
    return pd.concat([tables[n] for n in MC_DATASETS], ignore_index=True)


#: Skim of the pseudo-data written for the truth checks: the preselection's jet count and
#: just below its HT cut (fewer events to write and process; nothing the selection keeps).
CHECK_SKIM = {"skim_min_ht": 680.0, "skim_min_jets": 6}


def _data_spec(process: str, seed: int, n_files: int) -> dict:
    generator = {"process": process, "seed": seed, "n_files": n_files, "truth": CHECK_SKIM}
    if process == "pseudodata":
        generator["signal_strength"] = 1.0
    return {"process": process if process == TRUTH else "data", "kind": "data",
            "era": "synthetic", "generator": generator}


def pseudo_data_table(folder: Path, luminosity_fb: float, seed: int, n_files: int = 1
                      ) -> pd.DataFrame:
    """Feature table of one pseudo-dataset (truth background + tt̄tt̄ at μ = 1)."""
    folder = Path(folder) / f"pseudodata_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    datasets = {"data": _data_spec("pseudodata", seed, n_files)}
    return _tables(_config(folder, luminosity_fb, datasets))["data"]


def truth_table(folder: Path, luminosity_fb: float, seed: int, n_files: int = 1
                ) -> pd.DataFrame:
    """Feature table of a ``truth_background`` sample: the pseudo-data world without
    tt̄tt̄; with a seed no pseudo-dataset uses, an independent sample of it."""
    folder = Path(folder) / f"truth_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    datasets = {TRUTH: _data_spec(TRUTH, seed, n_files)}
    return _tables(_config(folder, luminosity_fb, datasets))[TRUTH]


def closure_numbers(mc: pd.DataFrame, data: pd.DataFrame, truth: pd.DataFrame, outdir: Path,
                    settings: ABCDnnSettings, *, plots: bool = True) -> dict:
    """Run the ABCDnn step on simulation + pseudo-data and compare with the truth.

    Returns, per grid ("validation", "signal") and variable ("dnn_score", "ht"), the
    numbers of :func:`analysis.abcdnn.truth.truth_closure`, and the per-bin pulls of the
    signal target cell. In the validation target cell the non-closure term is left out
    of the template's uncertainty (it is measured there). With ``plots``, the control
    plots of the morph step and the truth closure figures
    (``outdir/abcdnn/plots/truth_<grid>_<variable>.png``) are drawn.
    """
    table = pd.concat([mc, data.assign(process=settings.data_process)], ignore_index=True)
    result = run_morph(table, outdir, settings, plots=plots)
    grids = {"validation": settings.validation_grid, "signal": settings.signal_grid}
    out: dict = {"closure": {}, "pulls": {}}
    for key, grid in grids.items():
        for variable, templates in (("dnn_score", result.templates),
                                    ("ht", result.ht_templates)):
            template = templates[key]
            numbers = truth_closure(template, table, truth, grid, settings,
                                    nonclosure=key != "validation")
            out["closure"][f"{key}/{variable}"] = numbers
            truth_hist, raw = truth_histograms(table, truth, grid, settings, variable)
            if key == "signal":
                out["pulls"][variable] = bin_pulls(template, truth_hist).tolist()
            if plots:
                fig = plot_truth_closure(template, truth_hist, raw,
                                         title=f"{template.region}, {key} grid target")
                save(fig, Path(outdir) / "abcdnn" / "plots" / f"truth_{key}_{variable}.png")
    return out
