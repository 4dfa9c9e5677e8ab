"""Same histograms whatever runs the chunks: executors, worker counts and chunk sizes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import tt_file_inputs
from workflows.cluster import ClusterSpec
from workflows.pipeline import run_processor

pytestmark = [pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning")]


def test_iterative_futures_and_dask_with_other_chunks_and_workers_agree(nanoaod_dir):
    config, fileset, infos = tt_file_inputs(nanoaod_dir)
    runs = {
        "iterative, 1 chunk": (ClusterSpec("iterative", status=False), 200),
        "iterative, 8 chunks": (ClusterSpec("iterative", status=False), 25),
        "futures, 2 workers": (ClusterSpec("futures", workers=2, status=False), 60),
        "dask, 1 worker": (ClusterSpec("dask", workers=1, status=False, dashboard=False), 70),
    }
    results = {name: run_processor(config, fileset, infos, spec, chunk)
               for name, (spec, chunk) in runs.items()}
    reference = results.pop("iterative, 1 chunk")
    assert reference.output["hists"]["ht"].sum(flow=True).value > 0
    for name, result in results.items():
        assert result.events == reference.events, name
        for hist_name, h in reference.output["hists"].items():
            other = result.output["hists"][hist_name]
            # the same events and weights; sums differ only in the order of chunk addition
            np.testing.assert_allclose(other.values(flow=True), h.values(flow=True),
                                       rtol=1e-12, atol=0, err_msg=f"{name}: {hist_name}")
            np.testing.assert_allclose(other.variances(flow=True), h.variances(flow=True),
                                       rtol=1e-12, atol=0, err_msg=f"{name}: {hist_name}")
        for step, counts in reference.output["cutflow"]["tt"].items():
            assert result.output["cutflow"]["tt"][step]["events"] == counts["events"]
