"""The shipped Run 3 example configuration on real NanoAOD with the real CMS JERC payload."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analysis.config import default_config_path, parse_config
from workflows.cluster import ClusterSpec
from workflows.fileset import build_fileset
from workflows.pipeline import dataset_infos, run_processor

EXAMPLE = default_config_path().parent / "examples" / "run3_nanoaod.yaml"
pytestmark = pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning")


def test_run3_example_runs_with_the_real_jerc_payload(shared_data):
    data = yaml.safe_load(EXAMPLE.read_text())
    # what a user edits: the payload path and the files
    data["corrections"]["jets"]["payload"] = str(
        shared_data / "corrections" / "jet_jerc_Summer22_V3.json.gz")
    data["datasets"]["ttbar"]["files"] = [str(shared_data / "nanoaod" / "nano_tt_v12.root")]
    data["preselection"] = {"ht_min": 300, "n_jets_min": 4, "n_b_min": 1}  # 200 tt̄ events
    data["regions"] = {"n_jets": [4, 5, 6], "n_b": [1, 2]}
    cfg = parse_config(data)
    files = {name: ds.files for name, ds in cfg.datasets.items()}
    fileset = build_fileset(cfg, files, skip_bad_files=False)
    infos = dataset_infos(cfg, fileset, Path("."))
    result = run_processor(cfg, fileset, infos, ClusterSpec("iterative", status=False),
                           chunksize=100)
    yields = result.output["yields"]
    systematics = set(yields.axes["systematic"])
    # real JES (Total) and JER variations from the payload, theory weights from the file
    assert {"nominal", "JES_Total_up", "JES_Total_down", "JER_up", "JER_down",
            "muRmuF_up", "ISR_up"} <= systematics
    nominal = yields[{"process": "ttbar", "systematic": "nominal"}].sum().value
    up = yields[{"process": "ttbar", "systematic": "JES_Total_up"}].sum().value
    down = yields[{"process": "ttbar", "systematic": "JES_Total_down"}].sum().value
    assert nominal > 0
    assert down < up  # higher jet energy scale: more events above the HT and pT cuts
    assert result.output["cutflow"]["ttbar"]["all"]["events"] == 200
