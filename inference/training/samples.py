"""Training samples from the synthetic NanoAOD generator, preselected as the analysis does.

Each (sample, seed, size) is generated once into its own folder under a cache directory
(``simulation.generate_dataset`` reuses a folder whose manifest matches). The boosted-top
signal is generator tt̄ with a harder top-pT spectrum (``ttbar_boosted``), the QCD
training jets come from the generator's ``qcd`` with a harder leading-pair spectrum
(``qcd_boosted``); every other sample is the generator's process unchanged.

Event samples for the resolved tagger and the event DNN pass
:func:`analysis.selection.preselect_events`: the processor's own preselection (trigger,
lepton veto, jets with ID and the nominal jet corrections, N jets, N b, HT) with the
analysis configuration, so the models are trained on the phase space they are applied to.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import awkward as ak

from analysis.config import AnalysisConfig, load_config
from analysis.ml_features import MLFeatureSettings
from analysis.ml_settings import feature_settings
from analysis.selection import preselect_events
from corrections.loader import Corrections
from inference.training.dataset import read_nanoaod
from inference.training.settings import TrainingSettings

#: training-sample name -> generator process (``ttbar_boosted`` = tt̄ with harder tops)
GENERATED_NAME = {"ttbar_boosted": "ttbar", "qcd_boosted": "qcd"}


def generator_settings(process: str, settings: TrainingSettings):
    """``GeneratorSettings`` for a training sample (``ttbar_boosted``: harder top pT;
    ``qcd_boosted``: QCD with a harder leading-pair pT spectrum)."""
    from simulation.settings import GeneratorSettings

    gen = GeneratorSettings()
    if process == "qcd_boosted":
        return gen.model_copy(
            update={"qcd_leading_pt_power": settings.generated.boosted_qcd_pt_power}
        )
    if process != "ttbar_boosted":
        return gen
    procs = dict(gen.processes)
    procs["ttbar"] = procs["ttbar"].model_copy(
        update={"top_pt_scale_gev": settings.generated.boosted_top_pt_scale_gev}
    )
    return gen.model_copy(update={"processes": procs})


@contextmanager
def sample_dir(data_dir: Path | None) -> Iterator[Path]:
    """``data_dir``, or a temporary folder (removed afterwards) when it is None."""
    if data_dir is not None:
        yield Path(data_dir)
        return
    with tempfile.TemporaryDirectory(prefix="fourtops-train-") as tmp:
        yield Path(tmp)


def generate_sample(
    process: str, n_events: int, seed: int, settings: TrainingSettings, data_dir: Path
) -> tuple[list[Path], dict[str, Any]]:
    """Generate (or reuse) one training sample; its files and the generator manifest."""
    from simulation import generate_dataset
    from simulation.settings import SampleSpec

    proc = GENERATED_NAME.get(process, process)
    out = Path(data_dir) / f"{process}_seed{seed}_n{n_events}"
    spec = SampleSpec(process=proc, n_events=n_events, seed=seed)
    files = generate_dataset(
        spec,
        out,
        luminosity_fb=settings.generated.luminosity_fb,
        settings=generator_settings(process, settings),
    )
    manifest = json.loads((out / f"{proc}.manifest.json").read_text())
    return files, manifest


def load_sample(
    process: str, n_events: int, seed: int, settings: TrainingSettings,
    data_dir: Path | None = None,
) -> ak.Array:
    """All generated events of ``process`` in the NanoAOD layout (cached under ``data_dir``)."""
    with sample_dir(data_dir) as d:
        files, _ = generate_sample(process, n_events, seed, settings, d)
        return ak.concatenate([read_nanoaod(f) for f in files])


def process_weight(process: str, n_generated: int, settings: TrainingSettings) -> float:
    """Per-event weight xsec * lumi / N_generated (generator cross section, pb -> fb)."""
    from simulation.settings import GeneratorSettings

    xsec_fb = GeneratorSettings().processes[process].xsec_pb * 1000.0
    return xsec_fb * settings.generated.luminosity_fb / max(n_generated, 1)


class AnalysisSelection:
    """The analysis settings a training sample is preselected with (default config)."""

    def __init__(self, config: AnalysisConfig | None = None, era: str = "synthetic") -> None:
        self.config = config or load_config(None)
        self.era = era
        self._corrections: Corrections | None = None

    @property
    def corrections(self) -> Corrections | None:
        """The config's correction payloads (loaded once), None without a corrections section."""
        if self._corrections is None and self.config.corrections is not None:
            from corrections import load_corrections

            self._corrections = load_corrections(self.config.corrections)
        return self._corrections

    @property
    def features(self) -> MLFeatureSettings:
        """ML feature settings as the processor uses them for this era."""
        return feature_settings(self.config, self.era)

    def preselect(self, events: ak.Array) -> tuple[ak.Array, ak.Array]:
        """Events passing the analysis preselection and their selected jets."""
        return preselect_events(events, self.config, self.era, self.corrections)


def preselected_sample(
    process: str,
    n_events: int,
    seed: int,
    settings: TrainingSettings,
    selection: AnalysisSelection,
    data_dir: Path,
) -> tuple[ak.Array, ak.Array, float]:
    """Preselected events of a generated sample, their jets, and the per-event weight."""
    files, manifest = generate_sample(process, n_events, seed, settings, data_dir)
    events, jets = selection.preselect(ak.concatenate([read_nanoaod(f) for f in files]))
    return events, jets, process_weight(process, manifest["n_generated"], settings)


def samples_card(
    parts: dict[str, tuple[int, int]],
    settings: TrainingSettings,
    held_out: dict[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """The ``training_samples`` entry of a model card: samples, seeds, split, generator."""
    card: dict[str, Any] = {
        "source": "generated",
        "samples": {p: {"n_events": n, "seed": s} for p, (n, s) in parts.items()},
        "split": "held-out events by hash of event number (taggers); parity folds (DNN)",
        "generator": {
            "package": "simulation.generate_dataset",
            "ttbar_boosted": "generator ttbar with top_pt_scale_gev = "
            f"{settings.generated.boosted_top_pt_scale_gev:g}",
        },
    }
    if held_out:
        card["held_out_samples"] = {p: {"n_events": n, "seed": s} for p, (n, s) in held_out.items()}
        card["split"] = "independent held-out samples (other seeds)"
    if "qcd_boosted" in parts:
        card["generator"]["qcd_boosted"] = (
            "generator qcd with qcd_leading_pt_power = "
            f"{settings.generated.boosted_qcd_pt_power:g} (default spectrum for held-out qcd)"
        )
    return card
