"""Inference throughput: in-process ONNX Runtime vs our KServe v2 server over HTTP and gRPC.

Two models are built here with torch and exported to ONNX: an MLP the size of the event
DNN (30 inputs) and a ParticleNet-sized graph network (EdgeConv blocks, k nearest
neighbours, 100 points). For each batch size the table gives rows per second and the
ratio to in-process. ``--device cuda`` adds rows with the CUDA execution provider (needs
``onnxruntime-gpu``; the provider actually used is printed). By default the server runs in
threads of the benchmark's own process; ``--server-process`` starts it as its own process
(``run_analysis.py serve``), as it is deployed, so client and server do not share one
Python interpreter lock.

    python benchmarks/bench_inference.py --quick
    python benchmarks/bench_inference.py --quick --server-process
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from inference.client import make_client
from inference.engine import Engine
from inference.metadata import set_metadata
from inference.repository import write_model
from inference.server import serve_in_thread
from inference.server.loadgen import start_server_process

ROOT = Path(__file__).resolve().parent.parent

N_FEATURES = 30
N_POINTS = 100
POINT_FEATURES = 7
#: Graph sizes from ParticleNet (Qu & Gouskos, arXiv:1902.08570): (k, EdgeConv channels).
GRAPH_SIZES = {
    "particlenet": (16, ((64, 64, 64), (128, 128, 128), (256, 256, 256))),
    "lite": (7, ((32, 32, 32), (64, 64, 64))),
}


class EdgeConvBlock(torch.nn.Module):
    """EdgeConv: MLP on (x_i, x_j - x_i) over the k nearest neighbours, averaged, + shortcut."""

    def __init__(self, c_in: int, channels: tuple[int, ...], k: int) -> None:
        super().__init__()
        self.k = k
        layers, width = [], 2 * c_in
        for c in channels:
            layers += [torch.nn.Linear(width, c), torch.nn.ReLU()]
            width = c
        self.mlp = torch.nn.Sequential(*layers)
        self.shortcut = torch.nn.Linear(c_in, channels[-1])

    def forward(self, coords: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n, p, c = x.shape
        dist = (coords * coords).sum(-1, keepdim=True)
        dist = dist - 2 * coords @ coords.transpose(1, 2) + dist.transpose(1, 2)
        idx = dist.topk(self.k + 1, dim=-1, largest=False).indices[:, :, 1:]
        flat = (idx + (torch.arange(n) * p)[:, None, None]).reshape(-1)
        neighbours = x.reshape(n * p, c)[flat].reshape(n, p, self.k, c)
        centre = x[:, :, None, :].expand(n, p, self.k, c)
        edge = self.mlp(torch.cat([centre, neighbours - centre], dim=-1)).mean(dim=2)
        return torch.relu(edge + self.shortcut(x))


class ParticleNetLike(torch.nn.Module):
    """EdgeConv blocks (dynamic graph after the first), masked mean pool, 2 classes."""

    def __init__(self, size: str = "particlenet") -> None:
        super().__init__()
        k, all_channels = GRAPH_SIZES[size]
        blocks, c_in = [], POINT_FEATURES
        for channels in all_channels:
            blocks.append(EdgeConvBlock(c_in, channels, k))
            c_in = channels[-1]
        self.blocks = torch.nn.ModuleList(blocks)
        self.head = torch.nn.Sequential(
            torch.nn.Linear(c_in, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2)
        )

    def forward(self, points, features, mask):  # noqa: D102
        x, coords = features, points
        for block in self.blocks:
            x = block(coords, x) * mask
            coords = x + (1.0 - mask) * 1e6  # padded points never neighbour real ones
        pooled = x.sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.softmax(self.head(pooled), dim=-1)


def _mlp() -> torch.nn.Module:
    widths = (N_FEATURES, 256, 256, 128, 1)
    layers = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1], torch.nn.Sigmoid())


def _export(module, args, inputs, outputs) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            args,
            buffer,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={n: {0: "batch"} for n in inputs + outputs},
            dynamo=False,
        )
    model = onnx.load_from_string(buffer.getvalue())
    return set_metadata(
        model,
        description="benchmark model (random weights)",
        inputs=[{"name": n} for n in inputs],
        outputs=[{"name": n} for n in outputs],
        training_samples="none",
        version="1",
        metrics={},
        license="BSD-3-Clause",
    )


def build_repository(root: Path, max_batch: int, graph: str) -> None:
    """Write the two benchmark models into ``root`` (graph net of size ``graph``)."""
    torch.manual_seed(0)
    write_model(
        root,
        "mlp",
        _export(_mlp(), (torch.zeros(2, N_FEATURES),), ["features"], ["score"]),
        max_batch_size=max_batch,
    )
    args = (
        torch.rand(2, N_POINTS, 2),
        torch.rand(2, N_POINTS, POINT_FEATURES),
        torch.ones(2, N_POINTS, 1),
    )
    write_model(
        root,
        "particlenet",
        _export(ParticleNetLike(graph), args, ["points", "features", "mask"], ["prob"]),
        max_batch_size=max_batch,
    )


def make_inputs(model: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random inputs of ``n`` rows for ``model``."""
    if model == "mlp":
        return {"features": rng.normal(size=(n, N_FEATURES)).astype(np.float32)}
    counts = rng.integers(20, N_POINTS + 1, size=n)
    mask = (np.arange(N_POINTS)[None, :] < counts[:, None]).astype(np.float32)[..., None]
    return {
        "points": rng.normal(size=(n, N_POINTS, 2)).astype(np.float32) * mask,
        "features": rng.normal(size=(n, N_POINTS, POINT_FEATURES)).astype(np.float32) * mask,
        "mask": mask,
    }


