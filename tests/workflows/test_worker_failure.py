"""A dask worker killed in the middle of a run: the run completes with the same histograms."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from processors.fourtops import FourTopsProcessor
from tests.helpers import tt_file_inputs
from workflows.cluster import ClusterSpec
from workflows.pipeline import run_processor

pytestmark = [pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning")]


class DiesOnceProcessor(FourTopsProcessor):
    """The worker process that first reaches entry 100 exits hard (as an OOM kill would)."""

    def __init__(self, *args, marker: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.marker = marker

    def process(self, events):
        if events.metadata["entrystart"] == 100 and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().process(events)


def test_killed_worker_is_survived_with_identical_histograms(nanoaod_dir, tmp_path,
                                                             monkeypatch):
    import workflows.pipeline as pipeline

    config, fileset, infos = tt_file_inputs(nanoaod_dir)
    reference = run_processor(config, fileset, infos, ClusterSpec("iterative", status=False), 25)

    marker = tmp_path / "killed"
    monkeypatch.setattr(pipeline, "FourTopsProcessor",
                        lambda *a, **k: DiesOnceProcessor(*a, marker=str(marker), **k))
    survived = run_processor(config, fileset, infos,
                             ClusterSpec("dask", workers=2, status=False, dashboard=False), 25)
    assert marker.is_file()  # a worker really died
    assert survived.events == reference.events == 200
    for name, h in reference.output["hists"].items():
        np.testing.assert_allclose(h.values(flow=True),
                                   survived.output["hists"][name].values(flow=True),
                                   rtol=1e-12, atol=0)
    for step, counts in reference.output["cutflow"]["tt"].items():
        assert survived.output["cutflow"]["tt"][step]["events"] == counts["events"], step
        assert survived.output["cutflow"]["tt"][step]["weighted"] == pytest.approx(
            counts["weighted"], rel=1e-12)
