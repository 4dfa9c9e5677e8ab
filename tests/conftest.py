"""Shared pytest fixtures: the reference data beside the checkout, skipped cleanly when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder ``../shared/data`` (real CMS NanoAOD and corrections); skip if absent."""
    if not (SHARED_DATA / "nanoaod").is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def generated_ttbar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated tt̄ file (3000 events, seed 3), made once for the whole session."""
    from simulation import SampleSpec, generate_dataset

    spec = SampleSpec(process="ttbar", n_events=3000, seed=3, n_files=1)
    return generate_dataset(spec, tmp_path_factory.mktemp("ttbar"), luminosity_fb=1.0)[0]


@pytest.fixture(scope="session")
def nanoaod_dir(shared_data: Path) -> Path:
    """The folder of real NanoAOD test files."""
    return shared_data / "nanoaod"
