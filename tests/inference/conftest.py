"""Fixtures: a temporary Triton-layout repository holding small test models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference.repository import write_model
from tests.inference.onnx_models import MLP_MAX_BATCH, graph_model, linear_model, mlp_model


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with ``mlp`` (max batch 256), ``graphnet`` and ``linear``."""
    torch.set_num_threads(1)
    repo = tmp_path_factory.mktemp("models")
    write_model(
        repo, "mlp", mlp_model(), max_batch_size=MLP_MAX_BATCH, max_queue_delay_microseconds=2000
    )
    write_model(repo, "graphnet", graph_model(), max_batch_size=64)
    write_model(repo, "linear", linear_model(), max_batch_size=100_000)
    return repo


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator."""
    return np.random.default_rng(7)
