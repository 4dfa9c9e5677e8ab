"""Dynamic batching: concurrent requests for one model merged into one session run.

Leader/follower scheme: a request thread that finds no batch being run becomes the
leader; it waits up to ``max_queue_delay_s`` for more requests (until ``max_batch_size``
rows), runs the merged batch in its own thread, splits the outputs back, and hands over
when its own request is answered. Requests whose non-batch shapes or dtypes differ are not
merged. Running in the request thread avoids a thread hand-off per request (measured in
``benchmarks/bench_inference.py``). Closing refuses new requests and lets queued ones finish.

Backpressure: the queue holds at most ``max_queue_size`` requests; one more is refused at
once with ServerBusyError (HTTP 503 / gRPC UNAVAILABLE, with a retry hint) rather than
held, so memory stays bounded by queue size x request size. A request still queued after
its timeout fails with RequestTimeoutError instead of being run late.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from common.exceptions import RequestTimeoutError, ServerBusyError, ServerUnavailableError

RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class _Request:
    feed: dict[str, np.ndarray]
    rows: int
    deadline: float = float("inf")
    future: Future = field(default_factory=Future)

    def signature(self) -> tuple:
        return tuple((k, v.dtype.str, v.shape[1:]) for k, v in self.feed.items())


class DynamicBatcher:
    """Merge concurrent requests to ``run`` (a feed -> all outputs function) into batches.

    ``max_queue_size`` 0 means unbounded; ``timeout_s`` 0 means no queue timeout.
    """

    def __init__(
        self,
        run: RunFn,
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        name: str = "model",
        on_batch: Callable[[int], None] | None = None,
        async_workers: int = 32,
        max_queue_size: int = 0,
        timeout_s: float = 0.0,
        retry_after_s: float = 1.0,
    ) -> None:
        self._run = run
        self.max_batch_size = max(1, max_batch_size)
        self.max_queue_delay_s = max(0.0, max_queue_delay_s)
        self.name = name
        self._on_batch = on_batch
        self._cond = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._leader = False
        self._closed = False
        self._async_workers = async_workers
        self._executor: ThreadPoolExecutor | None = None
        self.max_queue_size = max(0, max_queue_size)
        self.timeout_s = max(0.0, timeout_s)
        self.retry_after_s = retry_after_s
        #: Requests refused because the queue was full, and requests timed out in it.
        self.rejected = 0
        self.timed_out = 0

    def _enqueue(self, feed: dict[str, np.ndarray], rows: int, timeout_s: float | None) -> _Request:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout if timeout > 0 else float("inf")
        request = _Request(feed, rows, deadline)
        with self._cond:
            if self._closed:
                raise ServerUnavailableError(f"model {self.name!r}: the server is shutting down")
            if self.max_queue_size and len(self._queue) >= self.max_queue_size:
                self.rejected += 1
                raise ServerBusyError(
                    f"model {self.name!r}: its queue is full ({self.max_queue_size} requests); "
                    f"retry after {self.retry_after_s:g} s",
                    self.retry_after_s,
                )
            self._queue.append(request)
            self._cond.notify_all()
        return request

    def infer(
        self, feed: dict[str, np.ndarray], rows: int, timeout_s: float | None = None
    ) -> dict[str, np.ndarray]:
        """Run one validated request of ``rows`` rows (merged with others); block for it.

        ``timeout_s`` overrides the batcher's queue timeout for this request.
        """
        request = self._enqueue(feed, rows, timeout_s)
        self._drive(request)
        return request.future.result()

    def submit(
        self, feed: dict[str, np.ndarray], rows: int, timeout_s: float | None = None
    ) -> Future:
        """Queue a request now and drive it from a pool thread; the future gets its outputs."""
        request = self._enqueue(feed, rows, timeout_s)
        with self._cond:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self._async_workers, thread_name_prefix=f"batch-{self.name}"
                )
        self._executor.submit(self._drive, request)
        return request.future

    def _drive(self, request: _Request) -> None:
        """Wait as a follower until answered, or lead batches until our request is answered."""
        with self._cond:
            while self._leader and not request.future.done():
                self._cond.wait()
            if request.future.done():
                return
            self._leader = True
        try:
            while not request.future.done():
                batch = self._collect()
                if batch:
                    self._execute(batch)
        finally:
            with self._cond:
                self._leader = False
                self._cond.notify_all()

    def _collect(self) -> list[_Request]:
        """Requests from the queue front forming the next batch (waits up to the delay)."""
        with self._cond:
            deadline = time.monotonic() + self.max_queue_delay_s
            while True:
                self._expire()
                batch, rows = self._front()
                wait = deadline - time.monotonic()
                full = rows >= self.max_batch_size or len(batch) < len(self._queue)
                if full or wait <= 0:
                    break
                self._cond.wait(wait)
            for _ in batch:
                self._queue.popleft()
            return batch

    def _expire(self) -> None:
        """Fail queued requests whose timeout passed (called with the lock held)."""
        now = time.monotonic()
        if not any(r.deadline < now for r in self._queue):
            return
        kept: deque[_Request] = deque()
        for request in self._queue:
            if request.deadline < now:
                self.timed_out += 1
                request.future.set_exception(
                    RequestTimeoutError(
                        f"model {self.name!r}: the request waited past its timeout in the "
                        "queue; the server is overloaded, retry later or send fewer requests"
                    )
                )
            else:
                kept.append(request)
        self._queue = kept
        self._cond.notify_all()

    def _front(self) -> tuple[list[_Request], int]:
        """Leading queued requests that fit together in one batch, and their rows."""
        batch: list[_Request] = []
        rows = 0
        for request in self._queue:
            if batch and (
                rows + request.rows > self.max_batch_size
                or request.signature() != batch[0].signature()
            ):
                break
            batch.append(request)
            rows += request.rows
        return batch, rows

    def close(self, timeout: float | None = None) -> None:
        """Refuse new requests and wait up to ``timeout`` seconds for queued ones to finish."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._closed = True
            while self._queue or self._leader:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def _execute(self, batch: list[_Request]) -> None:
        rows = sum(r.rows for r in batch)
        try:
            if len(batch) == 1:
                feed = batch[0].feed
            else:
                feed = {k: np.concatenate([r.feed[k] for r in batch]) for k in batch[0].feed}
            outputs = self._run(feed)
        except BaseException as err:  # noqa: BLE001 - every waiter must learn of the failure
            for request in batch:
                request.future.set_exception(err)
        else:
            if self._on_batch is not None:
                self._on_batch(rows)
            if len(batch) == 1:  # not merged: nothing to split (nor a batch dim to assume)
                batch[0].future.set_result(outputs)
                batch = []
            start = 0
            for request in batch:
                stop = start + request.rows
                request.future.set_result({k: v[start:stop] for k, v in outputs.items()})
                start = stop
        with self._cond:
            self._cond.notify_all()
