"""Small ONNX models for the inference tests (torch export and onnx.helper)."""

from __future__ import annotations

import io
import warnings

import onnx
import torch
from onnx import TensorProto, helper

from inference.metadata import set_metadata

N_FEATURES = 30
N_POINTS = 16
MLP_MAX_BATCH = 256


def metadata_for(inputs: list[dict], outputs: list[dict]) -> dict:
    """A complete metadata set for a test model."""
    return {
        "description": "test model",
        "inputs": inputs,
        "outputs": outputs,
        "training_samples": "none (random weights)",
        "version": "1",
        "metrics": {"auc": 0.5},
        "license": "BSD-3-Clause",
    }


class EdgeConv(torch.nn.Module):
    """EdgeConv block: k nearest neighbours in ``points``, MLP on (x_i, x_j - x_i), mean."""

    def __init__(self, c_in: int, c_out: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.mlp = torch.nn.Sequential(torch.nn.Linear(2 * c_in, c_out), torch.nn.ReLU())

    def forward(self, points: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n, p, c = x.shape
        dist = ((points[:, :, None, :] - points[:, None, :, :]) ** 2).sum(-1)
        idx = dist.topk(self.k + 1, dim=-1, largest=False).indices[:, :, 1:]
        flat = idx + (torch.arange(n) * p)[:, None, None]
        neighbours = x.reshape(n * p, c)[flat]
        centre = x[:, :, None, :].expand(n, p, self.k, c)
        return self.mlp(torch.cat([centre, neighbours - centre], dim=-1)).mean(dim=2)


class GraphNet(torch.nn.Module):
    """A tiny ParticleNet-like network: per-event probabilities and per-point scores."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = EdgeConv(4, 8, k=4)
        self.point_head = torch.nn.Linear(8, 1)
        self.head = torch.nn.Linear(8, 2)

    def forward(self, points, features, mask):  # noqa: D102
        h = self.conv(points, features) * mask
        pooled = h.sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.softmax(self.head(pooled), dim=-1), self.point_head(h)[..., 0] * mask[..., 0]


def export(module: torch.nn.Module, args: tuple, inputs: list[str], outputs: list[str]):
    """Export with the TorchScript exporter (batch dim dynamic) and return the ModelProto."""
    buffer = io.BytesIO()
    axes = {name: {0: "batch"} for name in inputs + outputs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            buffer,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def mlp_model() -> onnx.ModelProto:
    """MLP: features (N, 30) -> score (N, 1) and logits (N, 2)."""
    torch.manual_seed(1)

    class MLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, 16), torch.nn.ReLU())
            self.out = torch.nn.Linear(16, 2)

        def forward(self, features):  # noqa: D102
            logits = self.out(self.body(features))
            return torch.sigmoid(logits[:, :1]), logits

    model = export(MLP().eval(), (torch.zeros(2, N_FEATURES),), ["features"], ["score", "logits"])
    feats = [{"name": "features", "shape": [N_FEATURES], "dtype": "float32", "units": "a.u."}]
    outs = [{"name": "score", "meaning": "signal probability"}, {"name": "logits"}]
    return set_metadata(model, **metadata_for(feats, outs))


def graph_model() -> onnx.ModelProto:
    """Graph net: points (N,P,2), features (N,P,4), mask (N,P,1) -> prob, point_score."""
    torch.manual_seed(2)
    args = (torch.rand(2, N_POINTS, 2), torch.rand(2, N_POINTS, 4), torch.ones(2, N_POINTS, 1))
    model = export(GraphNet().eval(), args, ["points", "features", "mask"], ["prob", "point_score"])
    ins = [
        {"name": n, "shape": [N_POINTS, d], "pad_length": N_POINTS}
        for n, d in (("points", 2), ("features", 4), ("mask", 1))
    ]
    return set_metadata(model, **metadata_for(ins, [{"name": "prob"}, {"name": "point_score"}]))


def linear_model() -> onnx.ModelProto:
    """Per-object model without torch: y (N, 1) = x (N, 3) @ w + 1 with w = (1, 2, 3)."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 1], [1.0, 2.0, 3.0])
    b = helper.make_tensor("b", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return set_metadata(model, **metadata_for([{"name": "x", "shape": [3]}], [{"name": "y"}]))
