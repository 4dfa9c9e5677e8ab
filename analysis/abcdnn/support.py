"""Where the map is trained vs where it is applied: the DNN-score support of a grid.

The map is trained on the data of the five control cells and applied to the simulation of
the target cell, which reaches higher DNN scores than its neighbours. On the default run's
samples (1 fb^-1) the highest fit bin (score > 0.97) holds 5 % of the signal-region
simulation but only ~50 control-cell data events (~31,000 in the lowest bin), so there the
map is extrapolated in the score itself, not only from cell to cell, and the training does
not constrain it. :func:`score_support` counts both per bin so that the run says which bins
rest on such an extrapolation. (It does not explain all of the signal cell's DNN-shape
non-closure in the truth check: that starts at scores ~0.6, where the control cells do have
data: there the truth's correction of the simulation in the target cell is not the one the
control cells imply.)
"""

from __future__ import annotations

import numpy as np

from analysis.abcdnn.inputs import GridData
from analysis.abcdnn.regions import TARGET
from analysis.abcdnn.templates import histogram

#: Control-cell data events a fit bin needs before the map is called trained there: with
#: fewer, the MMD cannot resolve the morph's effect in that bin to ~10 %.
MIN_CONTROL_EVENTS = 100


def score_support(data: GridData, edges: list[float]) -> dict[str, list]:
    """Per DNN-score bin: control-cell data events, target-cell simulation events, and
    the bins with fewer than :data:`MIN_CONTROL_EVENTS` control events (``extrapolated``,
    indices) with the fraction of the target's simulation (weighted) they hold."""
    edges_a = np.asarray(edges, dtype=np.float64)
    target = data.target
    control = data.target_is_data & ~target.in_cell(TARGET)
    control_counts = histogram(target.score[control], np.ones(int(control.sum())), edges_a)[0]
    in_target = data.mc.in_cell(TARGET)
    sim = histogram(data.mc.score[in_target], data.mc.weight[in_target], edges_a)[0]
    sim_counts = histogram(data.mc.score[in_target], np.ones(int(in_target.sum())), edges_a)[0]
    thin = np.flatnonzero(control_counts < MIN_CONTROL_EVENTS)
    fraction = float(sim[thin].sum() / sim.sum()) if sim.sum() > 0 else 0.0
    return {"control_data_events": control_counts.astype(int).tolist(),
            "target_simulation_events": sim_counts.astype(int).tolist(),
            "extrapolated_bins": thin.tolist(),
            "extrapolated_fraction": fraction}
