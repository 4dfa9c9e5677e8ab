"""Protocol-independent server state: loaded models, batchers, metadata, inference."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np
from google.protobuf import json_format

from common.exceptions import ModelInputError, ModelNotFoundError, ServerUnavailableError
from inference.datatypes import TensorSpec
from inference.engine import Engine
from inference.model_config import TORCH_PLATFORM
from inference.repository import ModelEntry, load_repository
from inference.server.batching import DynamicBatcher
from inference.server.metrics import Metrics
from inference.settings import ServerSettings

if TYPE_CHECKING:
    from inference.torch_engine import TorchEngine

SERVER_NAME = "fourtops"
SERVER_VERSION = "0.1.0"
#: Triton protocol extensions this server implements.
EXTENSIONS = ["binary_tensor_data", "model_configuration"]


#: int64 fields of Triton's ModelConfig that protobuf's JSON mapping writes as strings.
_INT64_FIELDS = {"dims", "max_queue_delay_microseconds", "default_queue_policy", "shape"}


def _int64_as_numbers(value: Any, key: str = "") -> Any:
    """Write int64 fields (dims, delays) as JSON numbers, as Triton does."""
    if isinstance(value, dict):
        return {k: _int64_as_numbers(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_int64_as_numbers(v, key) for v in value]
    if key in _INT64_FIELDS and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def _client_shape(spec: TensorSpec, rows: int | None) -> tuple[int, ...]:
    """The shape clients see for an output of ``rows`` rows (None: not batched)."""
    return ((rows,) if rows is not None else ()) + spec.dims


def _check_client_input(model: str, spec: TensorSpec, array: np.ndarray, batched: bool) -> None:
    """Dims of a reshaped input as the client sends it (the config's ``dims``)."""
    own = array.shape[1:] if batched else array.shape
    if len(own) != len(spec.dims) or any(
        d not in (-1, s) for d, s in zip(spec.dims, own, strict=True)
    ):
        raise ModelInputError(
            f"model {model!r}, input {spec.name!r}: expected dims {list(spec.dims)} "
            f"{'after the batch dim ' if batched else ''}(-1 = any), got {list(array.shape)}"
        )


class ModelServer:
    """Loads every served model version of a repository once and serves inference on it."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.repository = load_repository(settings.repository, settings.default_max_batch_size)
        self.metrics = Metrics()
        self.engines: dict[tuple[str, int], Engine | TorchEngine] = {}
        self.batchers: dict[tuple[str, int], DynamicBatcher] = {}
        for entry in self.repository.models.values():
            params = entry.config.parameters
            params["documented"].string_value = str(entry.documented).lower()
            for version, path in entry.versions.items():
                engine = self._engine(entry, path)
                # What really runs the model (ONNX Runtime may have fallen back to CPU).
                params["execution_provider"].string_value = engine.provider
                self.engines[(entry.name, version)] = engine
                self.batchers[(entry.name, version)] = self._batcher(entry, engine)
        self.accepting = True

    def _engine(self, entry: ModelEntry, path: Any) -> Engine | TorchEngine:
        settings, batched = self.settings, entry.max_batch_size > 0
        if entry.platform == TORCH_PLATFORM:
            # torch is imported only for TorchScript models (its import costs ~200 MiB).
            from inference.torch_engine import TorchEngine

            return TorchEngine(
                path,
                name=entry.name,
                inputs=entry.inputs,
                outputs=entry.outputs,
                batched=batched,
                device=settings.device,
                strict_device=settings.strict_device,
            )
        return Engine(
            path,
            name=entry.name,
            device=settings.device,
            strict_device=settings.strict_device,
            intra_op_threads=settings.intra_op_threads,
            inter_op_threads=settings.inter_op_threads,
            allow_spinning=settings.allow_spinning,
            outputs=[s.name for s in entry.outputs],
            batched=batched,
        )

    def _batcher(self, entry: ModelEntry, engine: Engine | TorchEngine) -> DynamicBatcher:
        name, batched = entry.name, entry.max_batch_size > 0
        specs = {s.name: s for s in entry.outputs}

        def run(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            # Triton's output reshape: the model's shape -> the config's dims.
            outputs = engine.run_feed(feed)
            return {
                n: a.reshape(_client_shape(specs[n], a.shape[0] if batched else None))
                if specs[n].reshape is not None
                else a
                for n, a in outputs.items()
            }

        policy = entry.config.dynamic_batching.default_queue_policy
        timeout_us = policy.default_timeout_microseconds
        return DynamicBatcher(
            run,
            # Without dynamic batching (or batching) each request runs alone, as in Triton.
            max_batch_size=entry.max_batch_size if entry.dynamic_batching and batched else 1,
            max_queue_delay_s=entry.max_queue_delay_us * 1e-6,
            name=name,
            on_batch=lambda rows: self.metrics.batch(name, rows),
            max_queue_size=policy.max_queue_size or self.settings.max_queue_size,
            timeout_s=timeout_us * 1e-6 if timeout_us else self.settings.request_timeout_s,
            retry_after_s=self.settings.retry_after_s,
        )

    def resolve(self, model: str, version: str | int | None = None) -> tuple[ModelEntry, int]:
        """The model entry and the concrete version number (latest when not given)."""
        entry = self.repository.get(model)
        if version in (None, ""):
            return entry, entry.latest_version
        try:
            number = int(version)
        except (TypeError, ValueError):
            number = -1
        if number not in entry.versions:
            raise ModelNotFoundError(
                f"model {model!r} has no version {version!r}; available: {sorted(entry.versions)}"
            )
        return entry, number

    def is_ready(self, model: str, version: str | int | None = None) -> bool:
        """Whether ``model`` (and version) is loaded and the server accepts requests."""
        try:
            self.resolve(model, version)
        except ModelNotFoundError:
            return False
        return self.accepting

    def server_metadata(self) -> dict[str, Any]:
        """KServe v2 server metadata."""
        return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": EXTENSIONS}

    def model_metadata(self, model: str, version: str | int | None = None) -> dict[str, Any]:
        """KServe v2 model metadata (shapes include the batch dim as -1 for batched models)."""
        entry, _ = self.resolve(model, version)
        return entry.kserve_metadata()

    def model_config(self, model: str, version: str | int | None = None) -> dict[str, Any]:
        """Triton model configuration as JSON (the ``model_configuration`` extension)."""
        entry, _ = self.resolve(model, version)
        config = json_format.MessageToDict(entry.config, preserving_proto_field_name=True)
        return _int64_as_numbers(config)

    def _prepare(
        self,
        model: str,
        version: str | int | None,
        inputs: dict[str, np.ndarray],
        outputs: Sequence[str] | None,
    ) -> tuple[DynamicBatcher, dict[str, np.ndarray], int, list[str], int]:
        """Validate a request: (batcher, feed, rows, output names, version number)."""
        entry, number = self.resolve(model, version)
        engine = self.engines[(entry.name, number)]
        unknown_in = sorted(set(inputs) - set(s.name for s in entry.inputs))
        if unknown_in:
            raise ModelInputError(
                f"model {model!r}: unknown inputs {unknown_in}; it takes "
                f"{[s.name for s in entry.inputs]}"
            )
        names = list(outputs) if outputs else [s.name for s in entry.outputs]
        unknown = [n for n in names if n not in engine.output_names]
        if unknown:
            raise ModelInputError(
                f"model {model!r}: unknown outputs {unknown}; it has {engine.output_names}"
            )
        batched = entry.max_batch_size > 0
        inputs = dict(inputs)
        for spec in entry.inputs:
            array = inputs.get(spec.name)
            if spec.reshape is not None and isinstance(array, np.ndarray):
                # Triton's input reshape: the config's dims -> the model's shape.
                _check_client_input(model, spec, array, batched)
                lead = array.shape[:1] if batched else ()
                inputs[spec.name] = array.reshape(lead + spec.reshape)
        feed = engine.validate(inputs)
        rows = next(iter(feed.values())).shape[0] if feed and batched else 1
        if batched and not 0 < rows <= entry.max_batch_size:
            raise ModelInputError(
                f"model {model!r}: batch size {rows} must be between 1 and max_batch_size "
                f"{entry.max_batch_size}; split the request"
            )
        if not self.accepting:
            raise ServerUnavailableError(f"model {model!r}: the server is shutting down")
        return self.batchers[(entry.name, number)], feed, rows, names, number

    def submit(
        self,
        model: str,
        version: str | int | None,
        inputs: dict[str, np.ndarray],
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> tuple[Future, list[str], int]:
        """Validate and queue a request; returns (future of all outputs, names wanted, version).

        ``timeout_s`` (the request's own timeout) overrides the queue timeout.
        """
        batcher, feed, rows, names, number = self._prepare(model, version, inputs, outputs)
        return batcher.submit(feed, rows, timeout_s), names, number

    def infer(
        self,
        model: str,
        version: str | int | None,
        inputs: dict[str, np.ndarray],
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> tuple[dict[str, np.ndarray], list[str], int]:
        """Validate and run a request in this thread (batched with concurrent ones)."""
        batcher, feed, rows, names, number = self._prepare(model, version, inputs, outputs)
        return batcher.infer(feed, rows, timeout_s), names, number

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting and let the batchers finish what is queued."""
        self.accepting = False
        for batcher in self.batchers.values():
            batcher.close(timeout)
