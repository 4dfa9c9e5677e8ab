"""KServe v2 inference server (HTTP + gRPC) over a Triton-layout ONNX model repository.

Embedding: ``with serve_in_thread(repo_dir) as handle: ... handle.http_url ...``.
Command line: :func:`add_arguments` and :func:`main` (``run_analysis.py serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from common.exceptions import ServerUnavailableError
from inference.server.core import ModelServer
from inference.server.grpc_servicer import build_grpc_server
from inference.server.http_app import build_app
from inference.settings import ServerSettings

__all__ = ["ServerHandle", "add_arguments", "main", "serve_in_thread", "start_server"]

log = logging.getLogger(__name__)


class ServerHandle:
    """A running server; :meth:`stop` shuts it down gracefully (finishes in-flight requests)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.model_server = ModelServer(settings)
        self.http_url: str | None = None
        self.grpc_url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._grpc = None
        self._stopped = False
        try:
            if settings.http_port is not None:
                self._start_http()
            if settings.grpc_port is not None:
                self._grpc, port = build_grpc_server(
                    self.model_server, f"{settings.host}:{settings.grpc_port}"
                )
                self._grpc.start()
                self.grpc_url = f"{settings.host}:{port}"
        except BaseException:
            self.stop()
            raise

    def _start_http(self) -> None:
        settings = self.settings
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(build_app(self.model_server, settings.token), access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(
            runner,
            settings.host,
            settings.http_port,
            shutdown_timeout=settings.shutdown_grace_s,
            reuse_address=True,
        )
        try:
            loop.run_until_complete(site.start())
        except OSError as err:
            loop.run_until_complete(runner.cleanup())
            loop.close()
            raise ServerUnavailableError(
                f"cannot bind the HTTP server to {settings.host}:{settings.http_port}: {err}"
            ) from err
        port = runner.addresses[0][1]
        self._loop, self._runner = loop, runner
        self.http_url = f"http://{settings.host}:{port}"
        self._thread = threading.Thread(target=loop.run_forever, name="kserve-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the grace time), release ports."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.shutdown_grace_s
        self.model_server.accepting = False
        grpc_done = self._grpc.stop(grace) if self._grpc is not None else None
        if self._loop is not None and self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(grace + 5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            self._loop.close()
        if grpc_done is not None:
            grpc_done.wait(grace + 5)
        self.model_server.close(grace)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(settings: ServerSettings) -> ServerHandle:
    """Load the repository and start the HTTP and/or gRPC endpoints in background threads."""
    return ServerHandle(settings)


def serve_in_thread(
    repo_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    http_port: int | None = 0,
    grpc_port: int | None = 0,
    token: str | None = None,
    **options: Any,
) -> ServerHandle:
    """Serve ``repo_dir`` from background threads; use as a context manager or call stop().

    Port 0 picks a free port (see ``handle.http_url`` / ``handle.grpc_url``); None disables
    that protocol. Other keyword options are fields of ServerSettings.
    """
    settings = ServerSettings(
        repository=Path(repo_dir),
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        token=token,
        **options,
    )
    return start_server(settings)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``serve`` options (models folder, host, ports, token, limits, device)."""
    defaults = ServerSettings()
    parser.add_argument(
        "--models",
        type=Path,
        default=defaults.repository,
        help="model repository folder (Triton layout)",
    )
    parser.add_argument(
        "--host",
        default=defaults.host,
        help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it)",
    )
    parser.add_argument(
        "--http-port", type=int, default=defaults.http_port, help="HTTP port (-1 disables HTTP)"
    )
    parser.add_argument(
        "--grpc-port", type=int, default=defaults.grpc_port, help="gRPC port (-1 disables gRPC)"
    )
    parser.add_argument(
        "--token", default=None, help="require 'Authorization: Bearer TOKEN' on all but health"
    )
    parser.add_argument(
        "--max-request-mb",
        type=float,
        default=defaults.max_request_bytes / 2**20,
        help="request size limit",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default=defaults.device)
    parser.add_argument(
        "--strict-device", action="store_true", help="fail instead of falling back to CPU"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="ONNX Runtime intra-op threads per model (0: automatic)",
    )
    parser.add_argument(
        "--max-queue-size",
        type=int,
        default=defaults.max_queue_size,
        help="queued requests per model version; more get 503 / UNAVAILABLE (0: unbounded)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=defaults.request_timeout_s,
        help="seconds a request may wait in a queue (0: no limit)",
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        default=defaults.retry_after_s,
        help="retry hint (seconds) sent with 503 / UNAVAILABLE",
    )
    parser.add_argument(
        "--default-max-batch-size",
        type=int,
        default=defaults.default_max_batch_size,
        help="max_batch_size of models without config.pbtxt whose first dims are dynamic",
    )
    return parser


def _settings_from_args(args: argparse.Namespace) -> ServerSettings:
    return ServerSettings(
        repository=args.models,
        host=args.host,
        http_port=None if args.http_port < 0 else args.http_port,
        grpc_port=None if args.grpc_port < 0 else args.grpc_port,
        token=args.token,
        max_request_bytes=int(args.max_request_mb * 2**20),
        device=args.device,
        strict_device=args.strict_device,
        intra_op_threads=args.threads,
        max_queue_size=args.max_queue_size,
        request_timeout_s=args.request_timeout,
        retry_after_s=args.retry_after,
        default_max_batch_size=args.default_max_batch_size,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT, then shut down gracefully. Returns the exit code."""
    parser = add_arguments(argparse.ArgumentParser(description="KServe v2 inference server"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    handle = start_server(_settings_from_args(args))
    engines = handle.model_server.engines
    for (model, version), engine in sorted(engines.items()):
        # The provider really used (ONNX Runtime falls back to CPU quietly otherwise).
        log.info("model %s version %s runs on %s", model, version, engine.provider)
    done = threading.Event()
    # Handlers first: whoever reads "serving" may send SIGTERM at once.
    previous = {s: signal.signal(s, lambda *_: done.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    log.info(
        "serving %s on HTTP %s gRPC %s",
        handle.model_server.repository.names(),
        handle.http_url,
        handle.grpc_url,
    )
    try:
        done.wait()
    finally:
        log.info("shutting down: finishing in-flight requests")
        handle.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
