"""Third-party models as users bring them: no provenance card, Triton-style folders."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from tests.inference.onnx_models import N_POINTS, GraphNet, linear_model

N_XGB_FEATURES = 5


def strip_metadata(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without any ``metadata_props`` (as third-party files come)."""
    del model.metadata_props[:]
    return model


def save_onnx(
    repo: Path, name: str, model: onnx.ModelProto, config: str | None = None, version: int = 1
) -> Path:
    """``<repo>/<name>/<version>/model.onnx`` and, when given, the config text."""
    folder = repo / name / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    if config is not None:
        (repo / name / "config.pbtxt").write_text(config)
    return folder / "model.onnx"


def particlenet_from_torchscript() -> onnx.ModelProto:
    """A ParticleNet-style EdgeConv net, scripted to TorchScript, then exported to ONNX."""
    torch.manual_seed(3)
    args = (torch.rand(2, N_POINTS, 2), torch.rand(2, N_POINTS, 4), torch.ones(2, N_POINTS, 1))
    traced = torch.jit.trace(GraphNet().eval(), args)
    names = ["points", "features", "mask"]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            traced,
            args,
            buffer,
            input_names=names,
            output_names=["prob", "point_score"],
            dynamic_axes={n: {0: "batch"} for n in [*names, "prob", "point_score"]},
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


PARTICLENET_CONFIG = f"""
platform: "onnxruntime_onnx"
max_batch_size: 32
input [
  {{ name: "points" data_type: TYPE_FP32 dims: [ {N_POINTS}, 2 ] }},
  {{ name: "features" data_type: TYPE_FP32 dims: [ {N_POINTS}, 4 ] }},
  {{ name: "mask" data_type: TYPE_FP32 dims: [ {N_POINTS}, 1 ] }}
]
output [
  {{ name: "prob" data_type: TYPE_FP32 dims: [ 2 ] }},
  {{ name: "point_score" data_type: TYPE_FP32 dims: [ {N_POINTS} ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: 500 }}
"""


def xgboost_classifier() -> onnx.ModelProto:
    """An xgboost classifier converted with onnxmltools: int64 ``label`` [N] and
    ``probabilities`` [N, 2] (onnxmltools writes no ZipMap for xgboost)."""
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, N_XGB_FEATURES)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(x, y)
    types = [("input", FloatTensorType([None, N_XGB_FEATURES]))]
    return onnxmltools.convert_xgboost(model, initial_types=types)


XGB_PROBS_CONFIG = f"""
backend: "onnxruntime"
max_batch_size: 64
input [ {{ name: "input" data_type: TYPE_FP32 dims: [ {N_XGB_FEATURES} ] }} ]
output [ {{ name: "probabilities" data_type: TYPE_FP32 dims: [ 2 ] }} ]
"""


def bare_linear() -> onnx.ModelProto:
    """y = x @ (1, 2, 3) + 1, no metadata (served without config.pbtxt)."""
    return strip_metadata(linear_model())


class TwoHeads(torch.nn.Module):
    """TorchScript test module: (x, y) -> (x @ w + y.sum, tanh(x))."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.w = torch.nn.Parameter(torch.randn(3, 2))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x @ self.w + y.sum(dim=1, keepdim=True), torch.tanh(x)


def save_torchscript(repo: Path, name: str, config: str) -> torch.jit.ScriptModule:
    """``<repo>/<name>/1/model.pt`` (scripted :class:`TwoHeads`) and its config."""
    module = torch.jit.script(TwoHeads().eval())
    (repo / name / "1").mkdir(parents=True)
    module.save(str(repo / name / "1" / "model.pt"))
    (repo / name / "config.pbtxt").write_text(config)
    return module


TORCH_INDEXED_CONFIG = """
platform: "pytorch_libtorch"
max_batch_size: 16
input [
  { name: "INPUT__1" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3 ] }
]
output [
  { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 2 ] },
  { name: "OUTPUT__1" data_type: TYPE_FP32 dims: [ 3 ] }
]
"""

TORCH_NAMED_CONFIG = """
platform: "pytorch_libtorch"
max_batch_size: 16
input [
  { name: "y" data_type: TYPE_FP32 dims: [ 4 ] },
  { name: "x" data_type: TYPE_FP32 dims: [ 3 ] }
]
output [ { name: "sum" data_type: TYPE_FP32 dims: [ 2 ] } ]
"""
