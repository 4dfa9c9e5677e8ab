"""ONNX export of the ensemble: reproduces PyTorch, documents itself, runs via the client."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.abcdnn.ensemble import train_ensemble
from analysis.abcdnn.export import MODEL_NAME, apply_map, export_ensemble
from analysis.abcdnn.inputs import prepare_grid
from analysis.abcdnn.regions import encode_conditions
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.toy import make_toy_features
from analysis.abcdnn.training import morph
from inference.metadata import read_metadata, validate_metadata


@pytest.fixture(scope="module")
def ensemble(fast_settings: ABCDnnSettings):
    settings = fast_settings.model_copy(update={"max_steps": 5, "ensemble_size": 2})
    data = prepare_grid(make_toy_features(settings.signal_grid, n_mc=300, n_data=300),
                        settings.signal_grid, settings)
    trained = train_ensemble(data, settings)
    # A few steps leave the maps near the identity: distort them so the check is generic.
    torch.manual_seed(0)
    with torch.no_grad():
        for flow in trained.flows:
            for p in flow.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return trained


def test_onnx_reproduces_pytorch_through_inference_client(ensemble, tmp_path) -> None:
    path = export_ensemble(ensemble, tmp_path / "models")
    assert path == tmp_path / "models" / MODEL_NAME / "1" / "model.onnx"
    assert (tmp_path / "models" / MODEL_NAME / "config.pbtxt").is_file()
    x = ensemble.data.mc.x
    cells = ensemble.data.mc.cells
    y = apply_map(x, encode_conditions(cells), repository=tmp_path / "models")
    reference = np.stack([morph(f, x, cells, "factorized") for f in ensemble.flows], axis=1)
    assert y.shape == (len(x), 2, 2)
    assert np.max(np.abs(reference - x[:, None, :])) > 0.1  # the maps really move events
    np.testing.assert_allclose(y, reference, atol=1e-5, rtol=0)


def test_metadata_documents_preprocessing_and_grid(ensemble, tmp_path) -> None:
    meta = read_metadata(export_ensemble(ensemble, tmp_path / "models"))
    validate_metadata(meta, MODEL_NAME)
    features = meta["inputs"][0]["features"]
    std = ensemble.data.standardizer
    assert [f["name"] for f in features] == ["logit(dnn_score)", "log(ht/GeV)"]
    np.testing.assert_allclose([f["median"] for f in features], std.mean)
    np.testing.assert_allclose([1 / f["norm_factor"] for f in features], std.std)
    assert "nj9p_nb3p" in meta["inputs"][1]["cells"]
    assert meta["inputs"][1]["cells"]["nj9p_nb3p"]["letter"] == "D"
    assert meta["metrics"]["extended_abcd"]["value"] == pytest.approx(ensemble.abcd.value)


def test_preprocessing_from_metadata_alone_reproduces_inputs(ensemble, tmp_path) -> None:
    """A reader with only the .onnx file standardizes (score, HT) like the training did."""
    meta = read_metadata(export_ensemble(ensemble, tmp_path / "models"))
    feats = meta["inputs"][0]["features"]
    score, ht = ensemble.data.mc.score, ensemble.data.mc.ht
    raw = np.stack([np.log(score / (1 - score)), np.log(ht)], axis=1)
    x = np.stack([np.clip((raw[:, i] - f["median"]) * f["norm_factor"], f["lower_bound"],
                          f["upper_bound"]) for i, f in enumerate(feats)], axis=1)
    np.testing.assert_allclose(x, ensemble.data.mc.x, atol=1e-5)
