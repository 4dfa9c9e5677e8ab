"""Backpressure: bounded queues answer 503 / UNAVAILABLE with a retry hint that our
clients honour, queue timeouts, and the HTTP limit on request bodies held at once."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from common.exceptions import RequestTimeoutError, ServerBusyError
from inference.client import make_client
from inference.server import serve_in_thread
from inference.server.batching import DynamicBatcher
from tests.inference.test_batching import BlockingRun, _feed


def test_full_queue_refuses_at_once_with_a_hint() -> None:
    run = BlockingRun()
    batcher = DynamicBatcher(
        run, max_batch_size=1, max_queue_delay_s=0, max_queue_size=2, retry_after_s=0.25
    )
    first = batcher.submit(_feed(0, 1), 1)
    assert run.started.wait(5)  # the leader took its request off the queue and runs it
    queued = [batcher.submit(_feed(i, 1), 1) for i in (1, 2)]
    with pytest.raises(ServerBusyError, match="queue is full \\(2 requests\\)") as err:
        batcher.submit(_feed(3, 1), 1)
    assert err.value.retry_after_s == 0.25
    assert batcher.rejected == 1
    run.release.set()
    for i, future in enumerate([first, *queued]):
        np.testing.assert_array_equal(future.result(5)["y"], _feed(i, 1)["x"] * 2)
    batcher.close(5)


def test_requests_past_their_queue_timeout_fail_clearly() -> None:
    run = BlockingRun()
    batcher = DynamicBatcher(run, max_batch_size=1, max_queue_delay_s=0, timeout_s=30)
    first = batcher.submit(_feed(0, 1), 1)
    assert run.started.wait(5)
    late = batcher.submit(_feed(1, 1), 1, timeout_s=0.01)
    patient = batcher.submit(_feed(2, 1), 1)
    time.sleep(0.05)
    run.release.set()
    first.result(5)
    with pytest.raises(RequestTimeoutError, match="waited past its timeout"):
        late.result(5)
    np.testing.assert_array_equal(patient.result(5)["y"], _feed(2, 1)["x"] * 2)
    assert batcher.timed_out == 1
    batcher.close(5)


@pytest.fixture
def held_server(model_repo):
    """A server whose ``linear`` model blocks in its run until ``run.release`` is set;
    its queue holds one request."""
    with serve_in_thread(model_repo, max_queue_size=1, retry_after_s=0.5) as handle:
        batcher = handle.model_server.batchers[("linear", 1)]
        run, real = BlockingRun(), batcher._run

        def held(feed):
            run.started.set()
            run.release.wait(10)
            return real(feed)

        batcher._run = held
        yield handle, run
        run.release.set()


def _fill(handle, run, pool: ThreadPoolExecutor) -> list:
    """One request running, one queued: the next one finds the queue full."""
    client = make_client({"mode": "grpc", "url": handle.grpc_url, "retries": 0})
    x = np.ones((2, 3), np.float32)
    futures = [pool.submit(client.infer, "linear", {"x": x})]
    assert run.started.wait(5)
    futures.append(pool.submit(client.infer, "linear", {"x": x}))
    batcher = handle.model_server.batchers[("linear", 1)]
    for _ in range(500):
        if len(batcher._queue) == 1:
            break
        time.sleep(0.01)
    assert len(batcher._queue) == 1
    return futures


def test_http_503_with_retry_after_and_grpc_unavailable_with_hint(held_server) -> None:
    handle, run = held_server
    with ThreadPoolExecutor(2) as pool:
        held = _fill(handle, run, pool)
        body = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}'
        request = urllib.request.Request(handle.http_url + "/v2/models/linear/infer", body)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 503
        assert err.value.headers["Retry-After"] == "1"  # whole seconds, rounded up
        assert "queue is full" in err.value.read().decode()
        stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(handle.grpc_url))
        infer = pb.ModelInferRequest(model_name="linear")
        infer.inputs.add(name="x", datatype="FP32", shape=[1, 3])
        infer.raw_input_contents.append(np.ones((1, 3), np.float32).tobytes())
        with pytest.raises(grpc.RpcError) as rpc:
            stub.ModelInfer(infer, timeout=10)
        assert rpc.value.code() == grpc.StatusCode.UNAVAILABLE
        assert dict(rpc.value.trailing_metadata())["retry-after-ms"] == "500"
        run.release.set()
        for future in held:  # the running and the queued request are answered in full
            np.testing.assert_allclose(future.result(10)["y"], np.full((2, 1), 7.0))


@pytest.mark.parametrize("mode", ["http", "grpc"])
def test_our_clients_wait_the_hint_then_succeed(held_server, mode) -> None:
    handle, run = held_server
    waits: list[float] = []
    batcher = handle.model_server.batchers[("linear", 1)]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        run.release.set()  # the server frees up while the client waits ...
        for _ in range(500):  # ... and has room again when the wait is over (on a busy
            if not batcher._queue:  # machine the retry could otherwise come first)
                break
            time.sleep(0.01)

    url = handle.http_url if mode == "http" else handle.grpc_url
    settings = {"mode": mode, "url": url, "retries": 2, "backoff_initial_s": 0.01, "jitter": 0}
    client = make_client(settings, sleep=sleep)
    client.model_metadata("linear")
    client._max_batch_size("linear")
    with ThreadPoolExecutor(2) as pool:
        held = _fill(handle, run, pool)
        out = client.infer("linear", {"x": np.ones((3, 3), np.float32)})
        np.testing.assert_allclose(out["y"], np.full((3, 1), 7.0))
        for future in held:
            future.result(10)
    hint = 1.0 if mode == "http" else 0.5
    assert waits[:2] == [hint, 0.01]  # the server's hint, then the ordinary backoff


def test_http_bodies_held_at_once_are_bounded(model_repo) -> None:
    with serve_in_thread(model_repo, max_inflight_bytes=100, grpc_port=None) as handle:
        big = (
            b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}' + b" " * 80
        )
        request = urllib.request.Request(handle.http_url + "/v2/models/linear/infer", big)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 503
        assert "bytes of requests already" in err.value.read().decode()
        small = urllib.request.Request(handle.http_url + "/v2/models/linear/infer", big[:72])
        with urllib.request.urlopen(small, timeout=10) as response:
            assert response.status == 200


def test_grpc_calls_beyond_the_limit_are_refused_and_retryable(model_repo) -> None:
    from inference.grpc_client import _busy

    with serve_in_thread(model_repo, grpc_max_concurrent_rpcs=1, http_port=None) as handle:
        batcher = handle.model_server.batchers[("linear", 1)]
        run, real = BlockingRun(), batcher._run
        batcher._run = lambda feed: (run.started.set(), run.release.wait(10), real(feed))[2]
        client = make_client({"mode": "grpc", "url": handle.grpc_url, "retries": 0})
        client.model_metadata("linear")
        client._max_batch_size("linear")
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(client.infer, "linear", {"x": np.ones((1, 3), np.float32)})
            assert run.started.wait(5)
            stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(handle.grpc_url))
            with pytest.raises(grpc.RpcError) as rpc:
                stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
            assert rpc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert _busy(rpc.value.code(), rpc.value.details())
            run.release.set()
            assert held.result(10)["y"].shape == (1, 1)


def test_http_request_timeout_parameter_gives_504(held_server) -> None:
    handle, run = held_server
    client = make_client({"mode": "grpc", "url": handle.grpc_url, "retries": 0})
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(client.infer, "linear", {"x": np.ones((1, 3), np.float32)})
        assert run.started.wait(5)
        body = (
            b'{"parameters":{"timeout":1000},'
            b'"inputs":[{"name":"x","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}'
        )
        request = urllib.request.Request(handle.http_url + "/v2/models/linear/infer", body)
        late = pool.submit(urllib.request.urlopen, request, timeout=10)
        batcher = handle.model_server.batchers[("linear", 1)]
        for _ in range(500):
            if batcher._queue:
                break
            time.sleep(0.01)
        time.sleep(0.01)  # the 1 ms timeout passes while the request is queued
        run.release.set()
        with pytest.raises(urllib.error.HTTPError) as err:
            late.result(10)
        assert err.value.code == 504
        assert "waited past its timeout" in err.value.read().decode()
        held.result(10)
