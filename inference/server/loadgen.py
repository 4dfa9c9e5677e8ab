"""Load generator for the KServe v2 server: concurrent client processes over loopback.

:func:`start_server_process` runs ``inference.server.main`` in a child process (so its
memory can be read alone); :func:`run_load` drives it from ``processes`` x ``threads``
clients (each with its own connection, our HTTP or gRPC client), each sending real-shaped
inputs for at most ``requests`` requests or ``max_seconds``, whichever comes first. Every
request ends with a complete answer (shapes checked) or a recorded error; 503 /
UNAVAILABLE answers are retried by the client and counted. Used by
``benchmarks/bench_load.py`` and the load test.
"""

from __future__ import annotations

import multiprocessing
import re
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Input shapes (without rows) of the shipped models the load uses.
MODEL_INPUTS: dict[str, dict[str, tuple[int, ...]]] = {
    "boosted_top_tagger": {
        "points": (2, 100),
        "features": (15, 100),
        "mask": (1, 100),
        "jet_features": (5,),
    },
    "event_dnn_fold0": {"features": (22,)},
}


@dataclass
class ServerProcess:
    """A server running in a child process."""

    process: subprocess.Popen
    http_url: str | None
    grpc_url: str | None

    def rss_bytes(self, peak: bool = False) -> int:
        """Resident memory of the server process now (or its peak, VmHWM), from /proc."""
        key = "VmHWM" if peak else "VmRSS"
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"{key} missing in /proc/{self.process.pid}/status")

    def alive(self) -> bool:
        """Whether the server process still runs."""
        return self.process.poll() is None

    def metrics(self) -> str:
        """The Prometheus text of ``/metrics`` (needs HTTP)."""
        with urllib.request.urlopen(f"{self.http_url}/metrics", timeout=10) as response:
            return response.read().decode()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait for the graceful shutdown; returns the exit code."""
        if self.alive():
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            if self.process.stderr is not None:
                self.process.stderr.close()


def start_server_process(args: list[str], cwd: str | Path, timeout: float = 120) -> ServerProcess:
    """Start ``inference.server.main(args)`` in a child and wait for its ``serving`` line."""
    code = "import sys; from inference.server import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=cwd, stderr=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    found: dict[str, Any] = {}

    def read() -> None:
        for line in proc.stderr:
            seen.append(line)
            match = re.search(r"serving .* on HTTP (\S+) gRPC (\S+)", line)
            if match:
                found["urls"] = match.groups()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if "urls" not in found:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start within {timeout} s: {''.join(seen)[-2000:]}")
    # Keep draining stderr so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    http, grpc = (None if u == "None" else u for u in found["urls"])
    return ServerProcess(proc, http, grpc)


@dataclass
class LoadResult:
    """What the clients saw: latencies of answered requests, errors, retries."""

    latencies_s: list[float] = field(default_factory=list)
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    #: Wall-clock (epoch) times of the first request sent and the last answer received.
    first: float = float("inf")
    last: float = 0.0

    @property
    def wall_s(self) -> float:
        """Seconds from the first request to the last answer, over all clients."""
        return max(0.0, self.last - self.first)

    @property
    def answered(self) -> int:
        """Requests that got a complete answer."""
        return len(self.latencies_s)

    def quantile_ms(self, q: float) -> float:
        """Latency quantile of answered requests, in milliseconds."""
        return float(np.quantile(self.latencies_s, q) * 1e3) if self.latencies_s else float("nan")

    def merge(self, other: LoadResult) -> None:
        """Add another client's results."""
        self.latencies_s += other.latencies_s
        self.rows += other.rows
        self.errors += other.errors
        self.retries += other.retries
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)


def _one_client(
    mode: str, url: str, model: str, rows: int, requests: int, deadline: float, seed: int
) -> LoadResult:
    from inference.client import make_client  # in the child: import only what it needs

    result = LoadResult()

    def counting_sleep(seconds: float) -> None:
        result.retries += 1
        time.sleep(seconds)

    settings = {
        "mode": mode,
        "url": url,
        "retries": 20,
        "backoff_initial_s": 0.02,
        "backoff_max_s": 2.0,
        "timeout_s": 120,
    }
    client = make_client(settings, sleep=counting_sleep)
    rng = np.random.default_rng(seed)
    inputs = {
        name: rng.random((rows, *shape), dtype=np.float32)
        for name, shape in MODEL_INPUTS[model].items()
    }
    result.first = time.time()
    for _ in range(requests):
        if time.monotonic() > deadline:
            break
        start = time.perf_counter()
        try:
            out = client.infer(model, inputs)
            score = out["score"]
            if score.shape != (rows, 1) or not np.isfinite(score).all():
                raise ValueError(f"incomplete answer: score shape {score.shape}")
        except Exception as err:  # noqa: BLE001 - every failure is recorded, none hidden
            result.errors.append(f"{type(err).__name__}: {err}")
            continue
        result.latencies_s.append(time.perf_counter() - start)
        result.rows += rows
    result.last = time.time()
    client.close()
    return result


def _client_process(job: dict[str, Any]) -> LoadResult:
    """One process: ``threads`` clients in threads, merged."""
    results = [LoadResult() for _ in range(job["threads"])]
    deadline = time.monotonic() + job["max_seconds"]

    def work(i: int) -> None:
        mode, url = job["targets"][(job["seed"] * job["threads"] + i) % len(job["targets"])]
        results[i] = _one_client(
            mode,
            url,
            job["model"],
            job["rows"],
            job["requests"],
            deadline,
            job["seed"] * 1000 + i,
        )

    threads = [threading.Thread(target=work, args=(i,)) for i in range(job["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = LoadResult()
    for r in results:
        merged.merge(r)
    return merged


def run_load(
    targets: list[tuple[str, str]],
    model: str,
    *,
    processes: int,
    threads: int = 1,
    rows: int = 64,
    requests: int = 50,
    max_seconds: float = 30.0,
) -> LoadResult:
    """Drive ``model`` from ``processes`` x ``threads`` concurrent clients; client ``k``
    talks to ``targets[k % len(targets)]``, a (mode, url) pair ("http" or "grpc")."""
    jobs = [
        {
            "targets": list(targets),
            "model": model,
            "threads": threads,
            "rows": rows,
            "requests": requests,
            "max_seconds": max_seconds,
            "seed": i,
        }
        for i in range(processes)
    ]
    total = LoadResult()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        for result in pool.map(_client_process, jobs, timeout=max_seconds + 300):
            total.merge(result)
    return total


def batch_sizes(metrics_text: str, model: str) -> tuple[int, float]:
    """(batches executed, mean rows per batch) of ``model`` from the server's metrics."""

    def value(suffix: str) -> float:
        pattern = rf'fourtops_inference_batch_size_{suffix}{{model="{model}"}} (\S+)'
        match = re.search(pattern, metrics_text)
        return float(match.group(1)) if match else 0.0

    count, total = value("count"), value("sum")
    return int(count), (total / count if count else 0.0)
