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

from analysis.cluster_settings import ClusterSettings
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
    batch: ClusterSettings | None = None  # the config's cluster section (batch jobs)
    dashboard: bool = True  # serve the dask dashboard and print its address


def jobqueue_arguments(kind: str, settings: ClusterSettings) -> dict[str, Any]:
    """Keyword arguments of dask-jobqueue's HTCondorCluster / SLURMCluster for ``settings``."""
    common: dict[str, Any] = {
        "cores": settings.cores, "processes": settings.processes, "memory": settings.memory,
        "job_script_prologue": list(settings.setup), "log_directory": settings.log_directory,
    }
    if settings.gpus:
        # the inference tasks ask for resources={"GPU": 1}; only these workers offer it
        common["worker_extra_args"] = ["--resources", f"GPU={settings.gpus}"]
    if kind == "condor":
        directives: dict[str, str] = {}
        for line in settings.job_directives:
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"cluster.job_directives: HTCondor lines are 'key = value', "
                                  f"got {line!r}")
            directives[key.strip()] = value.strip()
        directives.setdefault("+MaxRuntime", str(settings.walltime_seconds()))
        if settings.gpus:
            directives.setdefault("request_gpus", str(settings.gpus))
        return {**common, "disk": settings.disk, "job_extra_directives": directives}
    if kind == "slurm":
        lines = list(settings.job_directives)
        if settings.gpus:
            lines.append(f"--gres=gpu:{settings.gpus}")
        return {**common, "queue": settings.queue, "account": settings.account,
                "walltime": settings.walltime, "job_extra_directives": lines}
    raise ConfigError(f"unknown batch system {kind!r}; choose condor or slurm")


def batch_cluster(kind: str, settings: ClusterSettings | None, workers: int,
                  dashboard: bool = True, host: str | None = None) -> Any:
    """A dask-jobqueue cluster (not yet scaled) for HTCondor (``condor``) or Slurm.

    ``host`` is the scheduler's listening address (default: dask-jobqueue's choice, the
    submit host's public interface). Scale it with :func:`scale_batch_cluster`.
    """
    import dask_jobqueue

    settings = settings or ClusterSettings()
    cls = {"condor": dask_jobqueue.HTCondorCluster, "slurm": dask_jobqueue.SLURMCluster}.get(kind)
    if cls is None:
        raise ConfigError(f"unknown batch system {kind!r}; choose condor or slurm")
    # The scheduler's HTTP server always listens (health checks); without the dashboard
    # it takes any free port, so it never collides with another cluster's.
    options: dict[str, Any] = ({"dashboard_address": ":8787"} if dashboard
                               else {"dashboard": False, "dashboard_address": ":0"})
    if host is not None:
        options["host"] = host
    return cls(**jobqueue_arguments(kind, settings), scheduler_options=options)


def scale_batch_cluster(cluster: Any, settings: ClusterSettings | None, workers: int) -> None:
    """Adaptive scaling between the configured bounds, or ``workers`` jobs."""
    if settings is not None and settings.adaptive is not None:
        cluster.adapt(minimum_jobs=settings.adaptive.minimum_jobs,
                      maximum_jobs=settings.adaptive.maximum_jobs)
    else:
        cluster.scale(jobs=workers)


def _announce_dashboard(client: Any) -> None:
    link = getattr(client, "dashboard_link", None)
    if link:
        print(f"dask dashboard: {link}", flush=True)


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
        elif spec.batch_system:  # pragma: no cover - submitting needs a batch system
            cluster = stack.enter_context(batch_cluster(spec.batch_system, spec.batch,
                                                        spec.workers, spec.dashboard))
            scale_batch_cluster(cluster, spec.batch, spec.workers)
            client = stack.enter_context(Client(cluster))
        else:
            cluster = stack.enter_context(
                # silence_logs: worker warnings (memory notes, slow shutdown) would bury
                # the run's own output; errors still show. The scheduler's HTTP server
                # (dashboard, health) always listens - dashboard_address=None still means
                # port 8787 - so it takes any free port (":0"): two runs on one machine
                # never collide. Its address is printed only with spec.dashboard.
                LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                             dashboard_address=":0", silence_logs=logging.ERROR)
            )
            client = stack.enter_context(Client(cluster))
        if spec.dashboard and spec.status:
            _announce_dashboard(client)
        for plugin in spec.worker_plugins:
            client.register_plugin(plugin)
        yield processor.DaskExecutor(client=client, status=spec.status)
