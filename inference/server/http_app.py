"""KServe v2 HTTP/REST endpoints (aiohttp) with Triton's binary tensor extension.

Request bodies are a JSON header optionally followed by raw tensors; the header length is
in ``Inference-Header-Content-Length`` and each binary input declares
``parameters.binary_data_size``. Outputs are returned as binary when the request asks
(``binary_data`` per output or ``binary_data_output`` for all), else as JSON ``data``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from typing import Any

import numpy as np
from aiohttp import web

from common.exceptions import (
    InferenceError,
    ModelInputError,
    ModelNotFoundError,
    ModelRepositoryError,
    RequestTimeoutError,
    ServerBusyError,
    ServerUnavailableError,
)
from inference.repository import datatype_of, numpy_dtype
from inference.server.core import ModelServer

HEADER_LENGTH = "Inference-Header-Content-Length"
_PUBLIC_PATHS = ("/v2/health/live", "/v2/health/ready")


class BadRequest(ModelInputError):
    """The HTTP request body does not follow the KServe v2 / binary extension format."""


def _error(status: int, message: str, err: Exception | None = None) -> web.Response:
    headers = {}
    if isinstance(err, ServerBusyError):
        # Retry-After takes whole seconds (RFC 9110); never tell a client to wait 0.
        headers["Retry-After"] = str(max(1, math.ceil(err.retry_after_s)))
    return web.json_response({"error": message}, status=status, headers=headers)


def _status_of(err: Exception) -> int:
    if isinstance(err, RequestTimeoutError):
        return 504
    if isinstance(err, ModelNotFoundError):
        return 404
    if isinstance(err, ModelInputError | ModelRepositoryError):
        return 400
    if isinstance(err, ServerUnavailableError):
        return 503
    return 500


def _parse_tensor(spec: Any, binary: memoryview, offset: int) -> tuple[str, np.ndarray, int]:
    """Decode one ``inputs`` entry; returns (name, array, new binary offset)."""
    if not isinstance(spec, dict):
        raise BadRequest(f"each input must be a JSON object, got {spec!r:.80}")
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise BadRequest("each input needs a string 'name' and 'datatype'")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequest(f"input {name!r}: 'shape' must be a list of non-negative integers")
    try:
        dtype = numpy_dtype(datatype)
    except ModelRepositoryError as err:
        raise BadRequest(f"input {name!r}: {err}") from None
    count = math.prod(shape)
    params = spec.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequest(f"input {name!r}: 'parameters' must be an object")
    size = params.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"input {name!r}: binary_data_size must be a non-negative integer")
        if size != count * dtype.itemsize:
            raise BadRequest(
                f"input {name!r}: binary_data_size {size} does not match shape {shape} of "
                f"{datatype} ({count * dtype.itemsize} bytes)"
            )
        if offset + size > len(binary):
            raise BadRequest(
                f"input {name!r}: needs {size} bytes of binary data, only "
                f"{len(binary) - offset} left (truncated body?)"
            )
        array = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
        return name, array, offset + size
    data = spec.get("data")
    if data is None:
        raise BadRequest(f"input {name!r}: give 'data' or parameters.binary_data_size")
    try:
        array = np.asarray(data, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as err:
        raise BadRequest(f"input {name!r}: 'data' is not an array of {datatype}: {err}") from None
    if array.size != count:
        raise BadRequest(
            f"input {name!r}: 'data' has {array.size} values, shape {shape} needs {count}"
        )
    return name, array.reshape(shape), offset


def _timeout_s(header: dict) -> float | None:
    """The request's own queue timeout: Triton's ``timeout`` parameter, in microseconds."""
    params = header.get("parameters")
    value = params.get("timeout") if isinstance(params, dict) else None
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(
            f"parameters.timeout must be microseconds (an integer >= 0), got {value!r}"
        )
    return value * 1e-6


def parse_infer_request(body: bytes, header_length: str | None) -> tuple[dict, dict, list]:
    """Decode an infer body into (header, inputs by name, output requests)."""
    try:
        length = len(body) if header_length is None else int(header_length)
    except ValueError:
        raise BadRequest(f"{HEADER_LENGTH} {header_length!r} is not an integer") from None
    if not 0 <= length <= len(body):
        raise BadRequest(f"{HEADER_LENGTH} {length} is outside the body of {len(body)} bytes")
    try:
        header = json.loads(body[:length])
    except (ValueError, RecursionError) as err:
        raise BadRequest(f"request header is not valid JSON: {err}") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise BadRequest("request header must be a JSON object with an 'inputs' list")
    binary = memoryview(body)[length:]
    inputs, offset = {}, 0
    for spec in header["inputs"]:
        name, array, offset = _parse_tensor(spec, binary, offset)
        if name in inputs:
            raise BadRequest(f"input {name!r} is given twice")
        inputs[name] = array
    if offset != len(binary):
        raise BadRequest(f"{len(binary) - offset} bytes of binary data are not used by any input")
    outputs = header.get("outputs") or []
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise BadRequest("'outputs' must be a list of objects with a 'name'")
    return header, inputs, outputs


def encode_infer_response(
    header: dict, model: str, version: int, results: dict[str, np.ndarray], requested: list
) -> web.Response:
    """Build the JSON or binary-extension response for ``results``."""
    params = header.get("parameters") if isinstance(header.get("parameters"), dict) else {}
    binary_all = bool(params.get("binary_data_output", False))
    wants = {}
    for out in requested:
        out_params = out.get("parameters") if isinstance(out.get("parameters"), dict) else {}
        wants[out["name"]] = bool(out_params.get("binary_data", binary_all))
    tensors, chunks = [], []
    for name, array in results.items():
        entry: dict[str, Any] = {
            "name": name,
            "datatype": datatype_of(array.dtype),
            "shape": list(array.shape),
        }
        if wants.get(name, binary_all):
            raw = np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = array.ravel().tolist()
        tensors.append(entry)
    response: dict[str, Any] = {
        "model_name": model,
        "model_version": str(version),
        "outputs": tensors,
    }
    if "id" in header:
        response["id"] = header["id"]
    text = json.dumps(response).encode()
    if not chunks:
        return web.Response(body=text, content_type="application/json")
    return web.Response(
        body=b"".join([text, *chunks]),
        headers={HEADER_LENGTH: str(len(text)), "Content-Type": "application/octet-stream"},
    )


def build_app(server: ModelServer, token: str | None = None) -> web.Application:
    """The aiohttp application serving ``server`` (bearer ``token`` required when set)."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if token and request.path not in _PUBLIC_PATHS:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return _error(401, "missing or wrong bearer token in the Authorization header")
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status == 413:
                return _error(
                    413, f"request body exceeds {server.settings.max_request_bytes} bytes"
                )
            return _error(exc.status, exc.reason)
        except (InferenceError, ValueError) as err:
            return _error(_status_of(err), str(err), err)

    app = web.Application(client_max_size=server.settings.max_request_bytes, middlewares=[guard])

    async def live(_: web.Request) -> web.Response:
        return web.Response(status=200)

    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200 if server.accepting else 503)

    async def metadata(_: web.Request) -> web.Response:
        return web.json_response(server.server_metadata())

    async def model_metadata(request: web.Request) -> web.Response:
        info = request.match_info
        return web.json_response(server.model_metadata(info["model"], info.get("version")))

    async def model_config(request: web.Request) -> web.Response:
        info = request.match_info
        return web.json_response(server.model_config(info["model"], info.get("version")))

    async def model_ready(request: web.Request) -> web.Response:
        info = request.match_info
        ok = server.is_ready(info["model"], info.get("version"))
        return web.Response(status=200 if ok else 400)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=server.metrics.render(), content_type="text/plain")

    settings = server.settings
    held = {"bytes": 0}  # request bodies being read or queued (one event loop: no lock)

    async def infer(request: web.Request) -> web.Response:
        start, model = time.perf_counter(), request.match_info["model"]
        status, reserved = "200", 0
        try:
            length = request.content_length
            if length is not None and length > settings.max_request_bytes:
                raise web.HTTPRequestEntityTooLarge(
                    max_size=settings.max_request_bytes, actual_size=length
                )
            reserved = settings.max_request_bytes if length is None else length
            if held["bytes"] + reserved > settings.max_inflight_bytes:
                reserved = 0
                raise ServerBusyError(
                    f"the server holds {settings.max_inflight_bytes} bytes of requests already; "
                    f"retry after {settings.retry_after_s:g} s",
                    settings.retry_after_s,
                )
            held["bytes"] += reserved
            body = await request.read()
            header, inputs, requested = parse_infer_request(
                body, request.headers.get(HEADER_LENGTH)
            )
            names = [o["name"] for o in requested] or None
            future, names, version = server.submit(
                model, request.match_info.get("version"), inputs, names, _timeout_s(header)
            )
            outputs = await asyncio.wrap_future(future)
            results = {n: outputs[n] for n in names}
            return encode_infer_response(header, model, version, results, requested)
        except web.HTTPException as exc:
            status = str(exc.status)
            raise
        except (InferenceError, ValueError) as err:
            status = str(_status_of(err))
            raise
        finally:
            held["bytes"] -= reserved
            label = model if model in server.repository.models else "unknown"
            server.metrics.request(label, "http", status, time.perf_counter() - start)

    v = "/v2/models/{model}"
    vv = "/v2/models/{model}/versions/{version}"
    app.router.add_get("/v2/health/live", live)
    app.router.add_get("/v2/health/ready", ready)
    app.router.add_get("/v2", metadata)
    app.router.add_get("/metrics", metrics)
    for base in (v, vv):
        app.router.add_get(base, model_metadata)
        app.router.add_get(base + "/config", model_config)
        app.router.add_get(base + "/ready", model_ready)
        app.router.add_post(base + "/infer", infer)
    return app
