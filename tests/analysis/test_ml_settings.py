"""The config's ML feature fields are honoured or rejected, never overruled in silence."""

from __future__ import annotations

import pytest

from analysis.config import load_config
from analysis.ml_settings import feature_settings
from common.exceptions import ConfigError
from processors.ml import ml_columns_from_config


def _with_features(**features):
    config = load_config()
    ml = config.ml.model_copy(update={"features": config.ml.features.model_validate(features)})
    return config.model_copy(update={"ml": ml})


def test_btag_field_and_wp_come_from_the_btag_section():
    config = load_config()
    config = config.model_copy(update={"btag": config.btag.model_copy(
        update={"discriminant": "btagPNetB"})})
    s = feature_settings(config, "2022")
    assert s.btag_field == "btagPNetB"
    assert s.btag_wp == config.btag.working_points["2022"]


def test_an_equal_btag_field_is_honoured():
    assert feature_settings(_with_features(btag_field="btagDeepFlavB")).btag_field == (
        "btagDeepFlavB")


@pytest.mark.parametrize("features, match", [
    ({"btag_field": "btagPNetB"}, "ml.features.btag_field is 'btagPNetB'"),
    ({"btag_wp": 0.5}, "ml.features.btag_wp = 0.5 is not used"),
])
def test_contradicting_ml_features_are_rejected(features, match):
    config = _with_features(**features)
    with pytest.raises(ConfigError, match=match):
        feature_settings(config)
    with pytest.raises(ConfigError, match=match):
        ml_columns_from_config(config)


def test_adapter_and_worker_plugins_come_in_one_call():
    config = load_config()
    columns, plugins = ml_columns_from_config(config)
    assert columns.features.btag_field == config.btag.discriminant
    assert len(plugins) == 1
    off = config.model_copy(update={"ml": config.ml.model_copy(update={"enabled": False})})
    assert ml_columns_from_config(off) == (None, ())
