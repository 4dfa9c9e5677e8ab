"""Where chunks run: in this process, a local process pool, or a dask cluster.

The dask cluster is a ``distributed.LocalCluster`` started here (the embedded default), an
existing scheduler given by address, or a batch cluster from dask-jobqueue (HTCondor, Slurm).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from coffea import processor

from common.exceptions import ConfigError

ExecutorName = Literal["iterative", "futures", "dask"]


@dataclass(frozen=True)
class ClusterSpec:
    """How to run: executor kind, number of workers, where the dask scheduler is."""

    executor: ExecutorName = "dask"
    workers: int = 2
    scheduler: str | None = None  # address of an existing scheduler, e.g. tcp://host:8786
    batch_system: Literal["condor", "slurm"] | None = None
    status: bool = True  # show a progress bar
    # distributed.WorkerPlugin instances registered on every dask worker (model loading)
    worker_plugins: tuple[Any, ...] = ()


def _batch_cluster(kind: str, workers: int):  # pragma: no cover - needs a batch system
    try:
        import dask_jobqueue
    except ImportError as err:
        raise ConfigError(
            f"--cluster {kind} needs the package 'dask-jobqueue' (pip install dask-jobqueue)"
        ) from err
    cls = {"condor": dask_jobqueue.HTCondorCluster, "slurm": dask_jobqueue.SLURMCluster}[kind]
    cluster = cls(cores=1, memory="4GB", disk="4GB", processes=1)
    cluster.scale(jobs=workers)
    return cluster


@contextlib.contextmanager
def open_executor(spec: ClusterSpec) -> Iterator[processor.ExecutorBase]:
    """A coffea executor for the spec; a cluster it starts is closed on exit."""
    if spec.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {spec.workers}")
    if spec.executor == "iterative":
        yield processor.IterativeExecutor(status=spec.status)
        return
    if spec.executor == "futures":
        yield processor.FuturesExecutor(workers=spec.workers, status=spec.status)
        return
    if spec.executor != "dask":
        raise ConfigError(
            f"unknown executor {spec.executor!r}; choose one of iterative, futures, dask"
        )
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if spec.scheduler:
            client = stack.enter_context(Client(spec.scheduler))
        elif spec.batch_system:
            cluster = stack.enter_context(_batch_cluster(spec.batch_system, spec.workers))
            client = stack.enter_context(Client(cluster))
        else:
            cluster = stack.enter_context(
                # silence_logs: worker warnings (memory notes, slow shutdown) would bury
                # the run's own output; errors still show
                LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                             dashboard_address=None, silence_logs=logging.ERROR)
            )
            client = stack.enter_context(Client(cluster))
        for plugin in spec.worker_plugins:
            client.register_plugin(plugin)
        yield processor.DaskExecutor(client=client, status=spec.status)
