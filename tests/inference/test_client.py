"""Client: retry waits, failure after retries, server killed mid-run, pickling, settings."""

from __future__ import annotations

import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from common.exceptions import ModelInputError, ModelNotFoundError, ServerUnavailableError
from inference.client import InProcessClient, TransientError, backoff_delay, make_client
from inference.server import serve_in_thread
from inference.settings import InferenceSettings
from tests.inference.onnx_models import N_FEATURES


class FixedRandom:
    """Stands in for random.Random: always returns ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_backoff_delays_are_the_intended_seconds() -> None:
    s = InferenceSettings(
        backoff_initial_s=0.5, backoff_multiplier=2.0, backoff_max_s=3.0, jitter=0.2
    )
    # Middle of the jitter range: 0.5, 1, 2, then capped at 3.
    assert [backoff_delay(k, s, FixedRandom(0.5)) for k in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    # Jitter extremes scale by 1 -/+ 0.2.
    assert backoff_delay(1, s, FixedRandom(0.0)) == pytest.approx(0.8)
    assert backoff_delay(1, s, FixedRandom(1.0)) == pytest.approx(1.2)


class FlakyClient(InProcessClient):
    """In-process client whose first ``failures`` batch calls fail transiently."""

    def __init__(self, settings, failures: int, **kwargs) -> None:
        super().__init__(settings, **kwargs)
        self.failures = failures

    def _infer_batch(self, model, inputs, outputs):
        if self.failures > 0:
            self.failures -= 1
            raise TransientError("connection refused")
        return super()._infer_batch(model, inputs, outputs)


def test_retries_sleep_the_backoff_then_succeed(model_repo: Path) -> None:
    waits: list[float] = []
    settings = InferenceSettings(
        repository=model_repo, retries=3, backoff_initial_s=0.25, jitter=0.5
    )
    client = FlakyClient(settings, failures=2, sleep=waits.append, rng=FixedRandom(1.0))
    out = client.infer("linear", {"x": np.ones((4, 3), np.float32)})
    np.testing.assert_array_equal(out["y"], np.full((4, 1), 7.0, np.float32))
    assert waits == [0.25 * 1.5, 0.5 * 1.5]


def test_failure_after_all_retries_names_tries_and_target(model_repo: Path) -> None:
    waits: list[float] = []
    settings = InferenceSettings(repository=model_repo, retries=2, backoff_initial_s=1.0, jitter=0)
    client = FlakyClient(settings, failures=10, sleep=waits.append)
    with pytest.raises(ServerUnavailableError, match="failed after 3 tries to repository"):
        client.infer("linear", {"x": np.ones((4, 3), np.float32)})
    assert waits == [1.0, 2.0]


@pytest.mark.parametrize("mode", ["http", "grpc"])
def test_unreachable_server_raises_after_n_tries(mode) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}" if mode == "http" else f"127.0.0.1:{port}"
    waits: list[float] = []
    client = make_client(
        {
            "mode": mode,
            "url": url,
            "retries": 2,
            "backoff_initial_s": 0.01,
            "jitter": 0,
            "timeout_s": 2,
        },
        sleep=waits.append,
    )
    with pytest.raises(ServerUnavailableError, match=f"after 3 tries to .*127.0.0.1:{port}"):
        client.infer("mlp", {"features": np.ones((2, N_FEATURES), np.float32)})
    assert waits == [0.01, 0.02]
    client.close()


@pytest.mark.parametrize("mode", ["http", "grpc"])
@pytest.mark.parametrize("restart", [True, False])
def test_server_killed_during_a_run(model_repo: Path, rng, mode, restart) -> None:
    """After a kill the client either completes on the restarted server or raises; never partial."""
    x = rng.normal(size=(1000, N_FEATURES)).astype(np.float32)
    expected = make_client({"mode": "inprocess", "repository": model_repo}).infer(
        "mlp", {"features": x}
    )
    http_port, grpc_port = _free_port(), _free_port()
    servers = [serve_in_thread(model_repo, http_port=http_port, grpc_port=grpc_port)]
    url = servers[0].http_url if mode == "http" else servers[0].grpc_url
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if restart and len(servers) == 1:
            servers.append(serve_in_thread(model_repo, http_port=http_port, grpc_port=grpc_port))

    client = make_client(
        {
            "mode": mode,
            "url": url,
            "batch_size": 100,
            "retries": 3,
            "backoff_initial_s": 0.01,
            "jitter": 0,
            "timeout_s": 5,
        },
        sleep=sleep,
    )
    calls = {"n": 0}
    real_batch = client._infer_batch

    def batch_then_kill(model, inputs, outputs):
        calls["n"] += 1
        if calls["n"] == 4:
            servers[0].stop()  # the server dies after three of ten batches
        return real_batch(model, inputs, outputs)

    client._infer_batch = batch_then_kill
    try:
        if restart:
            out = client.infer("mlp", {"features": x})
            np.testing.assert_allclose(out["score"], expected["score"], atol=1e-6, rtol=0)
            assert len(out["score"]) == len(x) and waits[0] == 0.01
        else:
            with pytest.raises(ServerUnavailableError, match="after 4 tries"):
                client.infer("mlp", {"features": x})
            assert waits == [0.01, 0.02, 0.04]
    finally:
        client.close()
        for server in servers:
            server.stop()


def test_client_errors_are_specific(model_repo: Path) -> None:
    with serve_in_thread(model_repo) as server:
        for url, mode in ((server.http_url, "http"), (server.grpc_url, "grpc")):
            client = make_client({"mode": mode, "url": url, "retries": 0})
            with pytest.raises(ModelNotFoundError, match="'nope'"):
                client.infer("nope", {"x": np.ones((1, 3), np.float32)})
            with pytest.raises(ModelInputError, match="expected dtype float32"):
                client.infer("linear", {"x": np.ones((1, 3), np.float64)})
            with pytest.raises(ModelInputError, match="share their first"):
                client.infer("graphnet", {"points": np.ones((2, 1)), "mask": np.ones((3, 1))})
            client.close()


@pytest.mark.parametrize("mode", ["inprocess", "http", "grpc"])
def test_clients_pickle_without_sessions_and_rebuild(model_repo: Path, mode) -> None:
    with serve_in_thread(model_repo) as server:
        url = {"http": server.http_url, "grpc": server.grpc_url}.get(mode)
        client = make_client({"mode": mode, "url": url, "repository": model_repo})
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        first = client.infer("linear", {"x": x})["y"]
        copy = pickle.loads(pickle.dumps(client))
        if mode == "inprocess":
            assert client.loads == 1 and copy.loads == 0
        np.testing.assert_array_equal(copy.infer("linear", {"x": x})["y"], first)
        np.testing.assert_array_equal(first[:, 0], [9.0, 27.0])
        copy.close()
        client.close()


def test_settings_validation() -> None:
    with pytest.raises(ValidationError, match="needs 'url'"):
        InferenceSettings(mode="http")
    with pytest.raises(ValidationError, match="mode"):
        InferenceSettings(mode="triton")
    with pytest.raises(ValidationError, match="extra"):
        InferenceSettings(retry=3)


def test_grpc_request_bytes_are_the_protobuf_message() -> None:
    """The gRPC client writes ModelInferRequest's wire bytes itself (one copy of the
    tensors); they must be exactly what protobuf serializes, for every input dtype and
    for tensors whose length needs a multi-byte varint."""
    from tritonclient.grpc import service_pb2 as pb

    from inference.grpc_client import encode_infer_request

    rng = np.random.default_rng(3)
    inputs = {
        "features": rng.normal(size=(300, 7)).astype(np.float32),  # 8400 bytes: 2-byte length
        "ids": rng.integers(-5, 5, size=(300, 2)).astype(np.int64)[:, ::-1],  # not contiguous
        "mask": rng.random((300, 1)) > 0.5,
        "one": np.zeros((1, 0), dtype=np.float64),  # empty tensor
    }
    expected = pb.ModelInferRequest(model_name="net")
    for name, array in inputs.items():
        dtype = {"float32": "FP32", "int64": "INT64", "bool": "BOOL", "float64": "FP64"}
        expected.inputs.add(name=name, datatype=dtype[array.dtype.name], shape=array.shape)
        expected.raw_input_contents.append(np.ascontiguousarray(array).tobytes())
    expected.outputs.add(name="prob")
    encoded = encode_infer_request("net", inputs, ["prob"])
    assert encoded == expected.SerializeToString()
    decoded = pb.ModelInferRequest.FromString(encoded)
    assert decoded.raw_input_contents[1] == np.ascontiguousarray(inputs["ids"]).tobytes()
