"""Small settings and toy tables for the ABCDnn tests (single thread, short trainings)."""

from __future__ import annotations

import pytest
import torch

from analysis.abcdnn.settings import ABCDnnSettings


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fast_settings() -> ABCDnnSettings:
    """Settings for quick trainings: small batches, few steps, no bootstrap."""
    return ABCDnnSettings(batch_size=128, max_steps=150, epochs=100, ensemble_size=3,
                          bootstrap=False, learning_rate=2e-2)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: full-chain tests that take minutes")
