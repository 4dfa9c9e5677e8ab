"""Third-party models served as NVIDIA Triton serves them, checked with tritonclient.

A ParticleNet-style net exported to ONNX from TorchScript, an onnxmltools xgboost
classifier (with its int64 ``label``; full and output-subset configs), a model with neither
config.pbtxt nor metadata, and TorchScript ``pytorch_libtorch`` models (both of Triton's
input naming conventions): health, metadata and outputs equal to in-process ONNX Runtime /
torch to 1e-6, over HTTP and gRPC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

from inference.repository import load_repository
from inference.server import serve_in_thread
from inference.settings import DEFAULT_REPOSITORY
from tests.inference import triton_models as tm
from tests.inference.onnx_models import N_POINTS

MODELS = ["particlenet", "xgb", "xgb_probs", "bare", "torch_indexed", "torch_named"]


@pytest.fixture(scope="module")
def third_party(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The repository and the TorchScript modules it holds."""
    torch.set_num_threads(1)
    repo = tmp_path_factory.mktemp("third_party")
    tm.save_onnx(repo, "particlenet", tm.particlenet_from_torchscript(), tm.PARTICLENET_CONFIG)
    xgb = tm.xgboost_classifier()
    tm.save_onnx(repo, "xgb", xgb)  # no config: auto-completed
    tm.save_onnx(repo, "xgb_probs", xgb, tm.XGB_PROBS_CONFIG)
    tm.save_onnx(repo, "bare", tm.bare_linear())
    modules = {
        "torch_indexed": tm.save_torchscript(repo, "torch_indexed", tm.TORCH_INDEXED_CONFIG),
        "torch_named": tm.save_torchscript(repo, "torch_named", tm.TORCH_NAMED_CONFIG),
    }
    return repo, modules


@pytest.fixture(scope="module")
def server(third_party):
    with serve_in_thread(third_party[0]) as handle:
        yield handle


def _inputs(rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    def f32(*shape):
        return rng.random(shape, dtype=np.float32)

    xgb = {"input": rng.normal(size=(4, tm.N_XGB_FEATURES)).astype(np.float32)}
    torch_in = {"x": f32(5, 3), "y": f32(5, 4)}
    return {
        "particlenet": {
            "points": f32(3, N_POINTS, 2),
            "features": f32(3, N_POINTS, 4),
            "mask": (rng.random((3, N_POINTS, 1)) > 0.3).astype(np.float32),
        },
        "xgb": xgb,
        "xgb_probs": xgb,
        "bare": {"x": f32(4, 3)},  # auto-completed max_batch_size is Triton's 4
        "torch_indexed": {"INPUT__0": torch_in["x"], "INPUT__1": torch_in["y"]},
        "torch_named": torch_in,
    }


def _expected(repo: Path, modules: dict, name: str, inputs: dict) -> dict[str, np.ndarray]:
    """In-process ONNX Runtime / torch results, shaped as Triton serves them."""
    if name.startswith("torch"):
        module = modules[name]
        x, y = (
            torch.from_numpy(inputs[k])
            for k in (("INPUT__0", "INPUT__1") if name == "torch_indexed" else ("x", "y"))
        )
        with torch.inference_mode():
            first, second = (t.numpy() for t in module(x, y))
        if name == "torch_named":
            return {"sum": first}
        return {"OUTPUT__0": first, "OUTPUT__1": second}
    if name == "bare":  # independent of any engine: y = x @ (1, 2, 3) + 1
        return {"y": inputs["x"] @ np.array([[1.0], [2.0], [3.0]], np.float32) + 1}
    session = ort.InferenceSession(str(repo / name / "1" / "model.onnx"))
    out = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs), strict=True))
    if name == "xgb":
        out["label"] = out["label"][:, None]  # batch-only tensor: dims [1], reshape []
    if name == "xgb_probs":
        del out["label"]
    return out


