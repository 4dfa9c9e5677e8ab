"""ONNX Runtime engine: correct numbers, provider reporting, input validation."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from common.exceptions import InferenceError, ModelInputError
from inference.engine import DeviceFallbackWarning, Engine
from inference.metadata import set_metadata
from inference.repository import write_model
from tests.inference.onnx_models import N_FEATURES, N_POINTS, export, metadata_for


def test_linear_model_computes_the_affine_map(model_repo: Path, rng) -> None:
    engine = Engine(model_repo / "linear" / "1" / "model.onnx")
    x = rng.normal(size=(50, 3)).astype(np.float32)
    y = engine.run({"x": x})["y"]
    # y = x . (1, 2, 3) + 1, computed independently here.
    expected = x[:, 0] + 2 * x[:, 1] + 3 * x[:, 2] + 1
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-6, atol=1e-6)


def test_engine_reports_real_provider_and_falls_back(model_repo: Path) -> None:
    path = model_repo / "mlp" / "1" / "model.onnx"
    assert Engine(path).provider == "CPUExecutionProvider"
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA build of ONNX Runtime is installed; fallback cannot be provoked")
    with pytest.warns(DeviceFallbackWarning, match="asked for CUDAExecutionProvider"):
        engine = Engine(path, device="cuda")
    assert engine.provider == "CPUExecutionProvider"
    with pytest.raises(InferenceError, match="'mlp': asked for CUDAExecutionProvider"):
        Engine(path, device="cuda", strict_device=True)


def test_input_validation_names_model_input_expected_and_got(model_repo: Path) -> None:
    engine = Engine(model_repo / "mlp" / "1" / "model.onnx")
    good = np.zeros((4, N_FEATURES), dtype=np.float32)
    with pytest.raises(
        ModelInputError, match="'mlp', input 'features': expected dtype float32.*got float64"
    ):
        engine.run({"features": good.astype(np.float64)})
    with pytest.raises(ModelInputError, match="expected shape \\[-1, 30\\] .*got \\[4, 29\\]"):
        engine.run({"features": good[:, :29]})
    with pytest.raises(ModelInputError, match="got \\[30\\]"):
        engine.run({"features": good[0]})
    with pytest.raises(ModelInputError, match="missing inputs \\['features'\\]"):
        engine.run({"x": good})
    with pytest.raises(ModelInputError, match="unknown outputs \\['nope'\\]"):
        engine.run({"features": good}, ["nope"])


def test_mismatched_batch_sizes_are_rejected(model_repo: Path) -> None:
    engine = Engine(model_repo / "graphnet" / "1" / "model.onnx")
    feed = {
        "points": np.zeros((3, N_POINTS, 2), np.float32),
        "features": np.zeros((3, N_POINTS, 4), np.float32),
        "mask": np.zeros((2, N_POINTS, 1), np.float32),
    }
    with pytest.raises(ModelInputError, match="input 'mask': batch size 2 differs"):
        engine.run(feed)


def test_feeds_the_inputs_the_session_lists(tmp_path: Path) -> None:
    """The TorchScript exporter drops unused inputs; the engine must not feed them."""

    class UsesOne(torch.nn.Module):
        def forward(self, used, unused):  # noqa: D102
            return used * 2.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = export(UsesOne(), (torch.ones(2, 3), torch.ones(2, 3)), ["used", "unused"], ["out"])
    set_metadata(model, **metadata_for([{"name": "used"}], [{"name": "out"}]))
    write_model(tmp_path, "one", model, max_batch_size=4)
    engine = Engine(tmp_path / "one" / "1" / "model.onnx")
    assert engine.input_names == ["used"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = engine.run({"used": x, "unused": x})["out"]
    np.testing.assert_array_equal(out, 2 * x)
