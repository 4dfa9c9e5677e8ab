"""KServe v2 gRPC client over the stubs shipped in ``tritonclient.grpc`` (raw tensors).

Inputs go as ``raw_input_contents`` and outputs come back as ``raw_output_contents``; only
standard KServe v2 / Triton RPCs are used, so the client works against NVIDIA Triton too.
The request's wire bytes are written here (:func:`encode_infer_request`) rather than by
protobuf: its message API copies every input tensor three times (``tobytes``, ``append``,
``SerializeToString``), which cost as much as the transport at 4096 MLP rows
(``benchmarks/bench_grpc_floor.py``).
"""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from common.exceptions import InferenceError, ModelInputError, ModelNotFoundError
from inference.client_base import InferenceClient, TransientError
from inference.repository import datatype_of, numpy_dtype
from inference.settings import InferenceSettings

_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
}
_MAX_MESSAGE = 2**31 - 1
#: Trailing metadata of a busy server's UNAVAILABLE: milliseconds to wait before retrying.
_RETRY_AFTER_KEY = "retry-after-ms"


_INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
#: Key of ``raw_input_contents`` (field 7, length-delimited) in ModelInferRequest.
_RAW_INPUT_KEY = bytes([7 << 3 | 2])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_infer_request(model: str, inputs: dict[str, np.ndarray],
                         outputs: list[str] | None = None) -> bytes:
    """The serialized ModelInferRequest of ``inputs`` as raw contents, with one copy of
    the tensors: the tensor descriptions go through protobuf, each tensor's bytes are
    appended as a ``raw_input_contents`` entry (a protobuf message's serializations
    concatenate; the result equals ``SerializeToString`` of the full message)."""
    header = pb.ModelInferRequest(model_name=model)
    arrays = []
    for name, array in inputs.items():
        array = np.ascontiguousarray(array)
        header.inputs.add(name=name, datatype=datatype_of(array.dtype), shape=array.shape)
        arrays.append(array)
    for name in outputs or ():
        header.outputs.add(name=name)
    parts: list[bytes | memoryview] = [header.SerializeToString()]
    for array in arrays:
        raw = memoryview(array.reshape(-1).view(np.uint8))
        parts += [_RAW_INPUT_KEY, _varint(array.nbytes), raw]
    return b"".join(parts)


def _busy(code: grpc.StatusCode, details: str | None) -> bool:
    """gRPC's own refusal beyond the server's concurrent-call limit: retry, not a bad input."""
    return code == grpc.StatusCode.RESOURCE_EXHAUSTED and "Concurrent RPC limit" in (details or "")


class GrpcClient(InferenceClient):
    """Client of a KServe v2 gRPC endpoint (``settings.url`` like ``host:8001``)."""

    def __init__(self, settings: InferenceSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.target = settings.url.removeprefix("grpc://")
        self._channel: grpc.Channel | None = None
        self._stub: pb_grpc.GRPCInferenceServiceStub | None = None
        self._infer_rpc: grpc.UnaryUnaryMultiCallable | None = None
        self._call_metadata = (
            (("authorization", f"Bearer {settings.token}"),) if settings.token else None
        )

    def _unpicklable(self) -> dict[str, Any]:
        return {"_channel": None, "_stub": None, "_infer_rpc": None}

    def _get_stub(self) -> pb_grpc.GRPCInferenceServiceStub:
        if self._stub is None:
            self._channel = grpc.insecure_channel(
                self.target,
                options=[
                    ("grpc.max_send_message_length", _MAX_MESSAGE),
                    ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ],
            )
            self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
            # ModelInfer taking requests already serialized (encode_infer_request)
            self._infer_rpc = self._channel.unary_unary(
                _INFER_METHOD, response_deserializer=pb.ModelInferResponse.FromString)
        return self._stub

    def __del__(self) -> None:
        if getattr(self, "_channel", None) is not None:
            self._reset()

    def _reset(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = self._stub = self._infer_rpc = None

    def _call(self, model: str, method: str, request: Any) -> Any:
        try:
            stub = self._get_stub()
            rpc = self._infer_rpc if method == "ModelInfer" else getattr(stub, method)
            return rpc(request, timeout=self.settings.timeout_s, metadata=self._call_metadata)
        except grpc.RpcError as err:
            code, details = err.code(), err.details()
            text = f"model {model!r} at {self.target}: {code.name}: {details}"
            if code in _TRANSIENT or _busy(code, details):
                self._honour_retry_hint(err)
                raise TransientError(text) from err
            if code == grpc.StatusCode.NOT_FOUND or "unknown model" in (details or ""):
                raise ModelNotFoundError(text) from err
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise ModelInputError(
                    text + "; lower 'batch_size' in the inference settings"
                ) from err
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise ModelInputError(text) from err
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise InferenceError(text + "; check the token in the inference settings") from err
            raise InferenceError(text) from err

    # --- backpressure: the server's retry hint -------------------------------------------
    def _honour_retry_hint(self, err: grpc.RpcError) -> None:
        """Wait the ``retry-after-ms`` a busy server sends (capped at ``backoff_max_s``);
        the ordinary retry backoff follows."""
        trailing = dict(getattr(err, "trailing_metadata", lambda: None)() or ())
        try:
            hint = float(trailing.get(_RETRY_AFTER_KEY, 0)) / 1000
        except ValueError:
            hint = 0.0
        if hint > 0:
            self._sleep(min(hint, self.settings.backoff_max_s))

    def _fetch_metadata(self, model: str) -> dict[str, Any]:
        meta = self._call(model, "ModelMetadata", pb.ModelMetadataRequest(name=model))

        def tensors(items: Any) -> list[dict[str, Any]]:
            return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in items]

        return {
            "name": meta.name,
            "versions": list(meta.versions),
            "platform": meta.platform,
            "inputs": tensors(meta.inputs),
            "outputs": tensors(meta.outputs),
        }

    def _fetch_max_batch_size(self, model: str) -> int:
        response = self._call(model, "ModelConfig", pb.ModelConfigRequest(name=model))
        return int(response.config.max_batch_size)

    def _infer_batch(self, model, inputs, outputs):
        response = self._call(model, "ModelInfer", encode_infer_request(model, inputs, outputs))
        if len(response.raw_output_contents) != len(response.outputs):
            raise InferenceError(
                f"model {model!r}: {self.target} returned {len(response.outputs)} outputs but "
                f"{len(response.raw_output_contents)} raw contents"
            )
        return {
            t.name: np.frombuffer(raw, dtype=numpy_dtype(t.datatype)).reshape(list(t.shape))
            for t, raw in zip(response.outputs, response.raw_output_contents, strict=True)
        }
