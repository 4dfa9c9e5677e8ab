"""The fit section of the config, and the fitted histogram's one source of binning."""

from __future__ import annotations

import pytest
import yaml

from analysis.config import default_config_path, load_config, parse_config
from common.exceptions import ConfigError


def _default() -> dict:
    return yaml.safe_load(default_config_path().read_text())


def test_fitted_histogram_takes_the_abcdnn_fit_binning():
    config = load_config()
    hdef = config.histograms[config.fit.histogram]
    assert hdef.edges == config.abcdnn.fit_bins
    assert list(hdef.axis().edges) == pytest.approx(config.abcdnn.fit_bins)


def test_changed_fit_bins_change_the_histogram():
    data = _default()
    data["abcdnn"] = {"fit_bins": [0.0, 0.5, 0.9, 1.0]}
    config = parse_config(data)
    assert list(config.histograms["dnn_score"].axis().edges) == [0.0, 0.5, 0.9, 1.0]


def test_a_second_binning_of_the_fitted_histogram_is_refused():
    data = _default()
    data["histograms"]["dnn_score"] |= {"bins": 20, "start": 0, "stop": 1}
    with pytest.raises(ConfigError, match=r"histograms.dnn_score is the fitted histogram.*"
                                          r"abcdnn.fit_bins"):
        parse_config(data)


def test_other_histograms_keep_regular_bins_or_take_edges():
    data = _default()
    data["histograms"]["ht"] = {"variable": "ht", "edges": [700, 1000, 2000], "label": "HT"}
    assert list(parse_config(data).histograms["ht"].axis().edges) == [700, 1000, 2000]
    data["histograms"]["ht"]["bins"] = 3
    with pytest.raises(ConfigError, match="either 'edges' or 'bins'"):
        parse_config(data)


def test_fit_settings_are_checked():
    data = _default()
    data["fit"]["background_normalization"] = "floating"
    with pytest.raises(ConfigError, match="fit.background_normalization"):
        parse_config(data)
