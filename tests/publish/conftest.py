"""A small fitted run for the export tests: the hand-built fit inputs (tests.analysis.fit_inputs),
a feature table whose event-DNN scores come from the shipped models, a quickly trained
ABCDnn map, a cutflow, b-tagging efficiency sums of unit-weight jets and top-tagger sums of
unit-weight candidates."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from analysis.abcdnn.ensemble import train_ensemble
from analysis.abcdnn.export import export_ensemble
from analysis.abcdnn.inputs import prepare_grid
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.toy import make_toy_features
from analysis.config import default_config_path, parse_config
from analysis.fit.inputs import load_inputs
from analysis.fit.model import background_only, build_workspace
from analysis.fit.results import mle_fit, model_and_data
from analysis.ml_features import DNN_FEATURE_NAMES, dnn_fold, dnn_inputs
from analysis.publish.efficiency import btag_efficiency_hist, write_root
from analysis.publish.top_tag_efficiency import BINNING, empty_hists, fill
from analysis.publish.top_tag_efficiency import write_root as write_top_tag_root
from inference.client import make_client
from inference.settings import InferenceSettings
from tests.analysis.fit_inputs import write_run
from workflows.export import run_export_stage
from workflows.fit import input_paths
from workflows.outputs import write_json

#: b-tagging truth of the efficiency jets: (flavour, tagged fraction, jets)
EFFICIENCY_JETS = {5: (0.8, 400), 4: (0.2, 300), 0: (0.02, 500)}
#: top-tagger truth of the efficiency candidates: tagger -> origin code -> (tagged fraction, n)
TOP_TAG_CANDIDATES = {"boosted": {2: (0.7, 300), 1: (0.3, 300), 0: (0.05, 400)},
                      "resolved": {1: (0.6, 300), 0: (0.02, 700)}}


def _config():
    data = yaml.safe_load(default_config_path().read_text())
    data["fit"] = {**data.get("fit", {}), "ranking": False, "scan_points": 5}
    return parse_config(data)


def _jets(rng: np.random.Generator, n: int, n_jets: np.ndarray) -> dict[str, np.ndarray]:
    pt = np.sort(rng.exponential(60.0, (n, 8)) + 30.0, axis=1)[:, ::-1]
    real = np.arange(8)[None, :] < np.minimum(n_jets, 8)[:, None]
    cols = {"pt": pt, "eta": rng.uniform(-2.4, 2.4, (n, 8)), "phi": rng.uniform(-3, 3, (n, 8)),
            "mass": rng.uniform(5, 20, (n, 8)), "btag": rng.uniform(0, 1, (n, 8))}
    return {f"jet{i + 1}_{k}": np.where(real[:, i], v[:, i], 0.0)
            for k, v in cols.items() for i in range(8)}


def _features(toy: pd.DataFrame) -> pd.DataFrame:
    """The toy ABCDnn table with the processor's other columns; DNN inputs drawn around
    their training medians, ``dnn_score`` from the shipped fold models (the pipeline's)."""
    rng = np.random.default_rng(5)
    n = len(toy)
    table = toy.reset_index(drop=True).copy()
    table["kind"] = np.where(table["process"] == "data", "data", "mc")
    table["dataset"] = table["process"]
    table["event"] = rng.permutation(n) + 1000
    table = pd.concat([table, pd.DataFrame(_jets(rng, n, table["n_jets"].to_numpy()))], axis=1)
    for name in DNN_FEATURE_NAMES:
        if name not in table:
            table[name] = rng.gamma(2.0, 0.5 if "score" in name or "sph" in name else 50.0, n)
    client = make_client(InferenceSettings())
    try:
        x = dnn_inputs({k: table[k].to_numpy() for k in DNN_FEATURE_NAMES})
        fold = dnn_fold(table["event"].to_numpy())
        score = np.zeros(n, np.float32)
        for k, model in enumerate(("event_dnn_fold0", "event_dnn_fold1")):
            out = client.infer(model, {"features": x[fold == k]}, ["score"])["score"]
            score[fold == k] = np.asarray(out).reshape(-1)
    finally:
        client.close()
    table["dnn_score"] = score
    return table


def _fit(folder: Path, config) -> None:
    """The fit stage's files without its slow part (the CLs limit search, ~30 s here): the
    same workspace, patchset and maximum-likelihood fit; no limit."""
    s = config.fit
    hist_path, template_path = input_paths(folder, s)
    inputs = load_inputs(hist_path, template_path, s.histogram, s.region, s.signal,
                         list(s.minor_backgrounds), s.data)
    spec, _ = build_workspace(inputs, s)
    bkg, patchset = background_only(spec, s.signal)
    fit_dir = folder / "fit"
    fit_dir.mkdir(parents=True, exist_ok=True)
    for name, obj in (("workspace", spec), ("BkgOnly", bkg), ("patchset", patchset)):
        write_json(obj, fit_dir / f"{name}.json")
    model, data = model_and_data(spec)
    fit = mle_fit(model, data, s)
    poi = model.config.poi_index
    mu, sigma = float(fit.bestfit[poi]), float(fit.uncertainty[poi])
    write_json({"region": s.region, "luminosity_fb": config.luminosity_fb, "mu_hat": mu,
                "mu_uncertainty": sigma, "mu_minos": {"down": -0.9 * sigma, "up": 1.1 * sigma},
                "significance": {"observed": 0.5, "expected": 0.4},
                "limit": {"confidence_level": 0.95, "not_found": "not computed here"}},
               fit_dir / "results.json")


def _efficiency(folder: Path) -> None:
    rng = np.random.default_rng(9)
    parts = []
    for flavour, (fraction, n) in EFFICIENCY_JETS.items():
        parts.append({"pt": rng.uniform(30, 400, n), "eta": rng.uniform(-2.4, 2.4, n),
                      "hadronFlavour": np.full(n, flavour),
                      "btagDeepFlavB": np.where(rng.random(n) < fraction, 0.9, 0.1)})
    flat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    jets = ak.unflatten(ak.Array(flat), np.full(len(flat["pt"]) // 4, 4))
    h = btag_efficiency_hist(jets, np.ones(len(jets)), "ttbar", 0.3, "btagDeepFlavB")
    write_root(h, folder / "process" / "efficiency.root")
    hists = empty_hists()
    for tagger, origins in TOP_TAG_CANDIDATES.items():
        low, high = BINNING[tagger][1][0], 900.0
        for code, (fraction, n) in origins.items():
            one = ak.unflatten(np.ones(n), np.ones(n, np.int64))  # one candidate per event
            fill(hists[tagger], tagger, "ttbar", one * rng.uniform(low, high, n),
                 one * rng.uniform(-2.4, 2.4, n), one * code, one * (rng.random(n) < fraction),
                 np.ones(n))
    write_top_tag_root(hists, folder / "process" / "efficiency.root")


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """A fitted and exported run folder (about 20 s on a busy 2-core machine)."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("export_run")
    write_run(folder)
    settings = ABCDnnSettings(batch_size=128, min_steps=5, max_steps=5, epochs=100, ensemble_size=2,
                              bootstrap=False, learning_rate=2e-2)
    toy = make_toy_features(settings.signal_grid, n_mc=150, n_data=150)
    ensemble = train_ensemble(prepare_grid(toy, settings.signal_grid, settings), settings)
    export_ensemble(ensemble, folder / "models")
    (folder / "process" / "features").mkdir(parents=True, exist_ok=True)
    features = _features(toy)
    for process, part in features.groupby("process"):
        part.to_parquet(folder / "process" / "features" / f"{process}.parquet")
    cutflow = {"tttt": {"all": {"events": 100, "weighted": 2.0},
                        "ht": {"events": 40, "weighted": 0.8}}}
    (folder / "process" / "cutflow.json").write_text(json.dumps(cutflow))
    _efficiency(folder)
    # a small generated PFNano file as the process stage's summary lists its inputs
    from simulation import SampleSpec, generate_dataset

    (pfnano,) = generate_dataset(SampleSpec(process="tttt", n_events=600, seed=11, n_files=1),
                                 folder / "cache", luminosity_fb=1.0)
    (folder / "process" / "summary.json").write_text(json.dumps(
        {"inputs": {"tttt": {"files": {str(pfnano): {"pfnano": True}}}}}))
    config = _config()
    _fit(folder, config)
    # a relative output folder, as the default run's "output"
    with contextlib.chdir(folder.parent):
        cwd_before = set(os.listdir())
        run_export_stage(Path(folder.name), config)
        assert set(os.listdir()) == cwd_before, "the export wrote into the working directory"
    return folder
