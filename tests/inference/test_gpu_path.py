"""The GPU path, tested on CPU: I/O binding gives the plain run's numbers, ``serve
--device cuda`` reports the provider really used (and fails with --strict-device when CUDA
is not obtained), TorchScript models report their device the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from common.exceptions import InferenceError
from inference.engine import DeviceFallbackWarning, Engine
from inference.server import main
from inference.server.core import ModelServer
from inference.settings import ServerSettings
from tests.inference import triton_models as tm
from tests.inference.onnx_models import N_FEATURES, N_POINTS

NO_CUDA_ORT = pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(),
    reason="a CUDA build of ONNX Runtime is installed; the fallback cannot be provoked",
)


def test_io_binding_gives_the_plain_run_numbers(model_repo: Path, rng) -> None:
    feeds = {
        "mlp": {"features": rng.normal(size=(40, N_FEATURES)).astype(np.float32)},
        "graphnet": {
            "points": rng.random((8, N_POINTS, 2), dtype=np.float32),
            "features": rng.random((8, N_POINTS, 4), dtype=np.float32),
            "mask": np.ones((8, N_POINTS, 1), np.float32),
        },
    }
    for model, feed in feeds.items():
        path = model_repo / model / "1" / "model.onnx"
        plain = Engine(path)
        bound = Engine(path, io_binding=True)
        assert not plain.io_binding  # on the CPU provider binding is off by default
        want, got = plain.run(feed), bound.run(feed)
        assert sorted(got) == sorted(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


@NO_CUDA_ORT
def test_server_asked_for_cuda_reports_cpu_or_refuses(model_repo: Path) -> None:
    settings = ServerSettings(repository=model_repo, device="cuda", http_port=None, grpc_port=None)
    with pytest.warns(DeviceFallbackWarning, match="asked for CUDAExecutionProvider"):
        server = ModelServer(settings)
    config = server.model_config("mlp")
    assert config["parameters"]["execution_provider"]["string_value"] == "CPUExecutionProvider"
    strict = settings.model_copy(update={"strict_device": True})
    with pytest.raises(InferenceError, match="asked for CUDAExecutionProvider but ONNX Runtime"):
        ModelServer(strict)


@NO_CUDA_ORT
def test_serve_command_with_strict_cuda_fails_clearly(model_repo: Path) -> None:
    args = ["--models", str(model_repo), "--device", "cuda", "--strict-device"]
    with pytest.raises(InferenceError, match="is onnxruntime-gpu installed and a GPU visible"):
        main([*args, "--http-port", "-1", "--grpc-port", "-1"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible to torch")
def test_torchscript_on_cuda_without_gpu_warns_or_refuses(tmp_path: Path) -> None:
    tm.save_torchscript(tmp_path, "ts", tm.TORCH_NAMED_CONFIG)
    settings = ServerSettings(repository=tmp_path, device="cuda", http_port=None, grpc_port=None)
    with pytest.warns(DeviceFallbackWarning, match="torch sees no GPU"):
        server = ModelServer(settings)
    assert server.engines[("ts", 1)].provider == "torch-cpu"
    with pytest.raises(InferenceError, match="'ts': asked for CUDA"):
        ModelServer(settings.model_copy(update={"strict_device": True}))
