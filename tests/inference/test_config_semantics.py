"""Triton config semantics on our server: reshape, max_batch_size 0, version policies,
and clear refusals of configs that do not fit the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from common.exceptions import ModelInputError, ModelNotFoundError, ModelRepositoryError
from inference.repository import load_repository
from inference.server.core import ModelServer
from inference.settings import ServerSettings
from tests.inference import triton_models as tm
from tests.inference.onnx_models import linear_model


def _linear(weights: tuple[float, float, float]) -> onnx.ModelProto:
    model = tm.bare_linear()
    init = model.graph.initializer[0]
    assert init.name == "w"
    init.CopyFrom(helper.make_tensor("w", TensorProto.FLOAT, [3, 1], list(weights)))
    return model


def _doubler() -> onnx.ModelProto:
    """z = 2 x for x of any 2-d shape (no batch dim)."""
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["z"])],
        "doubler",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["a", "b"])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["a", "b"])],
        initializer=[two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _server(repo: Path) -> ModelServer:
    return ModelServer(ServerSettings(repository=repo, http_port=None, grpc_port=None))


def test_reshape_inputs_and_outputs(tmp_path: Path, rng) -> None:
    tm.save_onnx(
        tmp_path,
        "lin",
        tm.bare_linear(),
        """
        max_batch_size: 8
        input [ { name: "x" data_type: TYPE_FP32 dims: [ 1, 3 ] reshape { shape: [ 3 ] } } ]
        output [ { name: "y" data_type: TYPE_FP32 dims: [ 1, 1 ] reshape { shape: [ 1 ] } } ]
    """,
    )
    server = _server(tmp_path)
    x = rng.random((5, 1, 3), dtype=np.float32)
    out, _, _ = server.infer("lin", None, {"x": x})
    want = x[:, 0, :] @ np.array([[1.0], [2.0], [3.0]], np.float32) + 1
    np.testing.assert_allclose(out["y"], want[:, None, :], rtol=1e-6)
    assert server.model_metadata("lin")["inputs"][0]["shape"] == [-1, 1, 3]
    with pytest.raises(ModelInputError, match="expected dims"):
        server.infer("lin", None, {"x": rng.random((5, 3), dtype=np.float32)})


def test_max_batch_size_zero_with_variable_dims(tmp_path: Path, rng) -> None:
    tm.save_onnx(
        tmp_path,
        "dbl",
        _doubler(),
        """
        max_batch_size: 0
        input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, -1 ] } ]
        output [ { name: "z" data_type: TYPE_FP32 dims: [ -1, -1 ] } ]
    """,
    )
    server = _server(tmp_path)
    assert server.model_metadata("dbl")["inputs"][0]["shape"] == [-1, -1]
    for shape in ((3, 5), (7, 2), (1, 9)):
        x = rng.random(shape, dtype=np.float32)
        out, _, _ = server.infer("dbl", None, {"x": x})
        np.testing.assert_array_equal(out["z"], 2 * x)


def test_config_less_model_with_fixed_first_dim_is_not_batched(tmp_path: Path) -> None:
    model = _doubler()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 3
    tm.save_onnx(tmp_path, "dbl", model)
    entry = load_repository(tmp_path).get("dbl")
    assert entry.max_batch_size == 0
    assert not entry.dynamic_batching


@pytest.mark.parametrize(
    ("policy", "served"),
    [
        ("", [3]),
        ("latest { num_versions: 2 }", [2, 3]),
        ("all { }", [1, 2, 3]),
        ("specific { versions: [ 1, 3 ] }", [1, 3]),
    ],
)
def test_version_policy(tmp_path: Path, policy: str, served: list[int]) -> None:
    for version in (1, 2, 3):
        tm.save_onnx(tmp_path, "lin", _linear((version, 0, 0)), version=version)
    config = "max_batch_size: 8\n" + (f"version_policy {{ {policy} }}\n" if policy else "")
    (tmp_path / "lin" / "config.pbtxt").write_text(config)
    server = _server(tmp_path)
    assert server.model_metadata("lin")["versions"] == [str(v) for v in served]
    x = np.ones((2, 3), np.float32)
    for version in served:  # each version side by side, with its own weights
        out, _, number = server.infer("lin", str(version), {"x": x})
        assert number == version
        np.testing.assert_array_equal(out["y"], np.full((2, 1), version + 1.0, np.float32))
    assert server.infer("lin", None, {"x": x})[2] == max(served)
    for version in sorted({1, 2, 3} - set(served)):
        with pytest.raises(ModelNotFoundError, match=f"no version '{version}'"):
            server.infer("lin", str(version), {"x": x})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            'output [ { name: "nope" data_type: TYPE_FP32 dims: [ 1 ] } ]',
            "config outputs \\['nope'\\] differ",
        ),
        (
            'input [ { name: "x" data_type: TYPE_FP32 dims: [ 1, 3 ] reshape { shape: [ 4 ] } } ]',
            "input 'x' has reshape \\[4\\]",
        ),
        ("version_policy { specific { versions: [ 7 ] } }", "asks for versions \\[7\\]"),
        ('platform: "tensorflow_savedmodel"', "platform 'tensorflow_savedmodel' is not served"),
    ],
)
def test_configs_that_do_not_fit_are_refused(tmp_path: Path, config: str, message: str) -> None:
    tm.save_onnx(tmp_path, "lin", linear_model(), "max_batch_size: 8\n" + config)
    with pytest.raises(ModelRepositoryError, match=f"model 'lin'.*{message}"):
        load_repository(tmp_path)


def test_torchscript_needs_a_config_with_fitting_names(tmp_path: Path) -> None:
    tm.save_torchscript(tmp_path, "ts", 'platform: "pytorch_libtorch"\nmax_batch_size: 4\n')
    with pytest.raises(ModelRepositoryError, match="'ts'.*needs a config.pbtxt listing"):
        load_repository(tmp_path)
    bad = tm.TORCH_NAMED_CONFIG.replace('name: "y"', 'name: "w"')
    (tmp_path / "ts" / "config.pbtxt").write_text(bad)
    with pytest.raises(ModelRepositoryError, match="neither <name>__<index> names nor forward"):
        _server(tmp_path)


def _zipmap_classifier() -> onnx.ModelProto:
    """probabilities (N, 2) = x, plus a ZipMap of them (a sequence of maps, not a tensor)."""
    seq_of_maps = helper.make_sequence_type_proto(
        helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(1, []))
    )
    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["x"], ["probabilities"]),
            helper.make_node(
                "ZipMap",
                ["x"],
                ["output_probability"],
                domain="ai.onnx.ml",
                classlabels_int64s=[0, 1],
            ),
        ],
        "zipmap",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2]),
            helper.make_value_info("output_probability", seq_of_maps),
        ],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model


def test_zipmap_outputs_are_refused_clearly_unless_left_out(tmp_path: Path) -> None:
    tm.save_onnx(tmp_path, "zm", _zipmap_classifier())
    with pytest.raises(ModelRepositoryError, match="'output_probability' is not a numeric tensor"):
        load_repository(tmp_path)
    (tmp_path / "zm" / "config.pbtxt").write_text(
        'max_batch_size: 8\noutput [ { name: "probabilities" data_type: TYPE_FP32 dims: [ 2 ] } ]'
    )
    server = _server(tmp_path)
    x = np.array([[0.25, 0.75]], np.float32)
    np.testing.assert_array_equal(server.infer("zm", None, {"x": x})[0]["probabilities"], x)
