"""The DNN-score support: bins where the control cells hold too few data events for the
map to be trained there are named, with the share of the target's simulation in them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.abcdnn.inputs import prepare_grid
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.support import MIN_CONTROL_EVENTS, score_support


def _table(rng: np.random.Generator) -> pd.DataFrame:
    """Validation grid (6/7/8 jets x 2/≥3 b): control-cell data and simulation with scores
    below 0.5 only; the target cell's simulation uniform in [0, 1)."""
    rows = []
    cells = [(6, 2), (7, 2), (8, 2), (6, 3), (7, 3)]
    for n_jets, n_b in cells:
        for process, n in (("data", 2000), ("ttbar", 500)):
            rows.append(pd.DataFrame({"process": process, "n_jets": n_jets, "n_b": n_b,
                                      "dnn_score": rng.uniform(0.0, 0.5, n),
                                      "ht": rng.uniform(700, 2000, n), "weight": 1.0}))
    rows.append(pd.DataFrame({"process": "ttbar", "n_jets": 8, "n_b": 3,
                              "dnn_score": rng.uniform(0.0, 1.0, 1000),
                              "ht": rng.uniform(700, 2000, 1000), "weight": 2.0}))
    # a few control-cell data events high up: fewer than the threshold in each bin
    rows.append(pd.DataFrame({"process": "data", "n_jets": 7, "n_b": 3,
                              "dnn_score": np.full(MIN_CONTROL_EVENTS - 1, 0.95),
                              "ht": 1000.0, "weight": 1.0}))
    return pd.concat(rows, ignore_index=True)


def test_bins_without_control_data_are_named():
    settings = ABCDnnSettings(fit_bins=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
    data = prepare_grid(_table(np.random.default_rng(1)), settings.validation_grid, settings)
    support = score_support(data, settings.fit_bins)
    assert support["extrapolated_bins"] == [2, 3, 4]
    assert support["control_data_events"][4] == MIN_CONTROL_EVENTS - 1
    assert sum(support["control_data_events"][:2]) == 5 * 2000
    assert sum(support["target_simulation_events"]) == 1000
    # uniform target simulation: the three bins above 0.5 hold half of it
    assert abs(support["extrapolated_fraction"] - 0.5) < 0.05
