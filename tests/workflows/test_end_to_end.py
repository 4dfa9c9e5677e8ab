"""End to end on a small generated sample: one CLI run (process -> morph -> fit -> export)
whose outputs, stage reuse and executor equivalence the tests below check."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyhf
import pytest
import uproot
import yaml

from analysis.config import default_config_path, load_config
from run_analysis import main
from workflows.cluster import ClusterSpec
from workflows.outputs import write_histograms_root
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
    # MINUIT strategy 1: on this flat likelihood strategy 0 fails nearly every fit, and each
    # failure costs the fit again
    data["fit"] = {**data.get("fit", {}), "scan_points": 5, "ranking": False,
                   "minuit_strategy": 1,
                   "poi_bounds": [-300.0, 50000.0]}  # 0.3 fb^-1: the limit is in the thousands
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def cli_run(small_config, tmp_path_factory) -> SimpleNamespace:
    """One CLI run of the small config (process -> morph -> fit), shared by the tests below:
    its exit code, printed summary and run summary as they were right after the run."""
    outdir = tmp_path_factory.mktemp("run") / "out"
    args = ["--config", str(small_config), "--outdir", str(outdir), "--executor", "iterative",
            "--quiet", "--chunksize", "2000"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(args)
    summary = json.loads((outdir / "summary.json").read_text()) if code == 0 else None
    return SimpleNamespace(outdir=outdir, args=args, code=code, printed=printed.getvalue(),
                           summary=summary)


def test_cli_run_prints_the_result_and_runs_every_stage(cli_run):
    assert cli_run.code == 0
    assert "mu = " in cli_run.printed and "significance: observed" in cli_run.printed
    assert "95% CL upper limit on mu: " in cli_run.printed
    assert {s: cli_run.summary["stages"][s]["reused"] for s in cli_run.summary["stages"]} == {
        "process": False, "morph": False, "fit": False, "export": False}


def test_process_stage_outputs(cli_run, small_config):
    process = cli_run.outdir / "process"
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


def test_morph_and_fit_stage_outputs(cli_run):
    outdir = cli_run.outdir
    assert (outdir / "abcdnn" / "templates" / "signal_nj9p_nb3p.json").is_file()
    fit = outdir / "fit"
    results = json.loads((fit / "results.json").read_text())
    assert results["mu_uncertainty"] > 0
    limit = results["limit"]
    # found, or the reason recorded (this small sample barely constrains mu; never a silent gap)
    assert limit.get("observed", 0) > 0 or "upper limit" in limit["not_found"], limit
    if "observed" in limit:
        bands = limit["expected_bands"]
        assert (bands["minus2"] < bands["minus1"] < bands["median"] < bands["plus1"]
                < bands["plus2"])
    assert results["mu_minos"]["down"] < 0 < results["mu_minos"]["up"]
    assert cli_run.summary["result"]["mu_hat"] == results["mu_hat"]
    workspace = pyhf.Workspace(json.loads((fit / "workspace.json").read_text()))
    assert workspace.model().config.samples == sorted(
        ["abcdnn", "tttt", "tttt_leakage", "ttW", "ttZ", "ttH"])
    # the signal in the ABCD control cells is modelled (its sign is not fixed on this small
    # sample: signal in the cells A and Y lowers N_D)
    assert results["model"]["signal_leakage_per_mu"] != 0
    template = json.loads((outdir / "abcdnn" / "templates" / "signal_nj9p_nb3p.json").read_text())
    assert template["normalization"]["signal_leakage"] == pytest.approx(
        results["model"]["signal_leakage_per_mu"])
    for name in ("prefit_nj9p_nb3p", "postfit_nj9p_nb3p", "pulls", "scan") + (
            ("cls",) if "observed" in limit else ()):
        assert (fit / "figures" / f"{name}.png").is_file()
    assert (fit / "plots" / "datadriven_nj9p_nb3p.png").is_file()
    # the export stage: a validated HEPData submission with b-tagging and top-tagger tables
    # (the processor's sums through the pipeline), and the bundle
    export = cli_run.outdir / "export"
    assert (export / "hepdata" / "submission.yaml").is_file()
    assert list((export / "hepdata").glob("b-tagging_efficiency_b_jets_*.yaml"))
    assert list((export / "hepdata").glob("boosted_top-tagger_efficiency_top_*.yaml"))
    assert list((export / "hepdata").glob("resolved_top-tagger_efficiency_matched_*.yaml"))
    index = json.loads((export / "bundle" / "index.json").read_text())
    assert index["top_tag_efficiency"]
    assert {"event_dnn_fold0", "boosted_top_tagger", "abcdnn_map"} <= set(index["models"])


def test_rerun_with_nothing_changed_reuses_every_stage(cli_run):
    assert main(cli_run.args) == 0
    again = json.loads((cli_run.outdir / "summary.json").read_text())
    assert all(s["reused"] for s in again["stages"].values())
    assert again["result"] == cli_run.summary["result"]


def test_without_quiet_each_stage_says_what_it_did(cli_run, capsys):
    # a batch log's only sign of the morph and fit stages, which have no progress bar
    assert main([a for a in cli_run.args if a != "--quiet"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if " stage: " in line] == [
        f"{stage} stage: reused" for stage in ("process", "morph", "fit", "export")]


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


def test_two_worker_dask_gives_the_histograms_of_the_iterative_run(cli_run, small_config,
                                                                    tmp_path):
    # the CLI run processed the sample on the iterative executor in chunks of 2000 events;
    # two dask workers in chunks of 700 must give the same histograms and cutflow
    config, fileset, infos = prepare(small_config, skip_bad_files=False)
    dask = run_processor(config, fileset, infos, ClusterSpec("dask", workers=2, status=False),
                         chunksize=700)
    written = write_histograms_root(dask.output["hists"], tmp_path / "dask.root")
    with (uproot.open(cli_run.outdir / "process" / "histograms.root") as iterative,
          uproot.open(tmp_path / "dask.root") as other):
        keys = sorted(k for k, v in iterative.classnames().items() if v == "TH1D")
        assert keys == sorted(k for k, v in other.classnames().items() if v == "TH1D")
        assert len(keys) == written > 0
        for key in keys:
            a, b = iterative[key], other[key]
            # same events, same weights: sums agree to the last bit up to summation order
            np.testing.assert_allclose(a.values(flow=True), b.values(flow=True), rtol=1e-12,
                                       atol=0, err_msg=key)
            np.testing.assert_allclose(a.variances(flow=True), b.variances(flow=True),
                                       rtol=1e-12, atol=0, err_msg=key)
    # event counts exactly; weighted sums up to the order of chunk summation
    it = json.loads((cli_run.outdir / "process" / "cutflow.json").read_text())
    dk = dask.output["cutflow"]
    assert it.keys() == dk.keys()
    for d in it:
        assert it[d].keys() == dk[d].keys()
        for step in it[d]:
            assert it[d][step]["events"] == dk[d][step]["events"]
            assert it[d][step]["weighted"] == pytest.approx(dk[d][step]["weighted"], rel=1e-12)
