"""ML columns in the processor: once per chunk for all variations, sliced right per variation."""

from __future__ import annotations

import awkward as ak
import numpy as np
from coffea.nanoevents import NanoEventsFactory

from analysis.config import load_config
from corrections import load_corrections
from processors.fourtops import DatasetInfo, FourTopsProcessor
from workflows.pipeline import PipelineSchema


class RecordingColumns:
    """An MLColumns whose boosted column is the event number, so misalignment shows."""

    def __init__(self) -> None:
        self.boosted_calls = 0
        self.calls = 0

    def boosted(self, events: ak.Array) -> dict[str, np.ndarray]:
        self.boosted_calls += 1
        return {"boosted_top_score_max": ak.to_numpy(events.event).astype(np.float64)}

    def variations(self, jet_sets, btag_wp) -> dict[str, dict[str, np.ndarray]]:
        self.calls += 1
        self.names = set(jet_sets)
        out = {}
        for name, (events, _, boosted) in jet_sets.items():
            event = ak.to_numpy(events.event).astype(np.float64)
            np.testing.assert_array_equal(boosted["boosted_top_score_max"], event)
            out[name] = {"boosted_top_score_max": boosted["boosted_top_score_max"],
                         "dnn_score": np.full(len(events), 0.5)}
        return out


def test_boosted_columns_computed_once_and_aligned_for_every_variation(generated_ttbar):
    config = load_config()
    paths = [generated_ttbar]
    events = NanoEventsFactory.from_root(
        {str(paths[0]): "Events"}, schemaclass=PipelineSchema, mode="virtual",
        metadata={"dataset": "ttbar", "filename": str(paths[0])},
    ).events()
    recorder = RecordingColumns()
    proc = FourTopsProcessor(config, {"ttbar": DatasetInfo("ttbar", "mc", "synthetic")},
                             corrections=load_corrections(config.corrections),
                             ml_columns=recorder)
    out = proc.process(events)
    assert recorder.boosted_calls == 1
    jet_variations = {"nominal", "JES_Total_up", "JES_Total_down", "JER_up", "JER_down"}
    # one call for every jet variation of the chunk (each model runs once per chunk)
    assert recorder.calls == 1 and recorder.names == jet_variations
    table = out["features"]["ttbar"][0]
    assert len(table["event"]) > 0
    np.testing.assert_array_equal(table["boosted_top_score_max"], table["event"])
    assert set(out["cutflow_variations"]["ttbar"]) >= jet_variations - {"nominal"}
