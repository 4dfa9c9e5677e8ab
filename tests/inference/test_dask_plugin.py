"""Dask: models loaded once per worker over many chunks; GPU tasks go to GPU workers."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, Scheduler, SpecCluster, Worker, get_worker

from inference.dask_plugin import (
    PLUGIN_NAME,
    WorkerInferenceClient,
    gpu_workers,
    register,
    stop_gpu_service,
    submit_inference,
    use_gpu_service,
)
from inference.settings import InferenceSettings


@pytest.fixture(scope="module")
def cluster_client():
    """Two in-process workers, one declaring a GPU (resources GPU=1)."""
    workers = {
        "cpu": {"cls": Worker, "options": {"nthreads": 1}},
        "gpu": {"cls": Worker, "options": {"nthreads": 1, "resources": {"GPU": 1}}},
    }
    # Port 0: a busy default dashboard port (8787) only warns, and warnings are errors here.
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
    with SpecCluster(workers=workers, scheduler=scheduler) as cluster, Client(cluster) as client:
        yield client


def _chunk(handle: WorkerInferenceClient, seed: int) -> tuple[str, int, int, np.ndarray]:
    """What a processor does per chunk: infer with the handle it was given."""
    x = np.random.default_rng(seed).normal(size=(10, 3)).astype(np.float32)
    y = handle.infer("linear", {"x": x})["y"][:, 0]
    worker = get_worker()
    plugin = worker.plugins[PLUGIN_NAME]
    return worker.address, id(handle.client), plugin.loads, y - (x @ [1.0, 2.0, 3.0] + 1)


def test_unpickled_handles_without_plugin_share_one_client_per_process(model_repo: Path) -> None:
    # an executor without the plugin unpickles a fresh processor (and handle) per chunk
    settings = InferenceSettings(repository=model_repo)
    handles = [pickle.loads(pickle.dumps(WorkerInferenceClient(settings))) for _ in range(3)]
    x = np.ones((4, 3), np.float32)
    for handle in handles:
        np.testing.assert_allclose(handle.infer("linear", {"x": x})["y"][:, 0], 7.0, atol=1e-5)
    assert len({id(h.client) for h in handles}) == 1
    assert handles[0].client.loads == 1  # the model was loaded once, not once per copy
    other = WorkerInferenceClient(settings.model_copy(update={"batch_size": 7}))
    assert other.client is not handles[0].client  # other settings, other client


def test_models_load_once_per_worker(cluster_client: Client, model_repo: Path) -> None:
    settings = InferenceSettings(repository=model_repo)
    register(cluster_client, settings)
    handle = WorkerInferenceClient(settings)
    assert pickle.loads(pickle.dumps(handle))._client is None
    futures = [cluster_client.submit(_chunk, handle, seed, pure=False) for seed in range(24)]
    results = cluster_client.gather(futures)
    clients_per_worker: dict[str, set[int]] = {}
    for address, client_id, loads, residual in results:
        clients_per_worker.setdefault(address, set()).add(client_id)
        # Three models in the repository, each loaded once at worker set-up.
        assert loads == 3
        np.testing.assert_allclose(residual, 0.0, atol=1e-5)
    # Every chunk on a worker used that worker's single client.
    assert all(len(ids) == 1 for ids in clients_per_worker.values())
    loads = cluster_client.run(lambda dask_worker: dask_worker.plugins[PLUGIN_NAME].client.loads)
    assert sorted(loads.values()) == [3, 3]


def test_inference_tasks_go_to_gpu_workers(cluster_client: Client) -> None:
    gpus = gpu_workers(cluster_client)
    assert len(gpus) == 1
    futures = [
        submit_inference(cluster_client, lambda i: get_worker().address, i, pure=False)
        for i in range(8)
    ]
    assert set(cluster_client.gather(futures)) == set(gpus)
    anywhere = [
        submit_inference(
            cluster_client, lambda i: get_worker().address, i, use_gpu=False, pure=False
        )
        for i in range(8)
    ]
    assert len(cluster_client.gather(anywhere)) == 8


def test_handle_outside_a_worker_builds_its_own_client(model_repo: Path) -> None:
    handle = WorkerInferenceClient(InferenceSettings(repository=model_repo))
    out = handle.infer("linear", {"x": np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(out["y"], np.full((2, 1), 7.0, np.float32))


def test_embedded_server_per_worker(cluster_client: Client, model_repo: Path) -> None:
    settings = InferenceSettings(repository=model_repo)
    register(cluster_client, settings, serve=True)
    handle = WorkerInferenceClient(settings)

    def task(seed: int) -> tuple[str, float]:
        x = np.full((5, 3), float(seed), np.float32)
        client = handle.client
        return type(client).__name__, float(handle.infer("linear", {"x": x})["y"][0, 0])

    results = cluster_client.gather([cluster_client.submit(task, s, pure=False) for s in range(6)])
    assert {name for name, _ in results} == {"GrpcClient"}
    assert [y for _, y in results] == [6.0 * s + 1.0 for s in range(6)]


def test_gpu_workers_serve_the_models_for_cpu_workers(
    cluster_client: Client, model_repo: Path
) -> None:
    # No GPU here: the GPU worker serves from its CPU, the mechanism is the same.
    settings = InferenceSettings(repository=model_repo, device="cpu")
    urls = use_gpu_service(cluster_client, settings)
    try:
        (gpu,) = gpu_workers(cluster_client)
        assert list(urls) == [gpu]
        (cpu,) = set(cluster_client.scheduler_info()["workers"]) - {gpu}
        handle = WorkerInferenceClient(settings)

        def task(seed: int) -> tuple[str, str, float]:
            x = np.full((4, 3), float(seed), np.float32)
            y = float(handle.infer("linear", {"x": x})["y"][0, 0])
            return get_worker().address, handle.client.target, y

        futures = [cluster_client.submit(task, s, workers=[cpu], pure=False) for s in range(4)]
        results = cluster_client.gather(futures)
        assert {(address, target) for address, target, _ in results} == {(cpu, urls[gpu])}
        assert [y for _, _, y in results] == [6.0 * s + 1.0 for s in range(4)]
        served = cluster_client.run(
            lambda dask_worker: (
                dask_worker._fourtops_inference_service.model_server.metrics.render()
            ),
            workers=[gpu],
        )[gpu]
        assert 'model="linear",protocol="grpc",status="OK"' in served
    finally:
        stop_gpu_service(cluster_client)
