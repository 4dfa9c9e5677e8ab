"""Inference clients used by processors: in-process ONNX Runtime, KServe v2 HTTP or gRPC.

The shared interface, batching, retries and backoff are in :mod:`inference.client_base`
(re-exported here). This module adds the in-process client and :func:`make_client`, which
picks the transport from the settings.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from common.exceptions import ModelNotFoundError
from inference.client_base import InferenceClient, TransientError, backoff_delay
from inference.engine import Engine
from inference.repository import ModelEntry, load_model_entry
from inference.settings import InferenceSettings

__all__ = ["InProcessClient", "InferenceClient", "TransientError", "backoff_delay", "make_client"]


class InProcessClient(InferenceClient):
    """Runs models with ONNX Runtime in this process, loading each model once, lazily."""

    def __init__(self, settings: InferenceSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.target = f"repository {str(settings.repository)!r}"
        self._lock = threading.Lock()
        self._engines: dict[str, Engine] = {}
        self._entries: dict[str, ModelEntry] = {}
        #: How many sessions this client object created (loads after unpickling count anew).
        self.loads = 0

    def _unpicklable(self) -> dict[str, Any]:
        return {"_lock": None, "_engines": {}, "_entries": {}, "loads": 0}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def entry(self, model: str) -> ModelEntry:
        """The validated repository entry of ``model``."""
        if model not in self._entries:
            path = self.settings.repository / model
            # as Triton: a model folder needs a version folder, config.pbtxt is optional
            if not path.is_dir() or not any(p.name.isdigit() for p in path.iterdir()):
                raise ModelNotFoundError(
                    f"model {model!r} is not in repository {str(self.settings.repository)!r}"
                )
            self._entries[model] = load_model_entry(path)
        return self._entries[model]

    def engine(self, model: str) -> Engine:
        """The ONNX Runtime engine of ``model`` (created on first use, then reused)."""
        engine = self._engines.get(model)
        if engine is None:
            with self._lock:
                engine = self._engines.get(model)
                if engine is None:
                    s = self.settings
                    engine = Engine(
                        self.entry(model).path(),
                        name=model,
                        device=s.device,
                        strict_device=s.strict_device,
                        intra_op_threads=s.intra_op_threads,
                        inter_op_threads=s.inter_op_threads,
                        allow_spinning=s.allow_spinning,
                    )
                    self._engines[model] = engine
                    self.loads += 1
        return engine

    def load_all(self, models: Sequence[str] | None = None) -> list[str]:
        """Create engines for ``models`` (all models of the repository when None)."""
        if models is None:
            root = self.settings.repository
            models = sorted(d.name for d in root.iterdir() if d.is_dir()
                            and not d.name.startswith((".", "_"))
                            and any(p.name.isdigit() for p in d.iterdir()))
        for model in models:
            self.engine(model)
        return list(models)

    def _infer_batch(self, model, inputs, outputs):
        return self.engine(model).run(inputs, outputs)

    def _fetch_metadata(self, model):
        return self.entry(model).kserve_metadata()

    def _fetch_max_batch_size(self, model):
        return self.entry(model).max_batch_size

    def _reset(self) -> None:
        # Engine failures are not transient; keep the loaded sessions.
        return None

    def close(self) -> None:
        """Drop the loaded sessions."""
        with self._lock:
            self._engines.clear()


def make_client(
    spec: InferenceSettings | Mapping[str, Any] | None = None, **kwargs: Any
) -> InferenceClient:
    """Build the client that ``spec`` (settings or a dict of them) asks for.

    Keyword arguments (``sleep``, ``rng``) go to the client constructor.
    """
    if spec is None:
        settings = InferenceSettings()
    elif isinstance(spec, InferenceSettings):
        settings = spec
    else:
        settings = InferenceSettings(**spec)
    if settings.mode == "http":
        from inference.http_client import HttpClient

        return HttpClient(settings, **kwargs)
    if settings.mode == "grpc":
        from inference.grpc_client import GrpcClient

        return GrpcClient(settings, **kwargs)
    return InProcessClient(settings, **kwargs)
