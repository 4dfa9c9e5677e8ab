"""The configuration schema: bad keys and values fail early with a useful message."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.config import load_config, parse_config
from analysis.regions import assign_regions, region_labels
from common.exceptions import ConfigError


def _minimal() -> dict:
    return {
        "luminosity_fb": 10.0,
        "trigger": {"paths": {"2022": ["HLT_PFHT1050"]}},
        "btag": {"working_points": {"2022": 0.3}},
        "histograms": {"ht": {"variable": "ht", "bins": 10, "start": 0, "stop": 2000,
                              "label": "HT"}},
        "datasets": {"tt": {"process": "ttbar", "kind": "mc", "era": "2022", "xsec_pb": 834.0,
                            "files": ["a.root"]}},
    }


def test_minimal_config_is_valid():
    cfg = parse_config(_minimal())
    assert cfg.preselection.ht_min == 700.0
    assert cfg.regions.n_jets == [6, 7, 8, 9]


def test_shipped_default_config_is_valid():
    cfg = load_config()
    assert cfg.datasets and cfg.luminosity_fb > 0


def test_misspelt_key_names_field_and_suggests():
    data = _minimal()
    data["preselection"] = {"ht_mim": 800}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    msg = str(info.value)
    assert "preselection.ht_mim" in msg and "Did you mean 'ht_min'" in msg
    assert "n_jets_min" in msg  # the allowed keys are listed


def test_wrong_type_names_field_and_value():
    data = _minimal()
    data["luminosity_fb"] = "lots"
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert "luminosity_fb" in str(info.value) and "'lots'" in str(info.value)


def test_unknown_histogram_variable_names_it_and_suggests():
    data = _minimal()
    data["histograms"]["dnn"] = {"variable": "dnn_scor", "bins": 20, "start": 0, "stop": 1}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    msg = str(info.value)
    assert "dnn_scor" in msg and "dnn_score" in msg and "histograms.dnn" in msg


def test_ml_section_rejects_unknown_inference_mode():
    data = _minimal()
    data["ml"] = {"inference": {"mode": "carrier-pigeon"}}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert "ml.inference.mode" in str(info.value) and "carrier-pigeon" in str(info.value)


def test_bad_choice_lists_the_choices():
    data = _minimal()
    data["datasets"]["tt"]["kind"] = "simulation"
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    msg = str(info.value)
    assert "datasets.tt.kind" in msg and "'mc'" in msg and "'data'" in msg


def test_unknown_era_is_rejected():
    data = _minimal()
    data["datasets"]["tt"]["era"] = "2031"
    with pytest.raises(ConfigError, match="era '2031'"):
        parse_config(data)


def test_mc_without_cross_section_is_rejected():
    data = _minimal()
    del data["datasets"]["tt"]["xsec_pb"]
    with pytest.raises(ConfigError, match="xsec_pb"):
        parse_config(data)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_region_assignment_grid():
    cfg = parse_config(_minimal())
    labels = region_labels(cfg.regions)
    assert labels[0] == "nj6_nb2" and labels[-1] == "nj9p_nb3p" and len(labels) == 8
    got = assign_regions(np.array([6, 7, 12, 5, 9]), np.array([2, 5, 3, 2, 1]), cfg.regions)
    assert list(got) == ["nj6_nb2", "nj7_nb3p", "nj9p_nb3p", "", ""]
