"""Fuzzing the HTTP infer endpoint: malformed requests get 4xx, never 5xx, never a crash."""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.server import serve_in_thread
from tests.inference.onnx_models import N_FEATURES

DATATYPES = ["FP32", "FP64", "INT64", "INT32", "BOOL", "UINT8", "BYTES", "FP16", "", "fp32"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["features", "x", "", "points"]) | json_values,
        "datatype": st.sampled_from(DATATYPES) | json_values,
        "shape": st.lists(st.integers(-3, 40), max_size=4) | json_values,
    },
    optional={
        "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-5, 5000)})
        | json_values,
        "data": st.lists(st.floats(width=32) | st.integers(-5, 5), max_size=70) | json_values,
    },
)
header = st.fixed_dictionaries(
    {"inputs": st.lists(tensor, max_size=3) | json_values},
    optional={
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.text(max_size=8) | json_values}), max_size=3
        )
        | json_values,
        "parameters": st.dictionaries(st.sampled_from(["binary_data_output", "x"]), json_values),
        "id": json_values,
    },
)


@st.composite
def near_valid(draw) -> tuple[bytes, str]:
    """Well-formed binary requests with small perturbations of shape, size and payload."""
    rows = draw(st.integers(0, 4))
    width = draw(st.sampled_from([N_FEATURES, N_FEATURES - 1, 1]))
    datatype = draw(st.sampled_from(["FP32", "FP32", "FP64", "INT32"]))
    size = rows * width * 4 + draw(st.sampled_from([0, 0, -4, 4]))
    payload = draw(st.binary(min_size=max(size, 0), max_size=max(size, 0) + 8))
    outputs = draw(st.sampled_from([[], [{"name": "score"}], [{"name": "nope"}]]))
    head = {
        "inputs": [
            {
                "name": "features",
                "datatype": datatype,
                "shape": [rows, width],
                "parameters": {"binary_data_size": size},
            }
        ],
        "outputs": outputs,
        "parameters": {"binary_data_output": draw(st.booleans())},
    }
    text = json.dumps(head).encode()
    return text + payload, str(len(text))


@pytest.fixture(scope="module")
def server(model_repo):
    """A server with a small request limit, so oversize bodies are part of the fuzzing."""
    with serve_in_thread(model_repo, grpc_port=None, max_request_bytes=20_000) as handle:
        yield handle


def _send(server, body: bytes, header_length: str | None, model: str) -> int:
    host, port = server.http_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = (
            {} if header_length is None else {"Inference-Header-Content-Length": header_length}
        )
        conn.request("POST", f"/v2/models/{model}/infer", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    head=header | json_values,
    tail=st.binary(max_size=300),
    length=st.none() | st.sampled_from(["", "-1", "abc", "99999999"]) | st.just("auto"),
    model=st.sampled_from(["mlp", "graphnet", "nope", "mlp/versions/7", "mlp/versions/x"]),
    garbage=st.booleans(),
)
def test_infer_endpoint_never_fails_with_5xx(server, head, tail, length, model, garbage) -> None:
    text = json.dumps(head).encode() if not garbage else tail[:50]
    header_length = str(len(text)) if length == "auto" else length
    status = _send(server, text + tail, header_length, model)
    assert 200 <= status < 500


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=near_valid())
def test_near_valid_requests_get_200_or_4xx(server, request) -> None:
    body, header_length = request
    status = _send(server, body, header_length, "mlp")
    assert status == 200 or 400 <= status < 500


def test_server_still_answers_after_fuzzing(server) -> None:
    x = np.ones((1, N_FEATURES), np.float32)
    body = json.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "datatype": "FP32",
                    "shape": [1, N_FEATURES],
                    "data": x.ravel().tolist(),
                }
            ]
        }
    )
    assert _send(server, body.encode(), None, "mlp") == 200
