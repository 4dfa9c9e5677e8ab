"""The processor on the real CMS NanoAOD reference files (skipped without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processors.fourtops import CUTFLOW_STEPS
from tests.helpers import real_files_config
from workflows.cluster import ClusterSpec
from workflows.fileset import build_fileset
from workflows.pipeline import dataset_infos, run_processor

# The older reference files carry collections whose cross-references coffea cannot resolve;
# that is a property of those files, not of our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning"),
]

LOOSE = {"preselection": {"ht_min": 300, "n_jets_min": 4, "n_b_min": 1},
         "regions": {"n_jets": [4, 5, 6], "n_b": [1, 2]}}


def _run(nanoaod_dir: Path, **overrides):
    cfg = real_files_config(nanoaod_dir, **overrides)
    files = {name: ds.files for name, ds in cfg.datasets.items()}
    fileset = build_fileset(cfg, files, skip_bad_files=False)
    infos = dataset_infos(cfg, fileset, Path("."))
    return cfg, run_processor(cfg, fileset, infos, ClusterSpec("iterative", status=False),
                              chunksize=64)


def test_every_real_file_processes_with_a_sensible_cutflow(nanoaod_dir):
    cfg, result = _run(nanoaod_dir)
    cutflow = result.output["cutflow"]
    assert set(cutflow) == {"tt_v12", "dy", "pfnano"}
    assert cutflow["tt_v12"]["all"]["events"] == 200
    assert cutflow["dy"]["all"]["events"] == 40  # the empty file adds nothing
    assert cutflow["pfnano"]["all"]["events"] == 10
    for flow in cutflow.values():
        counts = [flow[s]["events"] for s in CUTFLOW_STEPS]
        assert counts == sorted(counts, reverse=True), flow
    # MC normalization: the first step sums to xsec × lumi (σ in pb × 1000 per fb⁻¹)
    assert cutflow["tt_v12"]["all"]["weighted"] == pytest.approx(834.0 * 1000.0)
    # Drell-Yan (two leptons, few jets) does not survive the all-hadronic preselection
    assert cutflow["dy"]["ht"]["events"] == 0
    # real tt̄ at 13.6 TeV rarely has HT > 700 and 6 jets: a handful of events at most
    assert cutflow["tt_v12"]["ht"]["events"] <= 10


def test_loose_selection_fills_regions_and_features(nanoaod_dir):
    cfg, result = _run(nanoaod_dir, **LOOSE)
    yields = result.output["yields"]
    n_selected = sum(f["ht"]["events"] for f in result.output["cutflow"].values())
    assert n_selected > 10
    features = [p for parts in result.output["features"].values() for p in parts]
    rows = sum(len(p["event"]) for p in features)
    assert rows == n_selected
    tt = np.concatenate([p["n_jets"] for p in result.output["features"]["tt_v12"]])
    assert tt.min() >= 4
    total = sum(yields[{"region": r, "process": "ttbar", "systematic": "nominal"}].value
                for r in yields.axes["region"])
    weights = np.concatenate([p["weight"] for p in features])
    assert total == pytest.approx(weights.sum())


def test_missing_trigger_paths_are_reported(nanoaod_dir):
    _, result = _run(nanoaod_dir)
    missing = result.output["missing_trigger_paths"]
    dy = str(nanoaod_dir / "nano_dy.root")
    assert "HLT_PFHT300PT30_QuadPFJet_75_60_45_40_TriplePFBTagCSV_3p0" in missing[dy]
    assert not missing[str(nanoaod_dir / "nano_tt_v12.root")]
