"""KServe v2 gRPC service, implementing the servicer generated in ``tritonclient.grpc``.

Inputs come as ``raw_input_contents`` (one bytes blob per input, in input order) or as typed
``contents``; outputs always go back as ``raw_output_contents``, as Triton does.
"""

from __future__ import annotations

import hmac
import math
import time
from concurrent import futures

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

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

# Typed ``contents`` field holding each datatype when raw contents are not used.
_CONTENT_FIELDS = {
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "INT64": "int64_contents",
    "INT32": "int_contents",
    "INT16": "int_contents",
    "INT8": "int_contents",
    "UINT8": "uint_contents",
    "BOOL": "bool_contents",
}
_PUBLIC_METHODS = (
    "/inference.GRPCInferenceService/ServerLive",
    "/inference.GRPCInferenceService/ServerReady",
)


#: Trailing metadata key of the retry hint sent with UNAVAILABLE when a queue is full.
RETRY_AFTER_KEY = "retry-after-ms"


def _code_of(err: Exception) -> grpc.StatusCode:
    if isinstance(err, RequestTimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(err, ModelNotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(err, ModelInputError | ModelRepositoryError | ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(err, ServerUnavailableError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


def _decode_inputs(request: pb.ModelInferRequest) -> dict[str, np.ndarray]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise ModelInputError(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs; give one per input"
        )
    inputs: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(request.inputs):
        try:
            dtype = numpy_dtype(tensor.datatype)
        except ModelRepositoryError as err:
            raise ModelInputError(f"input {tensor.name!r}: {err}") from None
        shape = [int(d) for d in tensor.shape]
        if any(d < 0 for d in shape):
            raise ModelInputError(f"input {tensor.name!r}: negative dim in shape {shape}")
        count = math.prod(shape)
        if raw:
            if len(raw[i]) != count * dtype.itemsize:
                raise ModelInputError(
                    f"input {tensor.name!r}: {len(raw[i])} bytes of raw contents, shape {shape} "
                    f"of {tensor.datatype} needs {count * dtype.itemsize}"
                )
            array = np.frombuffer(raw[i], dtype=dtype).reshape(shape)
        else:
            values = getattr(tensor.contents, _CONTENT_FIELDS.get(tensor.datatype, ""), None)
            if values is None or len(values) != count:
                raise ModelInputError(
                    f"input {tensor.name!r}: contents hold {0 if values is None else len(values)} "
                    f"values, shape {shape} needs {count}"
                )
            array = np.asarray(values, dtype=dtype).reshape(shape)
        if tensor.name in inputs:
            raise ModelInputError(f"input {tensor.name!r} is given twice")
        inputs[tensor.name] = array
    return inputs


def _timeout_s(request: pb.ModelInferRequest, context: grpc.ServicerContext) -> float | None:
    """The request's queue timeout: Triton's ``timeout`` parameter (microseconds), or the
    time left before the caller's deadline if that is sooner (no use answering later)."""
    limits = []
    if "timeout" in request.parameters:
        limits.append(request.parameters["timeout"].int64_param * 1e-6)
    remaining = context.time_remaining()
    if remaining is not None:
        limits.append(max(remaining, 1e-6))
    return min(limits) if limits else None


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """The KServe v2 gRPC methods over a :class:`ModelServer`."""

    def __init__(self, server: ModelServer) -> None:
        self.server = server

    def ServerLive(self, request, context):  # noqa: N802 - names fixed by the protocol
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):  # noqa: N802
        return pb.ServerReadyResponse(ready=self.server.accepting)

    def ModelReady(self, request, context):  # noqa: N802
        return pb.ModelReadyResponse(ready=self.server.is_ready(request.name, request.version))

    def ServerMetadata(self, request, context):  # noqa: N802
        meta = self.server.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=meta["version"], extensions=meta["extensions"]
        )

    def ModelMetadata(self, request, context):  # noqa: N802
        try:
            meta = self.server.model_metadata(request.name, request.version)
        except InferenceError as err:
            context.abort(_code_of(err), str(err))
        tensors = [
            [pb.ModelMetadataResponse.TensorMetadata(**t) for t in meta[k]]
            for k in ("inputs", "outputs")
        ]
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=tensors[0],
            outputs=tensors[1],
        )

    def ModelConfig(self, request, context):  # noqa: N802
        try:
            entry, _ = self.server.resolve(request.name, request.version)
        except InferenceError as err:
            context.abort(_code_of(err), str(err))
        return pb.ModelConfigResponse(config=entry.config)

    def ModelInfer(self, request, context):  # noqa: N802
        start, status = time.perf_counter(), "OK"
        model = request.model_name
        try:
            inputs = _decode_inputs(request)
            names = [o.name for o in request.outputs] or None
            outputs, names, version = self.server.infer(
                model, request.model_version, inputs, names, _timeout_s(request, context)
            )
            response = pb.ModelInferResponse(
                model_name=model, model_version=str(version), id=request.id
            )
            for name in names:
                array = np.ascontiguousarray(outputs[name])
                response.outputs.add(
                    name=name, datatype=datatype_of(array.dtype), shape=list(array.shape)
                )
                response.raw_output_contents.append(array.tobytes())
            return response
        except (InferenceError, ValueError) as err:
            status = _code_of(err).name
            if isinstance(err, ServerBusyError):
                hint = str(int(err.retry_after_s * 1000))
                context.set_trailing_metadata(((RETRY_AFTER_KEY, hint),))
            context.abort(_code_of(err), str(err))
        finally:
            label = model if model in self.server.repository.models else "unknown"
            self.server.metrics.request(label, "grpc", status, time.perf_counter() - start)


class _TokenInterceptor(grpc.ServerInterceptor):
    """Reject calls without ``authorization: Bearer <token>`` metadata (health is public)."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method in _PUBLIC_METHODS:
            return continuation(handler_call_details)
        given = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(str(given).encode(), self._expected):
            return continuation(handler_call_details)
        return self._deny


def build_grpc_server(server: ModelServer, address: str) -> tuple[grpc.Server, int]:
    """A gRPC server (not yet started) bound to ``address``; returns (server, bound port)."""
    settings = server.settings
    interceptors = [_TokenInterceptor(settings.token)] if settings.token else []
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc_workers),
        interceptors=interceptors,
        # Calls beyond this are refused by gRPC itself (RESOURCE_EXHAUSTED "Concurrent RPC
        # limit exceeded", retried by our client): bounded memory under any load.
        maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.max_send_message_length", 2**31 - 1),
            ("grpc.so_reuseport", 0),
        ],
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(server), grpc_server)
    try:
        port = grpc_server.add_insecure_port(address)
    except RuntimeError:  # newer grpcio raises instead of returning 0
        port = 0
    if port == 0:
        raise ServerUnavailableError(f"cannot bind the gRPC server to {address}; is it in use?")
    return grpc_server, port
