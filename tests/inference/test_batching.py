"""Dynamic batcher: merging, splitting, limits, failures and draining on close."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from common.exceptions import ServerUnavailableError
from inference.server.batching import DynamicBatcher


class BlockingRun:
    """A run function that doubles ``x``, records batch sizes and can be held."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, feed):
        self.started.set()
        self.release.wait(10)
        self.sizes.append(len(feed["x"]))
        return {"y": feed["x"] * 2.0, "n": np.full(len(feed["x"]), len(feed["x"]))}


def _feed(start: int, rows: int, width: int = 2) -> dict[str, np.ndarray]:
    return {"x": np.arange(start, start + rows * width, dtype=np.float32).reshape(rows, width)}


def test_queued_requests_merge_into_one_run_and_split_back() -> None:
    run = BlockingRun()
    batcher = DynamicBatcher(run, max_batch_size=100, max_queue_delay_s=0.0)
    first = batcher.submit(_feed(0, 1), 1)
    assert run.started.wait(5)
    # While the first batch runs, five requests queue up; they must run as one batch.
    feeds = [_feed(100 * i, i + 1) for i in range(5)]
    futures = [batcher.submit(f, len(f["x"])) for f in feeds]
    run.release.set()
    for feed, future in zip(feeds, futures, strict=True):
        out = future.result(5)
        np.testing.assert_array_equal(out["y"], feed["x"] * 2)
    assert first.result(5)["y"].shape == (1, 2)
    assert run.sizes == [1, 15]
    batcher.close(5)


def test_max_batch_size_and_shape_signature_limit_merging() -> None:
    run = BlockingRun()
    batcher = DynamicBatcher(run, max_batch_size=10, max_queue_delay_s=0.0)
    batcher.submit(_feed(0, 1), 1)
    assert run.started.wait(5)
    futures = [
        batcher.submit(_feed(0, 6), 6),
        batcher.submit(_feed(0, 6), 6),
        batcher.submit(_feed(0, 2, width=3), 2),
        batcher.submit(_feed(0, 1, width=3), 1),
    ]
    run.release.set()
    for f in futures:
        f.result(5)
    # 6 + 6 > 10 rows and width 3 cannot join width 2 batches.
    assert run.sizes == [1, 6, 6, 3]
    batcher.close(5)


def test_a_failing_run_fails_every_merged_request() -> None:
    def broken(feed):
        raise RuntimeError("session exploded")

    batcher = DynamicBatcher(broken, max_batch_size=10, max_queue_delay_s=0.0)
    futures = [batcher.submit(_feed(0, 2), 2) for _ in range(3)]
    for f in futures:
        with pytest.raises(RuntimeError, match="session exploded"):
            f.result(5)
    batcher.close(5)


def test_close_finishes_queued_requests_then_refuses_new_ones() -> None:
    run = BlockingRun()
    batcher = DynamicBatcher(run, max_batch_size=4, max_queue_delay_s=0.0)
    futures = [batcher.submit(_feed(0, 3), 3) for _ in range(4)]
    assert run.started.wait(5)
    closer = threading.Thread(target=batcher.close, args=(10,))
    closer.start()
    run.release.set()
    closer.join(10)
    assert all(f.result(0)["y"].shape == (3, 2) for f in futures)
    with pytest.raises(ServerUnavailableError, match="shutting down"):
        batcher.submit(_feed(0, 1), 1)
