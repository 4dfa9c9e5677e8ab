"""KServe v2 server: tritonclient HTTP and gRPC against it, errors, limits, token, metrics."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from common.exceptions import ServerUnavailableError
from inference.client import make_client
from inference.server import serve_in_thread
from tests.inference.onnx_models import MLP_MAX_BATCH, N_FEATURES, N_POINTS

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(model_repo: Path):
    """One server for the module, on free localhost ports."""
    with serve_in_thread(model_repo) as handle:
        yield handle


@pytest.fixture(scope="module")
def reference(model_repo: Path):
    """In-process client: the numbers the servers must reproduce."""
    return make_client({"mode": "inprocess", "repository": model_repo})


def _graph_inputs(rng, n: int) -> dict[str, np.ndarray]:
    return {
        "points": rng.normal(size=(n, N_POINTS, 2)).astype(np.float32),
        "features": rng.normal(size=(n, N_POINTS, 4)).astype(np.float32),
        "mask": (rng.random((n, N_POINTS, 1)) < 0.8).astype(np.float32),
    }


def _http(server) -> thttp.InferenceServerClient:
    return thttp.InferenceServerClient(server.http_url.removeprefix("http://"))


def test_server_binds_localhost_by_default(server) -> None:
    assert server.http_url.startswith("http://127.0.0.1:")
    assert server.grpc_url.startswith("127.0.0.1:")


def test_tritonclient_http_health_metadata_and_infer(server, reference, rng) -> None:
    client = _http(server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("mlp") and not client.is_model_ready("nope")
    assert client.get_server_metadata()["extensions"] == [
        "binary_tensor_data",
        "model_configuration",
    ]
    meta = client.get_model_metadata("mlp")
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, N_FEATURES]}]
    config = client.get_model_config("mlp")
    assert config["max_batch_size"] == MLP_MAX_BATCH
    assert config["input"] == [{"name": "features", "data_type": "TYPE_FP32", "dims": [N_FEATURES]}]
    x = rng.normal(size=(100, N_FEATURES)).astype(np.float32)
    expected = reference.infer("mlp", {"features": x})
    for binary in (True, False):
        tensor = thttp.InferInput("features", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        wanted = [thttp.InferRequestedOutput(n, binary_data=binary) for n in ("logits", "score")]
        result = client.infer("mlp", [tensor], outputs=wanted)
        for name in ("score", "logits"):
            np.testing.assert_allclose(result.as_numpy(name), expected[name], atol=1e-6, rtol=0)
    client.close()


def test_tritonclient_grpc_health_metadata_and_infer(server, reference, rng) -> None:
    client = tgrpc.InferenceServerClient(server.grpc_url, ssl=False)
    assert (
        client.is_server_live() and client.is_server_ready() and client.is_model_ready("graphnet")
    )
    meta = client.get_model_metadata("graphnet", as_json=True)
    assert [t["name"] for t in meta["inputs"]] == ["points", "features", "mask"]
    assert client.get_model_config("graphnet").config.max_batch_size == 64
    feed = _graph_inputs(rng, 20)
    expected = reference.infer("graphnet", feed)
    tensors = []
    for name, array in feed.items():
        tensors.append(tgrpc.InferInput(name, list(array.shape), "FP32"))
        tensors[-1].set_data_from_numpy(array)
    result = client.infer("graphnet", tensors)
    for name in ("prob", "point_score"):
        np.testing.assert_allclose(result.as_numpy(name), expected[name], atol=1e-6, rtol=0)
    np.testing.assert_allclose(result.as_numpy("prob").sum(axis=1), 1.0, rtol=1e-5)
    client.close()


@pytest.mark.parametrize("mode", ["http", "grpc"])
def test_our_clients_batch_and_match_in_process(server, reference, rng, mode) -> None:
    url = server.http_url if mode == "http" else server.grpc_url
    client = make_client({"mode": mode, "url": url, "batch_size": 100})
    x = rng.normal(size=(1050, N_FEATURES)).astype(np.float32)
    out = client.infer("mlp", {"features": x})
    expected = reference.infer("mlp", {"features": x})
    assert out["score"].shape == (1050, 1)
    np.testing.assert_allclose(out["score"], expected["score"], atol=1e-6, rtol=0)
    assert list(client.infer("mlp", {"features": x[:3]}, ["logits"])) == ["logits"]
    empty = client.infer("mlp", {"features": x[:0]})
    assert empty["score"].shape == (0, 1) and empty["score"].dtype == np.float32
    assert client.model_metadata("graphnet")["outputs"][0]["shape"] == [-1, 2]
    client.close()


def test_concurrent_requests_are_all_answered_correctly(server, reference, rng) -> None:
    x = rng.normal(size=(32, 8, N_FEATURES)).astype(np.float32)
    client = make_client({"mode": "grpc", "url": server.grpc_url})
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda chunk: client.infer("mlp", {"features": chunk}), x))
    client.close()
    for chunk, out in zip(x, results, strict=True):
        np.testing.assert_allclose(
            out["score"], reference.infer("mlp", {"features": chunk})["score"], atol=1e-6, rtol=0
        )


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def _post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _binary_body(name: str, array: np.ndarray, datatype: str = "FP32", cut: int = 0):
    raw = array.tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": list(array.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        }
    ).encode()
    return header + raw[: len(raw) - cut], {"Inference-Header-Content-Length": str(len(header))}


def _assert_good_request_works(server) -> None:
    body, headers = _binary_body("features", np.ones((2, N_FEATURES), np.float32))
    assert _post(server.http_url + "/v2/models/mlp/infer", body, headers)[0] == 200


@pytest.mark.parametrize(
    ("model", "array", "datatype", "cut", "status", "message"),
    [
        ("mlp", np.ones((2, N_FEATURES)), "FP64", 0, 400, "expected dtype float32.*got float64"),
        ("mlp", np.ones((2, 7), np.float32), "FP32", 0, 400, "expected shape \\[-1, 30\\]"),
        ("nope", np.ones((2, 3), np.float32), "FP32", 0, 404, "'nope' is not in repository"),
        ("mlp", np.ones((2, N_FEATURES), np.float32), "FP32", 5, 400, "truncated"),
        (
            "mlp",
            np.ones((MLP_MAX_BATCH + 1, N_FEATURES), np.float32),
            "FP32",
            0,
            400,
            "max_batch_size 256",
        ),
        ("mlp", np.ones((2, N_FEATURES), np.float32), "STRING", 0, 400, "datatype 'STRING'"),
    ],
)
def test_http_bad_requests_get_4xx_and_server_keeps_serving(
    server, model, array, datatype, cut, status, message
) -> None:
    body, headers = _binary_body("features", array, datatype, cut)
    got, answer = _post(f"{server.http_url}/v2/models/{model}/infer", body, headers)
    assert got == status
    assert re.search(message, answer["error"]), answer
    _assert_good_request_works(server)


def test_grpc_bad_requests_get_status_codes(server) -> None:
    client = tgrpc.InferenceServerClient(server.grpc_url)
    cases = [
        ("mlp", np.ones((2, N_FEATURES)), "FP64", "INVALID_ARGUMENT", "expected dtype float32"),
        ("mlp", np.ones((2, 3), np.float32), "FP32", "INVALID_ARGUMENT", "expected shape"),
        ("nope", np.ones((2, 3), np.float32), "FP32", "NOT_FOUND", "'nope' is not in"),
    ]
    for model, array, datatype, code, message in cases:
        tensor = tgrpc.InferInput("features", list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        with pytest.raises(InferenceServerException, match=message) as info:
            client.infer(model, [tensor])
        assert code in info.value.status()
    good = tgrpc.InferInput("features", [1, N_FEATURES], "FP32")
    good.set_data_from_numpy(np.ones((1, N_FEATURES), np.float32))
    assert client.infer("mlp", [good]).as_numpy("score").shape == (1, 1)
    client.close()


def test_size_limit_and_token(model_repo: Path) -> None:
    with serve_in_thread(model_repo, token="s3cret", max_request_bytes=4000) as handle:
        body, headers = _binary_body("features", np.ones((2, N_FEATURES), np.float32))
        assert _post(handle.http_url + "/v2/models/mlp/infer", body, headers)[0] == 401
        auth = {**headers, "Authorization": "Bearer s3cret"}
        assert _post(handle.http_url + "/v2/models/mlp/infer", body, auth)[0] == 200
        big, big_headers = _binary_body("features", np.ones((40, N_FEATURES), np.float32))
        status, answer = _post(
            handle.http_url + "/v2/models/mlp/infer",
            big,
            {**big_headers, "Authorization": "Bearer s3cret"},
        )
        assert status == 413 and "exceeds 4000 bytes" in answer["error"]
        # Health stays public for probes.
        assert _get(handle.http_url + "/v2/health/ready")[0] == 200

        channel = grpc.insecure_channel(handle.grpc_url)
        client = make_client({"mode": "grpc", "url": handle.grpc_url, "token": "wrong"})
        with pytest.raises(Exception, match="UNAUTHENTICATED"):
            client.infer("mlp", {"features": np.ones((2, N_FEATURES), np.float32)})
        client = make_client({"mode": "grpc", "url": handle.grpc_url, "token": "s3cret"})
        out = client.infer("mlp", {"features": np.ones((2, N_FEATURES), np.float32)})
        assert out["score"].shape == (2, 1)
        with pytest.raises(Exception, match="lower 'batch_size'") as info:
            client.infer("mlp", {"features": np.ones((40, N_FEATURES), np.float32)})
        assert "RESOURCE_EXHAUSTED" in str(info.value)
        http = make_client({"mode": "http", "url": handle.http_url, "token": "s3cret"})
        ones = np.ones((3, N_FEATURES), np.float32)
        assert http.infer("mlp", {"features": ones})["score"].shape == (3, 1)
        http.close()
        client.close()
        channel.close()


def test_ports_in_use_are_reported(server, model_repo: Path) -> None:
    http_port = int(server.http_url.rsplit(":", 1)[1])
    with pytest.raises(ServerUnavailableError, match=f"cannot bind the HTTP server.*{http_port}"):
        serve_in_thread(model_repo, http_port=http_port, grpc_port=None)
    grpc_port = int(server.grpc_url.rsplit(":", 1)[1])
    with pytest.raises(ServerUnavailableError, match=f"cannot bind the gRPC server.*{grpc_port}"):
        serve_in_thread(model_repo, http_port=None, grpc_port=grpc_port)


def test_metrics_count_requests_and_batches(server) -> None:
    _assert_good_request_works(server)
    text = _get(server.http_url + "/metrics")[1]
    assert 'fourtops_inference_requests_total{model="mlp",protocol="http",status="200"}' in text
    assert 'fourtops_inference_batch_size_count{model="mlp"}' in text
    assert "fourtops_inference_request_duration_seconds_bucket" in text


def test_main_serves_until_sigterm(model_repo: Path) -> None:
    code = "import sys; from inference.server import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "--models",
            str(model_repo),
            "--http-port",
            "0",
            "--grpc-port",
            "-1",
        ],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line, seen = "", []
        while "serving" not in line:
            line = proc.stderr.readline()
            seen.append(line)
            assert line, f"server exited ({proc.wait(10)}) before serving: {''.join(seen)}"
        url = line.split("HTTP ")[1].split()[0]
        assert _get(url + "/v2/health/live")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.parametrize("mode", ["http", "grpc"])
def test_graceful_stop_finishes_in_flight_requests(model_repo: Path, mode) -> None:
    handle = serve_in_thread(model_repo)
    engine = handle.model_server.engines[("linear", 1)]
    real_run, entered, release = engine.run_feed, threading.Event(), threading.Event()

    def held_run(feed):
        entered.set()
        release.wait(10)
        return real_run(feed)

    engine.run_feed = held_run
    url = handle.http_url if mode == "http" else handle.grpc_url
    client = make_client({"mode": mode, "url": url, "retries": 0, "timeout_s": 20})
    x = np.ones((4, 3), np.float32)
    with ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(client.infer, "linear", {"x": x})
        assert entered.wait(10)
        stopping = pool.submit(handle.stop)
        # While stopping, the server no longer admits requests...
        deadline = time.monotonic() + 10
        while handle.model_server.accepting and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not handle.model_server.accepting and not stopping.done()
        release.set()
        # ...but the request already running is answered in full.
        np.testing.assert_array_equal(in_flight.result(20)["y"], np.full((4, 1), 7.0, np.float32))
        stopping.result(20)
    client.close()
    with pytest.raises(ServerUnavailableError):
        make_client({"mode": mode, "url": url, "retries": 0}).infer("linear", {"x": x})
