"""Dask integration: models loaded once per worker, GPU workers chosen by resources.

* :class:`InferencePlugin` (a ``distributed.WorkerPlugin``) loads the repository once
  per worker at start-up, or starts an embedded KServe server on the worker, and keeps
  the client. Register it with ``client.register_plugin(InferencePlugin(settings))``.
* :class:`WorkerInferenceClient` is what processors hold: it pickles as its settings
  only and, on first use inside a worker, takes the plugin's client (else builds one).
* :func:`submit_inference` submits with ``resources={"GPU": 1}`` when the cluster has GPU
  workers (passed to ``submit`` directly: annotations can be lost in graph optimization).
* :func:`use_gpu_service` starts the KServe server on each GPU worker (the models on its
  GPU, ``settings.device``) and points every worker's client at one of them over gRPC, so
  CPU workers run the processors and the GPU workers serve the models.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from distributed import Client, Future, WorkerPlugin, get_worker
from distributed.comm import get_address_host

from common.exceptions import ServerUnavailableError
from inference.client import InferenceClient, InProcessClient, make_client
from inference.settings import InferenceSettings

PLUGIN_NAME = "fourtops-inference"
#: Resources a GPU worker declares (``dask worker --resources GPU=1``) and tasks ask for.
GPU_RESOURCES: dict[str, float] = {"GPU": 1}


class InferencePlugin(WorkerPlugin):
    """Load the models once per worker (or serve them from the worker) and hold the client.

    ``serve=True`` starts :func:`inference.server.serve_in_thread` on the worker (on the
    worker's host, free ports) and the worker's client talks gRPC to it; ``service_urls``
    (gRPC addresses, see :func:`use_gpu_service`) makes it a client of one of those;
    otherwise the worker gets an in-process client with every model loaded at setup.
    """

    name = PLUGIN_NAME

    def __init__(
        self,
        settings: InferenceSettings | None = None,
        *,
        serve: bool = False,
        models: list[str] | None = None,
        service_urls: list[str] | None = None,
    ) -> None:
        self.settings = settings or InferenceSettings()
        self.serve = serve
        self.models = models
        self.service_urls = list(service_urls or [])
        self.client: InferenceClient | None = None
        self.server = None
        self.loads = 0

    def setup(self, worker: Any) -> None:
        """Load the models (or start the embedded server) when the worker starts."""
        if self.service_urls:
            # A stable spread of workers over the GPU services (Python's str hash is salted).
            url = self.service_urls[zlib.crc32(worker.address.encode()) % len(self.service_urls)]
            self.client = make_client(self.settings.model_copy(update={"mode": "grpc", "url": url}))
        elif self.serve:
            from inference.server import serve_in_thread

            self.server = serve_in_thread(
                self.settings.repository,
                http_port=None,
                device=self.settings.device,
                strict_device=self.settings.strict_device,
                token=self.settings.token,
            )
            remote = self.settings.model_copy(update={"mode": "grpc", "url": self.server.grpc_url})
            self.client = make_client(remote)
            self.loads = len(self.server.model_server.engines)
        elif self.settings.mode == "inprocess":
            client = InProcessClient(self.settings)
            client.load_all(self.models)
            self.client = client
            self.loads = client.loads
        else:
            self.client = make_client(self.settings)

    def teardown(self, worker: Any) -> None:
        """Close the client and stop the embedded server."""
        if self.client is not None:
            self.client.close()
        if self.server is not None:
            self.server.stop()


def _plugin_client() -> InferenceClient | None:
    """The client of this worker's InferencePlugin, or None outside such a worker."""
    try:
        worker = get_worker()
    except ValueError:
        return None
    plugin = worker.plugins.get(PLUGIN_NAME)
    return getattr(plugin, "client", None)


#: In-process clients built by handles outside a plugin worker, one per settings and process:
#: executors unpickle a fresh copy of the processor for every chunk, and loading the four
#: shipped models took ~0.1 s, paid per chunk without this (ONNX Runtime sessions are safe
#: to share between threads). Remote clients are not shared: each handle builds its own.
_PROCESS_CLIENTS: dict[InferenceSettings, InferenceClient] = {}
_PROCESS_LOCK = threading.Lock()


def _process_client(settings: InferenceSettings) -> InferenceClient:
    """The in-process client of ``settings`` in this process (a new remote one otherwise)."""
    if settings.mode != "inprocess":
        return make_client(settings)
    with _PROCESS_LOCK:
        client = _PROCESS_CLIENTS.get(settings)
        if client is None:
            client = _PROCESS_CLIENTS[settings] = make_client(settings)
    return client


class WorkerInferenceClient:
    """Picklable handle: on a worker with the plugin it uses the plugin's client.

    Elsewhere (eager runs, workers without the plugin) it uses the process's in-process
    client of ``settings`` (models loaded once per process, not once per unpickled copy),
    or builds its own remote client, on first use. Nothing but the settings travels when
    pickled.
    """

    def __init__(self, settings: InferenceSettings | None = None) -> None:
        self.settings = settings or InferenceSettings()
        self._client: InferenceClient | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "_client": None}

    @property
    def client(self) -> InferenceClient:
        """The underlying client (resolved lazily where the handle is used)."""
        if self._client is None:
            self._client = _plugin_client() or _process_client(self.settings)
        return self._client

    def infer(
        self, model: str, inputs: Mapping[str, np.ndarray], outputs: list[str] | None = None
    ) -> dict[str, np.ndarray]:
        """See :meth:`inference.client.InferenceClient.infer`."""
        return self.client.infer(model, inputs, outputs)

    def model_metadata(self, model: str) -> dict[str, Any]:
        """See :meth:`inference.client.InferenceClient.model_metadata`."""
        return self.client.model_metadata(model)

    def close(self) -> None:
        """Forget the resolved client (a plugin's client stays open for other tasks)."""
        self._client = None


