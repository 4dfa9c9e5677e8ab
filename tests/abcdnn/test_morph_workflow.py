"""The morph step end to end on a toy table: outputs, layout, and the blinded target."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.templates import Template
from analysis.abcdnn.toy import make_toy_features
from inference.metadata import read_metadata
from workflows.morph import run_morph


@pytest.fixture(scope="module")
def features_dir(tmp_path_factory, fast_settings: ABCDnnSettings):
    s = fast_settings
    table = pd.concat([
        make_toy_features(s.validation_grid, n_mc=400, n_data=400, seed=1),
        make_toy_features(s.signal_grid, n_mc=400, n_data=400, seed=2).query("n_jets >= 9"),
    ], ignore_index=True)
    out = tmp_path_factory.mktemp("run")
    (out / "features").mkdir()
    # One file per dataset, as the processor writes them.
    for process, part in table.groupby("process"):
        part.to_parquet(out / "features" / f"{process}.parquet")
    return out


def test_run_morph_writes_templates_plots_and_model(features_dir, fast_settings) -> None:
    settings = fast_settings.model_copy(update={"max_steps": 10, "ensemble_size": 2})
    result = run_morph(features_dir, features_dir, settings)

    signal = Template.from_json(result.template_paths["signal"])
    assert signal.region == "nj9p_nb3p"
    assert result.template_paths["validation"].name == "validation_nj8_nb3p.json"
    n_bins = len(settings.fit_bins) - 1
    for name in ("nominal", "ensemble_up", "ensemble_down", "nonclosure_up", "nonclosure_down"):
        assert len(getattr(signal, name)) == n_bins
    # Normalized to the extended-ABCD prediction; non-closure is shape only.
    assert sum(signal.nominal) == pytest.approx(signal.normalization["value"])
    assert sum(signal.nonclosure_up) == pytest.approx(sum(signal.nominal))
    assert np.all(np.asarray(signal.ensemble_up) >= np.asarray(signal.ensemble_down))

    assert result.model_path == features_dir / "models" / "abcdnn_map" / "1" / "model.onnx"
    assert "signal grid" in read_metadata(result.model_path)["description"]
    assert result.summary["onnx_max_abs_diff"] < 1e-5
    summary = json.loads(result.summary_path.read_text())
    assert summary["validation_closure"]["ndf"] == n_bins
    for grid in ("validation", "signal"):  # where the map is trained, per fit bin
        assert len(summary["score_support"][grid]["control_data_events"]) == n_bins
    names = {p.name for p in result.plots}
    assert "closure_validation.png" in names
    assert "signal_nj9p_nb3p_dnn_score.png" in names
    assert all(p.stat().st_size > 10_000 for p in result.plots)
