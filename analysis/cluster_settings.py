"""The ``cluster:`` section of the analysis configuration: batch jobs for dask-jobqueue.

Only read when the run is started with ``--cluster condor|slurm``. Each batch job starts
``processes`` dask workers sharing ``cores`` and ``memory``; with ``adaptive`` the number
of jobs follows the queue of pending chunks between ``minimum_jobs`` and ``maximum_jobs``
(dask's adaptive scaling), otherwise ``--workers`` jobs are requested up front.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
_WALLTIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}(:\d{2})?$")


class AdaptiveScaling(BaseModel):
    """Bounds of dask's adaptive scaling, in batch jobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minimum_jobs: int = Field(0, ge=0)
    maximum_jobs: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> AdaptiveScaling:
        if self.minimum_jobs > self.maximum_jobs:
            raise ValueError(f"minimum_jobs ({self.minimum_jobs}) exceeds maximum_jobs "
                             f"({self.maximum_jobs})")
        return self


class ClusterSettings(BaseModel):
    """Resources and site directives of one batch job (HTCondor or Slurm)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cores: int = Field(1, ge=1, description="cores per job")
    processes: int = Field(1, ge=1, description="dask workers per job (share the cores)")
    memory: str = Field("4GB", description="memory per job, e.g. 4GB or 3.5GiB")
    disk: str = Field("4GB", description="scratch disk per job (HTCondor request_disk)")
    queue: str | None = Field(None, description="Slurm partition")
    account: str | None = Field(None, description="Slurm account / project to charge")
    walltime: str = Field("02:00:00", description="[D-]HH:MM[:SS] (Slurm --time; HTCondor "
                          "+MaxRuntime in seconds, which most pools honour)")
    gpus: int = Field(0, ge=0, description="GPUs per job; its workers get the dask "
                      "resource GPU, which inference tasks ask for")
    job_directives: list[str] = Field(
        default_factory=list,
        description="extra submit lines: HTCondor 'key = value' (e.g. '+JobFlavour = "
        "\"longlunch\"'), Slurm options (e.g. '--constraint=avx2')")
    setup: list[str] = Field(
        default_factory=list,
        description="shell lines run before the worker starts (environment set-up, e.g. "
        "'source /path/to/venv/bin/activate')")
    log_directory: str | None = Field(None, description="where job logs go")
    adaptive: AdaptiveScaling | None = Field(
        None, description="adaptive scaling bounds; None: --workers jobs, fixed")

    @field_validator("memory", "disk")
    @classmethod
    def _size(cls, value: str) -> str:
        if not _MEMORY.match(value.strip()):
            raise ValueError(f"expected a size such as 4GB or 3.5GiB, got {value!r}")
        return value.strip()

    @field_validator("walltime")
    @classmethod
    def _walltime(cls, value: str) -> str:
        if not _WALLTIME.match(value):
            raise ValueError(f"expected [D-]HH:MM[:SS], got {value!r}")
        return value

    @field_validator("job_directives")
    @classmethod
    def _directives(cls, lines: list[str]) -> list[str]:
        return [line.strip() for line in lines if line.strip()]

    def walltime_seconds(self) -> int:
        """The walltime in seconds."""
        days, _, clock = self.walltime.rpartition("-")
        parts = [int(p) for p in clock.split(":")] + [0]
        hours, minutes, seconds = parts[0], parts[1], parts[2]
        return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds
