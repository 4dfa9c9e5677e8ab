"""What every inference client shares: the interface, the retryable-error type, the backoff.

:class:`InferenceClient` does client-side batching (inputs split into batches of at most
``batch_size`` rows or the model's ``max_batch_size``, results concatenated), retries with
exponential backoff and jitter for transient failures, and clear errors. A batch that still
fails after the retries fails the whole call: partial results are never returned. Clients
pickle without their sessions or connections and rebuild them lazily on first use (the
coffea ml_tools pattern), so processors can hold them.

Backoff: a transport signals "worth retrying" by raising :class:`TransientError`;
:meth:`InferenceClient._retry` is the one place that waits, :func:`backoff_delay` seconds
before retry ``k``. A server's retry hint (e.g. ``Retry-After`` on HTTP 503) would be
carried on the ``TransientError`` and used there instead of :func:`backoff_delay`.

The transports (``inference.client`` in-process, ``http_client``, ``grpc_client``) import
this module only; none imports another.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from common.exceptions import ModelInputError, ServerUnavailableError
from inference.repository import numpy_dtype
from inference.settings import InferenceSettings

__all__ = ["InferenceClient", "TransientError", "backoff_delay"]


class TransientError(Exception):
    """A failure worth retrying (connection refused or reset, timeout, 503); internal."""


def backoff_delay(attempt: int, settings: InferenceSettings, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (0 = first retry).

    ``backoff_initial_s * backoff_multiplier**attempt``, capped at ``backoff_max_s``,
    times a factor drawn uniformly in ``[1 - jitter, 1 + jitter]`` so that many clients
    do not retry in lockstep.
    """
    base = min(
        settings.backoff_max_s, settings.backoff_initial_s * settings.backoff_multiplier**attempt
    )
    return base * (1.0 + settings.jitter * (2.0 * rng.random() - 1.0))


class InferenceClient(ABC):
    """Common interface: ``infer``, ``model_metadata``, ``close``; batching and retries.

    ``sleep`` and ``rng`` are injectable so tests can check the retry waits.
    """

    #: Where the requests go, for error messages.
    target: str = "in-process"

    def __init__(
        self,
        settings: InferenceSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._max_batch: dict[str, int] = {}
        self._metadata: dict[str, dict] = {}

    # --- to implement -----------------------------------------------------------------
    @abstractmethod
    def _infer_batch(
        self, model: str, inputs: dict[str, np.ndarray], outputs: list[str] | None
    ) -> dict[str, np.ndarray]:
        """Run one batch; raise TransientError for retryable failures."""

    @abstractmethod
    def _fetch_metadata(self, model: str) -> dict[str, Any]:
        """KServe v2 model metadata; raise TransientError for retryable failures."""

    @abstractmethod
    def _fetch_max_batch_size(self, model: str) -> int:
        """The model's max_batch_size (0: not batched)."""

    def _reset(self) -> None:  # noqa: B027 - optional hook, nothing to drop by default
        """Drop sessions/connections (they are rebuilt lazily)."""

    # --- public -----------------------------------------------------------------------
    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        outputs: list[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run ``model`` on ``inputs`` (name -> array, first dim = rows); return outputs by name.

        Inputs are split into batches; each batch is retried on transient failures and
        the call fails with ServerUnavailableError if one batch still fails.
        """
        arrays = {name: np.asarray(value) for name, value in inputs.items()}
        if not arrays:
            raise ModelInputError(f"model {model!r}: no inputs given")
        rows = {name: a.shape[0] if a.ndim else -1 for name, a in arrays.items()}
        if len(set(rows.values())) != 1 or -1 in rows.values():
            raise ModelInputError(
                f"model {model!r}: inputs must share their first (row) dim, got {rows}"
            )
        n = next(iter(rows.values()))
        if n == 0:
            return self._empty_outputs(model, arrays, outputs)
        limit = self._retry(f"max_batch_size of {model!r}", self._max_batch_size, model)
        step = min(self.settings.batch_size, limit) if limit > 0 else n
        parts = [
            self._retry(
                f"inference of {model!r}",
                self._infer_batch,
                model,
                {k: v[start : start + step] for k, v in arrays.items()},
                outputs,
            )
            for start in range(0, n, step)
        ]
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def model_metadata(self, model: str) -> dict[str, Any]:
        """KServe v2 metadata of ``model``: name, versions, platform, inputs, outputs."""
        if model not in self._metadata:
            self._metadata[model] = self._retry(
                f"metadata of {model!r}", self._fetch_metadata, model
            )
        return self._metadata[model]

    def close(self) -> None:
        """Release sessions and connections (the client stays usable; they are rebuilt)."""
        self._reset()

    # --- helpers ----------------------------------------------------------------------
    def _max_batch_size(self, model: str) -> int:
        if model not in self._max_batch:
            self._max_batch[model] = self._fetch_max_batch_size(model)
        return self._max_batch[model]

    def _retry(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        tries = self.settings.retries + 1
        for attempt in range(tries):
            try:
                return fn(*args)
            except TransientError as err:
                last = err
                self._reset()
                if attempt + 1 < tries:
                    self._sleep(backoff_delay(attempt, self.settings, self._rng))
        raise ServerUnavailableError(
            f"{what} failed after {tries} tries to {self.target}: {last}; check that the "
            "server runs and is reachable, or raise 'retries'"
        )

    def _empty_outputs(
        self, model: str, arrays: dict[str, np.ndarray], outputs: list[str] | None
    ) -> dict[str, np.ndarray]:
        """Zero-row outputs with the model's dtypes and shapes (no request is made)."""
        meta = self.model_metadata(model)
        specs = {o["name"]: o for o in meta["outputs"]}
        names = outputs or list(specs)
        unknown = [n for n in names if n not in specs]
        if unknown:
            raise ModelInputError(
                f"model {model!r}: unknown outputs {unknown}; it has {list(specs)}"
            )
        return {
            n: np.zeros(
                [0] + [max(d, 0) for d in specs[n]["shape"][1:]],
                dtype=numpy_dtype(specs[n]["datatype"]),
            )
            for n in names
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(self._unpicklable())
        return state

    def _unpicklable(self) -> dict[str, Any]:
        """Attributes replaced when pickling (sessions, connections, locks)."""
        return {}

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
