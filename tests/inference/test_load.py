"""Load: 32 concurrent clients (threads of one client process, half HTTP, half gRPC) on the
shipped event DNN with a small queue. Every request is answered in full (directly or
after 503 / UNAVAILABLE and a retry), the server stays up, and its peak RSS stays under
RSS_BOUND. Throughput figures come from ``benchmarks/bench_load.py``, not from here."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from inference.server.loadgen import batch_sizes, run_load, start_server_process
from inference.settings import DEFAULT_REPOSITORY

ROOT = Path(__file__).resolve().parents[2]
#: Peak resident memory allowed to the server. Measured: about 115 MiB idle (interpreter,
#: ONNX Runtime, grpc, aiohttp and the event DNN) and 121 MiB peak under this load; the
#: bound leaves room for other ONNX Runtime builds. Bounded queues keep it from growing.
RSS_BOUND = 512 * 2**20
CLIENTS, REQUESTS, ROWS = 32, 3, 256


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for RSS")
def test_32_concurrent_clients_all_answered_and_memory_bounded(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_REPOSITORY / "event_dnn_fold0", tmp_path / "event_dnn_fold0")
    server = start_server_process(
        [
            "--models",
            str(tmp_path),
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--threads",
            "1",
            "--max-queue-size",
            "2",
            "--retry-after",
            "0.05",
        ],
        cwd=ROOT,
    )
    try:
        result = run_load(
            [("http", server.http_url), ("grpc", server.grpc_url)],
            "event_dnn_fold0",
            processes=1,
            threads=CLIENTS,
            rows=ROWS,
            requests=REQUESTS,
            max_seconds=240,
        )
        assert result.errors == []
        assert result.answered == CLIENTS * REQUESTS
        assert result.rows == CLIENTS * REQUESTS * ROWS
        assert server.alive()
        batches, _ = batch_sizes(server.metrics(), "event_dnn_fold0")
        assert 0 < batches <= CLIENTS * REQUESTS  # merged batches count once
        assert server.rss_bytes(peak=True) < RSS_BOUND
    finally:
        assert server.stop() == 0  # graceful shutdown after the load
