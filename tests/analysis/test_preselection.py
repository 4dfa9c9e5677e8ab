"""The training samples' preselection is the processor's: same events, same jets."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

from analysis.config import load_config
from analysis.selection import preselect_events
from common.exceptions import ConfigError
from corrections import load_corrections
from inference.training.dataset import read_nanoaod
from inference.training.samples import AnalysisSelection
from processors.fourtops import DatasetInfo, FourTopsProcessor
from workflows.pipeline import PipelineSchema


def _processor_rows(config, path) -> dict[str, np.ndarray]:
    events = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PipelineSchema, mode="virtual",
        metadata={"dataset": "ttbar", "filename": str(path)},
    ).events()
    proc = FourTopsProcessor(config, {"ttbar": DatasetInfo("ttbar", "mc", "synthetic")},
                             corrections=load_corrections(config.corrections))
    parts = proc.process(events)["features"]["ttbar"]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def test_training_preselection_is_the_processor_preselection(generated_ttbar):
    config = load_config()
    rows = _processor_rows(config, generated_ttbar)
    ev, jets = AnalysisSelection(config).preselect(read_nanoaod(generated_ttbar))
    assert len(rows["event"]) > 50
    np.testing.assert_array_equal(ak.to_numpy(ev.event), rows["event"])
    np.testing.assert_array_equal(ak.to_numpy(ak.num(jets)), rows["n_jets"])
    np.testing.assert_array_equal(ak.to_numpy(ak.sum(jets.pt, axis=1)), rows["ht"])
    lead = ak.to_numpy(ak.fill_none(ak.pad_none(jets.pt, 8, clip=True), 0.0))
    for i in range(8):
        np.testing.assert_array_equal(lead[:, i], rows[f"jet{i + 1}_pt"])


def test_training_preselection_applies_jet_id_and_lepton_veto(generated_ttbar):
    """The sample holds jets that fail only the ID and events with a veto lepton, so the
    equality above would break without either cut."""
    config = load_config()
    ev = read_nanoaod(generated_ttbar)
    kinematic = (ev.Jet.pt > config.jets.pt_min) & (abs(ev.Jet.eta) < config.jets.abs_eta_max)
    assert ak.sum(kinematic & ((ev.Jet.jetId & config.jets.jet_id_bit) == 0)) > 0
    _, jets = preselect_events(ev, config, "synthetic")
    assert ak.all((jets.jetId & config.jets.jet_id_bit) != 0)
    loose = config.model_copy(update={"leptons": config.leptons.model_copy(
        update={"pt_min": 1e9})})
    assert len(preselect_events(ev, loose, "synthetic")[0]) > len(
        preselect_events(ev, config, "synthetic")[0])


def test_unknown_era_is_rejected():
    with pytest.raises(ConfigError, match="era 'run9'"):
        preselect_events(ak.Array([]), load_config(), "run9")
