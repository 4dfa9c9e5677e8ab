"""Small generated samples shared by the simulation tests (made once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation import GeneratorSettings, SampleSpec, generate_dataset


@pytest.fixture(scope="session")
def inclusive_ttbar(tmp_path_factory) -> Path:
    """Inclusive tt (no generator HT filter), 20k events, one file."""
    out = tmp_path_factory.mktemp("gen_ttbar")
    (path,) = generate_dataset(SampleSpec(process="ttbar", n_events=20_000, seed=3), out,
                               luminosity_fb=1.0, settings=GeneratorSettings(ht_filter_gev=0))
    return path


@pytest.fixture(scope="session")
def tttt_files(tmp_path_factory) -> list[Path]:
    """Filtered tttt, 2 files."""
    out = tmp_path_factory.mktemp("gen_tttt")
    return generate_dataset(SampleSpec(process="tttt", n_events=3000, seed=4, n_files=2), out,
                            luminosity_fb=1.0)
