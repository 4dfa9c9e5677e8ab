"""End to end on a small generated sample: CLI run (process -> morph -> fit -> export), outputs,
stage reuse, and executor equivalence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyhf
import pytest
import uproot
import yaml

from analysis.config import default_config_path, load_config
from run_analysis import main
from workflows.cluster import ClusterSpec
from workflows.pipeline import prepare, run_processor

SMALL = {"tttt": 400, "ttbar": 3000, "ttW": 200, "ttZ": 200, "ttH": 200}


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> Path:
    """The default config shrunk: fewer events, lower luminosity, its own cache."""
    folder = tmp_path_factory.mktemp("e2e")
    data = yaml.safe_load(default_config_path().read_text())
    data["luminosity_fb"] = 0.3
    data["cache_dir"] = str(folder / "cache")
    for name, ds in data["datasets"].items():
        if name in SMALL:
            ds["generator"]["n_events"] = SMALL[name]
        ds["generator"]["n_files"] = 2
    # a quick ABCDnn (two maps, few steps) and a coarse fit binning for the small sample
    data["abcdnn"] = {"ensemble_size": 2, "min_steps": 5, "max_steps": 10,
                      "fit_bins": [0.0, 0.5, 0.8, 1.0]}
    # no impacts ranking: μ is barely constrained by 0.3 fb^-1 of a small sample, and the
    # ranking's fits with nuisances held at ±1σ are the slow part (tested on small models)
    data["fit"] = {**data.get("fit", {}), "scan_points": 5, "ranking": False,
                   "poi_bounds": [-300.0, 50000.0]}  # 0.3 fb^-1: the limit is in the thousands
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_run_writes_every_output(small_config, tmp_path, capsys):
    outdir = tmp_path / "out"
    args = ["--config", str(small_config), "--outdir", str(outdir), "--executor", "iterative",
            "--quiet", "--chunksize", "2000"]
    code = main(args)
    assert code == 0
    printed = capsys.readouterr().out
    assert "mu = " in printed and "significance: observed" in printed
    assert "95% CL upper limit on mu: " in printed
    run = json.loads((outdir / "summary.json").read_text())
    assert {s: run["stages"][s]["reused"] for s in run["stages"]} == {
        "process": False, "morph": False, "fit": False, "export": False}
    process = outdir / "process"
    summary = json.loads((process / "summary.json").read_text())
    assert summary["complete"] is True
    assert summary["events_processed"] > 0
    cutflow = json.loads((process / "cutflow.json").read_text())
    assert set(cutflow) == set(load_config(small_config).datasets)
    with uproot.open(process / "histograms.root") as f:
        h = f["ht/nj6_nb2/ttbar/nominal"]
        assert h.values().sum() > 0
        score = f["dnn_score/nj9p_nb3p/tttt/nominal"]
        assert score.values().sum() > 0
        # filled with the ABCDnn fit binning, the one place it is configured
        assert score.axis().edges().tolist() == [0.0, 0.5, 0.8, 1.0]
        assert f["ht/nj6_nb2/ttbar/JES_Total_up"].values().sum() > 0
        # data carry no systematic variations, so none are written for them
        assert "ht/nj6_nb2/data/nominal" in f
        assert "ht/nj6_nb2/data/JES_Total_up" not in f
    features = pd.read_parquet(process / "features" / "ttbar.parquet")
    assert (features["ht"] >= 700).all() and (features["n_jets"] >= 6).all()
    assert (features["n_b"] >= 2).all()
    # taggers and the event DNN ran through the inference client
    assert features["dnn_score"].between(0, 1).all() and features["dnn_score"].std() > 0
    assert (features["n_resolved_tops"] >= 0).all() and features["n_resolved_tops"].max() >= 1
    assert features["boosted_top_score_max"].max() > 0
    tttt = pd.read_parquet(process / "features" / "tttt.parquet")
    assert tttt["dnn_score"].mean() > features["dnn_score"].mean()
    assert features["weight"].sum() == pytest.approx(
        cutflow["ttbar"]["ht"]["weighted"], rel=1e-9)
    assert len(list((process / "plots").glob("*.png"))) >= 4
    yields = pd.read_csv(process / "yields.csv")
    assert {"data", "ttbar", "tttt"} <= set(yields["process"])
    # the morph stage's templates and the fit stage's outputs
    assert (outdir / "abcdnn" / "templates" / "signal_nj9p_nb3p.json").is_file()
    fit = outdir / "fit"
    results = json.loads((fit / "results.json").read_text())
    assert results["mu_uncertainty"] > 0
    limit = results["limit"]
    # found, or the reason recorded (this small sample barely constrains mu; never a silent gap)
    assert limit.get("observed", 0) > 0 or "upper limit" in limit["not_found"], limit
    assert results["mu_minos"]["down"] < 0 < results["mu_minos"]["up"]
    assert run["result"]["mu_hat"] == results["mu_hat"]
    workspace = pyhf.Workspace(json.loads((fit / "workspace.json").read_text()))
    assert workspace.model().config.samples == sorted(["abcdnn", "tttt", "ttW", "ttZ", "ttH"])
    for name in ("prefit_nj9p_nb3p", "postfit_nj9p_nb3p", "pulls", "scan") + (
            ("cls",) if "observed" in limit else ()):
        assert (fit / "figures" / f"{name}.png").is_file()
    assert (fit / "plots" / "datadriven_nj9p_nb3p.png").is_file()
    # the export stage: a validated HEPData submission with b-tagging tables, and the bundle
    export = outdir / "export"
    assert (export / "hepdata" / "submission.yaml").is_file()
    assert list((export / "hepdata").glob("b-tagging_efficiency_b_jets_*.yaml"))
    index = json.loads((export / "bundle" / "index.json").read_text())
    assert {"event_dnn_fold0", "boosted_top_tagger", "abcdnn_map"} <= set(index["models"])
    # a rerun with nothing changed reuses every stage
    assert main(args) == 0
    again = json.loads((outdir / "summary.json").read_text())
    assert all(s["reused"] for s in again["stages"].values())
    assert again["result"] == run["result"]


def test_bad_config_key_fails_before_any_work(small_config, tmp_path, capsys):
    data = yaml.safe_load(small_config.read_text())
    data["preselction"] = {"ht_min": 700}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    code = main(["--config", str(bad), "--outdir", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "preselction" in err and "Did you mean 'preselection'" in err
    assert not (tmp_path / "out").exists()


def test_iterative_and_two_worker_dask_give_identical_histograms(small_config):
    config, fileset, infos = prepare(small_config, skip_bad_files=False)
    iterative = run_processor(config, fileset, infos, ClusterSpec("iterative", status=False),
                              chunksize=700)
    dask = run_processor(config, fileset, infos, ClusterSpec("dask", workers=2, status=False),
                         chunksize=700)
    for name, h in iterative.output["hists"].items():
        other = dask.output["hists"][name]
        assert sorted(h.axes["process"]) == sorted(other.axes["process"])
        for process in h.axes["process"]:
            a = h[{"process": process}]
            b = other[{"process": process}]
            # same events, same weights: sums agree to the last bit up to summation order
            np.testing.assert_allclose(a.values(flow=True), b.values(flow=True), rtol=1e-12,
                                       atol=0)
            np.testing.assert_allclose(a.variances(flow=True), b.variances(flow=True),
                                       rtol=1e-12, atol=0)
    # event counts exactly; weighted sums up to the order of chunk summation
    it, dk = iterative.output["cutflow"], dask.output["cutflow"]
    assert it.keys() == dk.keys()
    for d in it:
        assert it[d].keys() == dk[d].keys()
        for step in it[d]:
            assert it[d][step]["events"] == dk[d][step]["events"]
            assert it[d][step]["weighted"] == pytest.approx(dk[d][step]["weighted"], rel=1e-12)
