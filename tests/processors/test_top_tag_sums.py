"""The processor's top-tagger efficiency sums on generated tt̄ with the shipped taggers:
genuine tops are tagged far more often than the rest, and the sums change no other output."""

from __future__ import annotations

import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

from analysis.config import load_config
from analysis.ml_features import boosted_columns, ml_feature_columns_by_set
from analysis.publish.top_tag_efficiency import top_tag_maps
from processors.fourtops import DatasetInfo, FourTopsProcessor
from processors.ml import InferenceColumns, ml_columns_from_config
from workflows.pipeline import PipelineSchema


class WithoutCandidates(InferenceColumns):
    """The same ML columns without the per-candidate lists: what the processor got before."""

    def boosted(self, events):
        return boosted_columns(events, self.client, self.features)

    def variations(self, jet_sets, btag_wp):
        settings = self.features.model_copy(update={"btag_wp": btag_wp})
        return ml_feature_columns_by_set(jet_sets, self.client, settings)


def _events(path):
    return NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=PipelineSchema, mode="virtual",
        metadata={"dataset": "ttbar", "filename": str(path)}).events()


@pytest.fixture(scope="module")
def outputs(generated_ttbar):
    config = load_config()
    ml, _ = ml_columns_from_config(config)
    infos = {"ttbar": DatasetInfo("ttbar", "mc", "synthetic")}
    with_sums = FourTopsProcessor(config, infos, ml_columns=ml).process(_events(generated_ttbar))
    plain = FourTopsProcessor(config, infos, ml_columns=WithoutCandidates(ml.client, ml.features))
    return config, with_sums, plain.process(_events(generated_ttbar))


def _rate(m):
    """The tagged fraction over all bins with its binomial uncertainty (unit-like weights)."""
    n = m.candidates.sum()
    tagged = (m.efficiency * m.candidates).sum()
    eff = tagged / n
    return eff, np.sqrt(eff * (1 - eff) / n)


def test_genuine_tops_are_tagged_far_more_often_than_the_rest(outputs):
    config, out, _ = outputs
    features = config.ml.features
    maps = {(m.tagger, m.origin): m for m in top_tag_maps(
        out["top_tag_efficiency"], {"boosted": features.boosted_threshold,
                                    "resolved": features.resolved_threshold})}
    assert set(maps) == {("boosted", "top"), ("boosted", "partial"), ("boosted", "other"),
                         ("resolved", "matched"), ("resolved", "unmatched")}
    for tagger, genuine, fake in (("boosted", "top", "other"),
                                  ("resolved", "matched", "unmatched")):
        eff, eff_err = _rate(maps[tagger, genuine])
        mistag, mistag_err = _rate(maps[tagger, fake])
        assert eff > 0.3, (tagger, eff)
        assert mistag < 0.5 * eff, (tagger, eff, mistag)
        # well separated, not a fluctuation of a few candidates
        assert eff - mistag > 5 * np.hypot(eff_err, mistag_err), (tagger, eff, mistag)
    # every preselected event's scored trijets are counted: far more trijets than events
    trijets = sum(m.candidates.sum() for k, m in maps.items() if k[0] == "resolved")
    assert trijets > 10 * out["cutflow"]["ttbar"]["ht"]["weighted"]


def test_the_sums_change_no_other_output(outputs):
    _, out, plain = outputs
    assert sum(h.sum().value for h in plain["top_tag_efficiency"].values()) == 0.0
    assert out["cutflow"] == plain["cutflow"]
    for name, h in plain["hists"].items():
        np.testing.assert_array_equal(out["hists"][name].view(flow=True),
                                      h.view(flow=True))
    np.testing.assert_array_equal(out["yields"].view(flow=True), plain["yields"].view(flow=True))
    (table,), (before,) = out["features"]["ttbar"], plain["features"]["ttbar"]
    assert table.keys() == before.keys()
    for key, column in before.items():
        np.testing.assert_array_equal(table[key], column)
