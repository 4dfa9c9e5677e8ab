"""Settings of the inference client and server (pydantic; unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The model repository shipped with the package.
DEFAULT_REPOSITORY = Path(__file__).resolve().parent / "models"


class InferenceSettings(BaseModel):
    """How processors reach the models: in-process ONNX Runtime or a KServe v2 server.

    ``url`` is ``http://host:port`` for mode "http" and ``host:port`` for "grpc".
    Retry waits: ``backoff_initial_s * backoff_multiplier**k`` (capped at
    ``backoff_max_s``), times a uniform factor in ``[1 - jitter, 1 + jitter]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["inprocess", "http", "grpc"] = "inprocess"
    repository: Path = DEFAULT_REPOSITORY
    url: str | None = None
    token: str | None = Field(default=None, repr=False)
    timeout_s: float = Field(default=60.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=4, ge=0, description="retries after the first try")
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    backoff_max_s: float = Field(default=30.0, ge=0)
    jitter: float = Field(default=0.1, ge=0, le=1)
    batch_size: int = Field(default=16384, gt=0, description="rows per request at most")
    device: Literal["cpu", "cuda"] = "cpu"
    strict_device: bool = False
    intra_op_threads: int = Field(default=1, ge=0, description="0: ONNX Runtime chooses")
    inter_op_threads: int = Field(default=1, ge=0, description="0: ONNX Runtime chooses")
    allow_spinning: bool = Field(default=False, description="idle ORT threads busy-wait")

    @model_validator(mode="after")
    def _url_for_remote(self) -> InferenceSettings:
        if self.mode != "inprocess" and not self.url:
            raise ValueError(f"mode {self.mode!r} needs 'url' (the server address)")
        return self


class ServerSettings(BaseModel):
    """Settings of the KServe v2 server (``python run_analysis.py serve``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: Path = DEFAULT_REPOSITORY
    host: str = "127.0.0.1"
    http_port: int | None = Field(default=8000, ge=0, le=65535, description="None: no HTTP")
    grpc_port: int | None = Field(default=8001, ge=0, le=65535, description="None: no gRPC")
    token: str | None = Field(default=None, repr=False)
    max_request_bytes: int = Field(default=256 * 2**20, gt=0)
    device: Literal["cpu", "cuda"] = "cpu"
    strict_device: bool = False
    intra_op_threads: int = Field(default=0, ge=0)
    inter_op_threads: int = Field(default=0, ge=0)
    allow_spinning: bool = Field(default=False, description="idle ORT threads busy-wait")
    grpc_workers: int = Field(default=8, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    default_max_batch_size: int = Field(
        default=4, ge=0, description="max_batch_size of auto-completed batched models (Triton's)"
    )
    # Backpressure: a full queue answers 503 / UNAVAILABLE at once (memory stays bounded).
    max_queue_size: int = Field(
        default=64, ge=0, description="queued requests per model version (0: unbounded)"
    )
    request_timeout_s: float = Field(
        default=60.0, ge=0, description="longest wait in a model's queue (0: none)"
    )
    retry_after_s: float = Field(default=1.0, gt=0, description="retry hint of a 503")
    max_inflight_bytes: int = Field(
        default=1024 * 2**20, gt=0, description="HTTP request bodies held at once, all models"
    )
    grpc_max_concurrent_rpcs: int = Field(
        default=128, gt=0, description="gRPC calls held at once; more get UNAVAILABLE"
    )
