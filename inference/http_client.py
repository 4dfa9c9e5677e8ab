"""KServe v2 HTTP client with Triton's binary tensor extension (standard library only).

Requests carry a JSON header plus raw little-endian tensors; all outputs are asked for
as binary. Only standard KServe v2 / Triton endpoints are used, so the client works
against our server and against NVIDIA Triton.
"""

from __future__ import annotations

import http.client
import json
import queue
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np

from common.exceptions import InferenceError, ModelInputError, ModelNotFoundError
from inference.client_base import InferenceClient, TransientError
from inference.repository import datatype_of, numpy_dtype
from inference.settings import InferenceSettings

HEADER_LENGTH = "Inference-Header-Content-Length"
_RETRY_STATUS = {429, 502, 503, 504}
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def decode_response(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """Outputs of a KServe v2 infer response (JSON ``data`` or binary extension)."""
    length = len(body) if header_length is None else int(header_length)
    header = json.loads(body[:length])
    binary, offset, out = memoryview(body)[length:], 0, {}
    for tensor in header["outputs"]:
        dtype = numpy_dtype(tensor["datatype"])
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            array = np.asarray(tensor["data"], dtype=dtype).reshape(tensor["shape"])
        else:
            if offset + size > len(binary):
                raise TransientError(f"response truncated in output {tensor['name']!r}")
            array = np.frombuffer(binary[offset : offset + size], dtype=dtype)
            array = array.reshape(tensor["shape"])
            offset += size
        out[tensor["name"]] = array
    return out


class HttpClient(InferenceClient):
    """Client of a KServe v2 HTTP endpoint (``settings.url`` like ``http://host:8000``)."""

    def __init__(self, settings: InferenceSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        parts = urlsplit(settings.url if "://" in settings.url else f"http://{settings.url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InferenceError(f"inference url {settings.url!r} is not http(s)://host:port")
        self._scheme, self._host = parts.scheme, parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self.target = f"{parts.scheme}://{self._host}:{self._port}{self._prefix}"
        self._pool: queue.SimpleQueue = queue.SimpleQueue()

    def _unpicklable(self) -> dict[str, Any]:
        return {"_pool": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pool = queue.SimpleQueue()

    def _connection(self, reuse: bool = True) -> tuple[http.client.HTTPConnection, bool]:
        """A pooled keep-alive connection (and True) or a new one (and False)."""
        if reuse:
            try:
                return self._pool.get_nowait(), True
            except queue.Empty:
                pass
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.settings.connect_timeout_s), False

    def __del__(self) -> None:
        # Dropped clients must not leave sockets open.
        if getattr(self, "_pool", None) is not None:
            self._reset()

    def _reset(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    def _request(
        self, method: str, path: str, body: list[bytes] | None = None, headers: dict | None = None
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        headers = dict(headers or {})
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        if body is not None:
            headers["Content-Length"] = str(sum(len(b) for b in body))
        conn, reused = self._connection()
        while True:
            try:
                conn.request(method, self._prefix + path, body=body, headers=headers)
                if conn.sock is not None:
                    conn.sock.settimeout(self.settings.timeout_s)
                response = conn.getresponse()
                data = response.read()
                break
            except (TimeoutError, OSError, http.client.HTTPException) as err:
                conn.close()
                if reused and isinstance(err, _STALE):
                    # The server closed an idle keep-alive connection: not a failure.
                    conn, reused = self._connection(reuse=False)
                    continue
                raise TransientError(f"{type(err).__name__}: {err}") from err
        if response.will_close:
            conn.close()
        else:
            self._pool.put(conn)
        if response.status in _RETRY_STATUS:
            self._honour_retry_after(response.getheader("Retry-After"))
            raise TransientError(f"HTTP {response.status}: {data[:200]!r}")
        return response.status, data, response

    # --- backpressure: the server's retry hint -------------------------------------------
    def _honour_retry_after(self, value: str | None) -> None:
        """Wait the ``Retry-After`` seconds a busy server (503) asks for, capped at
        ``backoff_max_s``; the ordinary retry backoff follows."""
        try:
            hint = float(value) if value is not None else 0.0
        except ValueError:  # an HTTP date: not sent by KServe servers, ignore
            hint = 0.0
        if hint > 0:
            self._sleep(min(hint, self.settings.backoff_max_s))

    def _raise_for(self, model: str, status: int, data: bytes) -> None:
        try:
            message = json.loads(data).get("error", "")
        except (ValueError, AttributeError):
            message = data[:300].decode(errors="replace")
        text = f"model {model!r} at {self.target}: HTTP {status}: {message}"
        if status == 404 or "unknown model" in message or "not found" in message:
            raise ModelNotFoundError(text)
        if status == 413:
            raise ModelInputError(text + "; lower 'batch_size' in the inference settings")
        if status in (400, 422):
            raise ModelInputError(text)
        if status in (401, 403):
            raise InferenceError(text + "; check the token in the inference settings")
        raise InferenceError(text)

    def _model_path(self, model: str) -> str:
        return f"/v2/models/{quote(model, safe='')}"

    def _fetch_metadata(self, model: str) -> dict[str, Any]:
        status, data, _ = self._request("GET", self._model_path(model))
        if status != 200:
            self._raise_for(model, status, data)
        return json.loads(data)

    def _fetch_max_batch_size(self, model: str) -> int:
        status, data, _ = self._request("GET", self._model_path(model) + "/config")
        if status != 200:
            self._raise_for(model, status, data)
        return int(json.loads(data).get("max_batch_size", 0))

    def _infer_batch(self, model, inputs, outputs):
        tensors, chunks = [], []
        for name, array in inputs.items():
            raw = np.ascontiguousarray(array).tobytes()
            tensors.append(
                {
                    "name": name,
                    "datatype": datatype_of(array.dtype),
                    "shape": list(array.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            )
            chunks.append(raw)
        header: dict[str, Any] = {"inputs": tensors}
        if outputs:
            header["outputs"] = [{"name": n, "parameters": {"binary_data": True}} for n in outputs]
        else:
            header["parameters"] = {"binary_data_output": True}
        text = json.dumps(header).encode()
        status, data, response = self._request(
            "POST",
            self._model_path(model) + "/infer",
            [text, *chunks],
            {HEADER_LENGTH: str(len(text)), "Content-Type": "application/octet-stream"},
        )
        if status != 200:
            self._raise_for(model, status, data)
        try:
            return decode_response(data, response.getheader(HEADER_LENGTH))
        except (ValueError, KeyError) as err:
            raise InferenceError(
                f"model {model!r}: malformed response from {self.target}: {err}"
            ) from err
