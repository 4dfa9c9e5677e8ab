"""How the processor adapts to the NanoAOD flavour of each input file (the ``inputs`` section).

Real NanoAOD differs between versions (Run 2 / Run 3, v9 ... v15, PFNano or not, TTree or
RNTuple). The processor's compatibility layer (``processors/compat.py``) detects each file's
flavour; these settings say what it may substitute and when it must stop instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class InputSettings(BaseModel):
    """Choices of the schema-compatibility layer; every substitution is listed in the summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    jet_id: Literal["auto", "stored", "recompute"] = Field(
        "auto", description="auto: the stored Jet_jetId bit where the file has it, else "
        "recomputed from energy fractions (NanoAOD v15); stored / recompute: always that")
    jet_id_criteria: str = Field(
        "jet_id_run3_puppi.yaml", description="jet-ID cuts in |eta| bins (YAML; relative "
        "paths from the corrections package)")
    boosted_fallbacks: list[str] = Field(
        default_factory=lambda: ["particleNet_TvsQCD", "particleNetWithMass_TvsQCD"],
        description="FatJet branches (without 'FatJet_') used as the boosted-top score when "
        "a file has no PF candidates, first present wins; none present: the boosted columns "
        "(and the DNN score that reads them) are marked missing for that file")
    require_runs_tree: bool = Field(
        False, description="stop when an MC file has no Runs tree instead of normalizing "
        "with the sum of genWeight of its events")
