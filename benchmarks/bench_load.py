"""Load on the KServe v2 server: 1, 8 and 32 concurrent client processes over loopback.

The server (``inference.server.main`` on the shipped models, in its own process) is driven
over HTTP and gRPC with real input shapes of the boosted top tagger (B,2,100)+(B,15,100)+
(B,1,100)+(B,5) and the event DNN (B,22). Each client sends at most ``--requests``
requests or runs ``--max-seconds``, so the run stops by itself. Printed per case:
requests answered / errors, 503-and-retried count, throughput, p50/p99 latency, the batch
sizes the dynamic batcher formed, and the server's RSS (peak over the whole run at the end).

    python benchmarks/bench_load.py --quick
"""

from __future__ import annotations

import argparse
from pathlib import Path

from inference.server.loadgen import batch_sizes, run_load, start_server_process
from inference.settings import DEFAULT_REPOSITORY

ROOT = Path(__file__).resolve().parent.parent
#: Rows per request: a chunk's fat jets for the tagger, a chunk's events for the DNN.
ROWS = {"boosted_top_tagger": 64, "event_dnn_fold0": 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=40, help="per client, at most")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="per case, at most")
    parser.add_argument("--max-queue-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    parser.add_argument("--quick", action="store_true", help="8 requests per client")
    args = parser.parse_args(argv)
    requests = 8 if args.quick else args.requests
    server = start_server_process(
        [
            "--models",
            str(DEFAULT_REPOSITORY),
            "--http-port",
            "0",
            "--grpc-port",
            "0",
            "--threads",
            str(args.threads),
            "--max-queue-size",
            str(args.max_queue_size),
            "--retry-after",
            "0.05",
        ],
        cwd=ROOT,
    )
    print(
        f"server idle RSS {server.rss_bytes() / 2**20:.0f} MiB; "
        f"queue {args.max_queue_size} requests per model"
    )
    header = (
        f"{'model':<19} {'proto':<5} {'clients':>7} {'answered':>8} {'errors':>6} "
        f"{'retried':>7} {'req/s':>7} {'rows/s':>9} {'p50 ms':>7} {'p99 ms':>8} "
        f"{'batches':>7} {'rows/batch':>10} {'RSS MiB':>8}"
    )
    print(header)
    try:
        for model, rows in ROWS.items():
            for mode in ("http", "grpc"):
                url = server.http_url if mode == "http" else server.grpc_url
                for clients in args.clients:
                    before = batch_sizes(server.metrics(), model)
                    result = run_load(
                        [(mode, url)],
                        model,
                        processes=clients,
                        rows=rows,
                        requests=requests,
                        max_seconds=args.max_seconds,
                    )
                    count, mean = batch_sizes(server.metrics(), model)
                    batches = count - before[0]
                    per_batch = (count * mean - before[0] * before[1]) / max(batches, 1)
                    wall = max(result.wall_s, 1e-9)
                    print(
                        f"{model:<19} {mode:<5} {clients:>7} {result.answered:>8} "
                        f"{len(result.errors):>6} {result.retries:>7} "
                        f"{result.answered / wall:>7.1f} {result.rows / wall:>9.0f} "
                        f"{result.quantile_ms(0.5):>7.1f} {result.quantile_ms(0.99):>8.1f} "
                        f"{batches:>7} {per_batch:>10.1f} "
                        f"{server.rss_bytes() / 2**20:>8.0f}"
                    )
                    for error in sorted(set(result.errors))[:3]:
                        print(f"    error: {error[:200]}")
                    if not server.alive():
                        print("SERVER DIED")
                        return 1
        print(
            f"server peak RSS over the run {server.rss_bytes(peak=True) / 2**20:.0f} MiB; "
            f"still serving: {server.alive()}"
        )
    finally:
        code = server.stop()
    print(f"server exit code after SIGTERM: {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
