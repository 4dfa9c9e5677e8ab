"""Prometheus text-format metrics of the inference server (no extra dependency)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

#: Histogram bucket upper bounds: rows per executed batch, and request seconds.
BATCH_BUCKETS: tuple[float, ...] = tuple(float(2**k) for k in range(0, 17))
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, cumulative = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            cumulative += count
            out.append(f'{name}_bucket{{{labels},le="{bound:g}"}} {cumulative}')
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {self.n}')
        out.append(f"{name}_sum{{{labels}}} {self.total:.6g}")
        out.append(f"{name}_count{{{labels}}} {self.n}")
        return out


class Metrics:
    """Thread-safe counters and histograms rendered by :meth:`render` for ``/metrics``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)
        self.batches: dict[str, _Histogram] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}

    def request(self, model: str, protocol: str, status: str, seconds: float) -> None:
        """Count one request with its outcome ("ok" or an error code) and its duration."""
        with self._lock:
            self.requests[(model, protocol, status)] += 1
            key = (model, protocol)
            if key not in self.latency:
                self.latency[key] = _Histogram(LATENCY_BUCKETS)
            self.latency[key].observe(seconds)

    def batch(self, model: str, rows: int) -> None:
        """Record one executed (possibly merged) batch of ``rows`` rows."""
        with self._lock:
            self.rows[model] += rows
            if model not in self.batches:
                self.batches[model] = _Histogram(BATCH_BUCKETS)
            self.batches[model].observe(rows)

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format."""
        with self._lock:
            lines = [
                "# HELP fourtops_inference_requests_total Inference requests by outcome.",
                "# TYPE fourtops_inference_requests_total counter",
            ]
            for (model, protocol, status), count in sorted(self.requests.items()):
                lines.append(
                    f'fourtops_inference_requests_total{{model="{model}",protocol="{protocol}",'
                    f'status="{status}"}} {count}'
                )
            lines += [
                "# HELP fourtops_inference_rows_total Rows run through each model.",
                "# TYPE fourtops_inference_rows_total counter",
            ]
            for model, count in sorted(self.rows.items()):
                lines.append(f'fourtops_inference_rows_total{{model="{model}"}} {count}')
            lines += [
                "# HELP fourtops_inference_batch_size Rows per executed batch.",
                "# TYPE fourtops_inference_batch_size histogram",
            ]
            for model, hist in sorted(self.batches.items()):
                lines += hist.lines("fourtops_inference_batch_size", f'model="{model}"')
            lines += [
                "# HELP fourtops_inference_request_duration_seconds Request latency.",
                "# TYPE fourtops_inference_request_duration_seconds histogram",
            ]
            for (model, protocol), hist in sorted(self.latency.items()):
                lines += hist.lines(
                    "fourtops_inference_request_duration_seconds",
                    f'model="{model}",protocol="{protocol}"',
                )
        return "\n".join(lines) + "\n"