@contextlib.contextmanager
def _server(repo: Path, device: str, threads: int, separate: bool) -> Iterator[Any]:
    """The server on ``repo``, in this process's threads or as a child process; it has
    ``http_url`` and ``grpc_url``."""
    if not separate:
        with serve_in_thread(repo, device=device, intra_op_threads=threads,
                             max_request_bytes=2**31 - 1) as server:
            yield server
        return
    server = start_server_process(
        ["--models", str(repo), "--http-port", "0", "--grpc-port", "0", "--device", device,
         "--threads", str(threads), "--max-request-mb", "2047"], cwd=ROOT)
    try:
        yield server
    finally:
        server.stop()


def measure(clients: dict, model: str, inputs: dict, min_seconds: float) -> dict[str, float]:
    """Rows/s per client: rows over the median call time, calls interleaved across clients.

    Interleaving and the median keep other load on the machine from favouring one mode.
    """
    rows = len(next(iter(inputs.values())))
    times: dict[str, list[float]] = {mode: [] for mode in clients}
    for client in clients.values():
        client.infer(model, inputs)  # warm-up: sessions, connections, allocations
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times["inprocess"]) < 3:
        for mode, client in clients.items():
            t0 = time.perf_counter()
            client.infer(model, inputs)
            times[mode].append(time.perf_counter() - t0)
    return {mode: rows / float(np.median(t)) for mode, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batch sizes, short timing")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cuda: also measure the CUDA execution provider",
    )
    parser.add_argument("--threads", type=int, default=0, help="ORT intra-op threads (0: auto)")
    parser.add_argument("--seconds", type=float, default=None, help="timing per cell")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument(
        "--graph",
        choices=sorted(GRAPH_SIZES),
        default=None,
        help="graph net size (default: lite with --quick, else particlenet)",
    )
    parser.add_argument(
        "--max-graph-batch",
        type=int,
        default=None,
        help="largest graph batch (default 1024 on CPU, 65536 with cuda)",
    )
    parser.add_argument("--server-process", action="store_true",
                        help="run the server as its own process, not in threads of this one")
    args = parser.parse_args(argv)
    graph = args.graph or ("lite" if args.quick else "particlenet")
    mlp_batches = [64, 1024, 4096, 16384, 65536]
    if not args.quick:
        mlp_batches = [64, 256, 1024, 4096, 16384, 65536]
    # The edge tensors grow as batch x points x k x channels (4096 full-size jets need
    # several GB per layer and exhaust a 24 GB machine): cap the batch on CPU.
    default_max = 65536 if args.device == "cuda" and not args.quick else 1024
    graph_batches = [
        b for b in (64, 256, 1024, 4096, 16384, 65536) if b <= (args.max_graph_batch or default_max)
    ]
    seconds = args.seconds or (0.5 if args.quick else 2.0)
    devices = ["cpu", "cuda"] if args.device == "cuda" else ["cpu"]
    rng = np.random.default_rng(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        build_repository(repo, max(mlp_batches + graph_batches), graph)
        print(f"# graph net size {graph!r}: k, channels = {GRAPH_SIZES[graph]}")
        print(
            f"{'model':12} {'device':6} {'batch':>6} {'in-process':>12} "
            f"{'HTTP':>12} {'ratio':>6} {'gRPC':>12} {'ratio':>6}"
        )
        for device in devices:
            provider = Engine(repo / "mlp" / "1" / "model.onnx", device=device).provider
            print(f"# device {device}: ONNX Runtime provider {provider}")
            common = {
                "repository": repo,
                "device": device,
                "intra_op_threads": args.threads,
                "inter_op_threads": args.threads,
                "retries": 0,
                "batch_size": 2**20,
                "timeout_s": 600,
            }
            with _server(repo, device, args.threads, args.server_process) as server:
                clients = {
                    "inprocess": make_client({**common, "mode": "inprocess"}),
                    "http": make_client({**common, "mode": "http", "url": server.http_url}),
                    "grpc": make_client({**common, "mode": "grpc", "url": server.grpc_url}),
                }
                # CPU memory bounds the graph batch on the CPU provider even with --device cuda
                on_device = [b for b in graph_batches if device == "cuda" or b <= 1024]
                for model, batches in (("mlp", mlp_batches), ("particlenet", on_device)):
                    for batch in batches:
                        inputs = make_inputs(model, batch, rng)
                        row = {
                            "model": model,
                            "device": device,
                            "provider": provider,
                            "batch": batch,
                        }
                        row.update(measure(clients, model, inputs, seconds))
                        results.append(row)
                        base = row["inprocess"]
                        print(
                            f"{model:12} {device:6} {batch:6d} {base:12.0f} "
                            f"{row['http']:12.0f} {row['http'] / base:6.2f} "
                            f"{row['grpc']:12.0f} {row['grpc'] / base:6.2f}",
                            flush=True,
                        )
                for client in clients.values():
                    client.close()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
