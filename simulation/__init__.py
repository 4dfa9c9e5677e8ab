"""Synthetic CMS NanoAOD for the all-hadronic four-top search (see simulation.api)."""

from simulation.api import generate_dataset
from simulation.settings import (
    RUN2_LUMINOSITY_FB,
    GeneratorSettings,
    SampleSpec,
    TruthModelSettings,
)
from simulation.truth import certified_lumi_json, write_certified_lumi_json

__all__ = [
    "RUN2_LUMINOSITY_FB",
    "GeneratorSettings",
    "SampleSpec",
    "TruthModelSettings",
    "certified_lumi_json",
    "generate_dataset",
    "write_certified_lumi_json",
]
