"""Fixtures of the analysis tests."""

from __future__ import annotations

import pytest

from corrections.loader import Corrections, load_corrections


@pytest.fixture(scope="session")
def corr() -> Corrections:
    """The shipped synthetic correction payloads."""
    return load_corrections()
