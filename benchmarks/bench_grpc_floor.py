"""What gRPC itself costs: the MLP of bench_inference behind a bare grpcio handler vs our server.

Three ways to score the same rows with the same ONNX Runtime session settings, timed
interleaved (median per call) in one process:

* ``in-process``: ``Engine.run`` directly;
* ``bare grpcio``: a generic unary grpcio method whose handler takes the raw float32
  bytes, runs the engine and returns the score bytes: no protobuf message, no KServe
  parsing, no batcher, no metrics; the least any Python gRPC service can cost;
* ``our server``: the KServe v2 ``ModelInfer`` of ``run_analysis.py serve`` through our
  gRPC client.

If ``our server`` is close to ``bare grpcio``, the distance to in-process is grpcio's
transport (the copies of the request through its core and Python layers, and its threads
competing with ONNX Runtime's for the cores), not our code::

    python benchmarks/bench_grpc_floor.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_inference import N_FEATURES, build_repository  # noqa: E402

from inference.client import make_client  # noqa: E402
from inference.engine import Engine  # noqa: E402
from inference.server import serve_in_thread  # noqa: E402

_MAX = 2**31 - 1


def _bare_server(engine: Engine) -> tuple[grpc.Server, int]:
    def score(payload: bytes, context: grpc.ServicerContext) -> bytes:
        features = np.frombuffer(payload, dtype=np.float32).reshape(-1, N_FEATURES)
        return np.ascontiguousarray(engine.run_feed({"features": features})["score"]).tobytes()

    server = grpc.server(futures.ThreadPoolExecutor(4),
                         options=[("grpc.max_receive_message_length", _MAX)])
    handler = grpc.unary_unary_rpc_method_handler(score)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("floor", {"Score": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def main(argv: list[str] | None = None) -> int:
    """Print, per batch size, ms per call of each path and the ratios to in-process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1024, 4096, 16384, 65536])
    parser.add_argument("--calls", type=int, default=40, help="timed calls per path and batch")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        build_repository(repo, max(args.batches), "lite")
        engine = Engine(repo / "mlp" / "1" / "model.onnx")
        bare, port = _bare_server(engine)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                        options=[("grpc.max_send_message_length", _MAX)])
        bare_call = channel.unary_unary("/floor/Score")
        common = {"repository": repo, "retries": 0, "batch_size": 2**20, "timeout_s": 600}
        with serve_in_thread(repo, device="cpu", max_request_bytes=_MAX) as server:
            ours = make_client({**common, "mode": "grpc", "url": server.grpc_url})
            print(f"{'batch':>6} {'MB':>6} {'in-process':>11} {'bare grpcio':>12} "
                  f"{'our server':>11} {'bare/in':>8} {'ours/in':>8} {'ours/bare':>9}  (ms)")
            for batch in args.batches:
                features = rng.normal(size=(batch, N_FEATURES)).astype(np.float32)
                payload = features.tobytes()
                paths = {
                    "in": lambda f=features: engine.run_feed({"features": f}),
                    "bare": lambda p=payload: bare_call(p),
                    "ours": lambda f=features: ours.infer("mlp", {"features": f}),
                }
                for call in paths.values():
                    call()  # warm-up
                times: dict[str, list[float]] = {k: [] for k in paths}
                for _ in range(args.calls):
                    for name, call in paths.items():
                        start = time.perf_counter()
                        call()
                        times[name].append(time.perf_counter() - start)
                ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
                print(f"{batch:6d} {len(payload) / 1e6:6.2f} {ms['in']:11.2f} {ms['bare']:12.2f} "
                      f"{ms['ours']:11.2f} {ms['in'] / ms['bare']:8.2f} "
                      f"{ms['in'] / ms['ours']:8.2f} {ms['bare'] / ms['ours']:9.2f}", flush=True)
            ours.close()
        channel.close()
        bare.stop(None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