def register(client: Client, settings: InferenceSettings | None = None, **kwargs: Any) -> None:
    """Register :class:`InferencePlugin` on all current and future workers of ``client``."""
    client.register_plugin(InferencePlugin(settings, **kwargs), name=PLUGIN_NAME)


def gpu_workers(client: Client) -> list[str]:
    """Addresses of workers that declare a ``GPU`` resource."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return [addr for addr, info in workers.items() if info.get("resources", {}).get("GPU", 0) > 0]


def submit_inference(
    client: Client, fn: Callable[..., Any], *args: Any, use_gpu: bool | None = None, **kwargs: Any
) -> Future:
    """``client.submit(fn, *args, **kwargs)``, on a GPU worker when the cluster has one.

    ``use_gpu`` None: GPU if any worker declares one; True: require it; False: any worker.
    """
    if use_gpu is None:
        use_gpu = bool(gpu_workers(client))
    if use_gpu:
        kwargs["resources"] = dict(GPU_RESOURCES)
    return client.submit(fn, *args, **kwargs)


_SERVICE_ATTR = "_fourtops_inference_service"


def _start_service(settings: InferenceSettings, dask_worker: Any) -> str:
    """On a worker: start (once) the server on the worker's host; return its gRPC address."""
    handle = getattr(dask_worker, _SERVICE_ATTR, None)
    if handle is None:
        from inference.server import serve_in_thread

        handle = serve_in_thread(
            settings.repository,
            host=get_address_host(dask_worker.address),
            http_port=None,
            device=settings.device,
            strict_device=settings.strict_device,
            token=settings.token,
        )
        setattr(dask_worker, _SERVICE_ATTR, handle)
    return handle.grpc_url


def _stop_service(dask_worker: Any) -> bool:
    handle = getattr(dask_worker, _SERVICE_ATTR, None)
    if handle is not None:
        handle.stop()
        setattr(dask_worker, _SERVICE_ATTR, None)
    return handle is not None


def use_gpu_service(client: Client, settings: InferenceSettings | None = None) -> dict[str, str]:
    """Serve the models from the GPU workers and make every worker their gRPC client.

    Starts the server on each worker declaring a ``GPU`` resource (``settings.device``,
    normally "cuda"; with ``strict_device`` a worker without CUDA fails instead of serving
    from its CPU), then registers :class:`InferencePlugin` with those addresses. Returns
    {GPU worker address: gRPC address}. :func:`stop_gpu_service` stops the servers.
    """
    settings = settings or InferenceSettings()
    gpus = gpu_workers(client)
    if not gpus:
        raise ServerUnavailableError(
            "no dask worker declares a GPU resource; start GPU workers with "
            "'dask worker --resources GPU=1' or run the models in-process"
        )
    urls = client.run(_start_service, settings, workers=gpus)
    register(client, settings, service_urls=sorted(urls.values()))
    return urls


def stop_gpu_service(client: Client) -> None:
    """Stop the servers :func:`use_gpu_service` started."""
    client.run(_stop_service, workers=gpu_workers(client))