def _check(results: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(results) == sorted(expected)
    for key, want in expected.items():
        assert results[key].dtype == want.dtype, key
        assert results[key].shape == want.shape, key
        np.testing.assert_allclose(results[key], want, rtol=1e-6, atol=1e-6, err_msg=key)


def test_shipped_models_keep_complete_cards() -> None:
    repo = load_repository(DEFAULT_REPOSITORY)
    assert repo.names()
    for entry in repo.models.values():
        assert entry.documented, (entry.name, entry.missing_metadata)


def test_tritonclient_http_serves_third_party_models(server, third_party, rng) -> None:
    repo, modules = third_party
    client = thttp.InferenceServerClient(server.http_url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    for name, inputs in _inputs(rng).items():
        assert client.is_model_ready(name), name
        meta = client.get_model_metadata(name)
        assert meta["documented"] is False, name  # no card, served anyway
        expected = _expected(repo, modules, name, inputs)
        assert sorted(o["name"] for o in meta["outputs"]) == sorted(expected), name
        request = []
        for key, array in inputs.items():
            tensor = thttp.InferInput(key, list(array.shape), _datatype(array))
            tensor.set_data_from_numpy(array, binary_data=True)
            request.append(tensor)
        wanted = [thttp.InferRequestedOutput(k, binary_data=True) for k in expected]
        response = client.infer(name, request, outputs=wanted)
        _check({k: response.as_numpy(k) for k in expected}, expected)
    client.close()


def test_tritonclient_grpc_serves_third_party_models(server, third_party, rng) -> None:
    repo, modules = third_party
    client = tgrpc.InferenceServerClient(server.grpc_url)
    assert client.is_server_live() and client.is_server_ready()
    for name, inputs in _inputs(rng).items():
        assert client.is_model_ready(name), name
        meta = client.get_model_metadata(name, as_json=True)
        expected = _expected(repo, modules, name, inputs)
        assert sorted(o["name"] for o in meta["outputs"]) == sorted(expected), name
        config = client.get_model_config(name, as_json=True)["config"]
        assert config["parameters"]["documented"]["string_value"] == "false"
        request = []
        for key, array in inputs.items():
            tensor = tgrpc.InferInput(key, list(array.shape), _datatype(array))
            tensor.set_data_from_numpy(array)
            request.append(tensor)
        response = client.infer(name, request)  # all configured outputs
        _check({k: response.as_numpy(k) for k in expected}, expected)
    client.close()


def test_autocompleted_configs_follow_triton(server) -> None:
    model_server = server.model_server
    bare = model_server.model_config("bare")
    assert bare["max_batch_size"] == 4  # Triton's default-max-batch-size
    assert "dynamic_batching" in bare
    assert [i["dims"] for i in bare["input"]] == [[3]]
    xgb = model_server.model_metadata("xgb")
    assert {o["name"]: (o["datatype"], o["shape"]) for o in xgb["outputs"]} == {
        "label": ("INT64", [-1, 1]),
        "probabilities": ("FP32", [-1, 2]),
    }
    assert model_server.model_metadata("xgb_probs")["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}
    ]
    assert model_server.model_metadata("torch_indexed")["platform"] == "pytorch_libtorch"


def _datatype(array: np.ndarray) -> str:
    return {np.float32: "FP32", np.int64: "INT64"}[array.dtype.type]


def test_in_process_client_runs_a_model_without_config_or_card(tmp_path) -> None:
    """The in-process client reads the repository as the server does: no config.pbtxt."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from inference.client import make_client

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "bare" / "1").mkdir(parents=True)
    onnx.save(model, tmp_path / "bare" / "1" / "model.onnx")
    data = np.array([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]], dtype=np.float32)
    client = make_client({"mode": "inprocess", "repository": tmp_path})
    assert client.load_all() == ["bare"]
    out = client.infer("bare", {"x": data})
    reference = ort.InferenceSession(str(tmp_path / "bare" / "1" / "model.onnx"),
                                     providers=["CPUExecutionProvider"]).run(None, {"x": data})
    np.testing.assert_array_equal(out["y"], reference[0])
    client.close()
