"""Ensemble members trained in spawned processes are the maps trained in this process."""

from __future__ import annotations

import torch

from analysis.abcdnn.ensemble import train_ensembles
from analysis.abcdnn.inputs import prepare_grid
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.toy import make_toy_features


def test_parallel_members_equal_sequential_ones() -> None:
    settings = ABCDnnSettings(ensemble_size=2, min_steps=5, max_steps=5, hidden=8)
    grids = {g.name: (prepare_grid(make_toy_features(g, n_mc=300, n_data=300), g, settings),
                      offset)
             for g, offset in ((settings.validation_grid, 0), (settings.signal_grid, 100))}
    sequential = train_ensembles(grids, settings)
    parallel = train_ensembles(grids, settings.model_copy(update={"processes": 2}))
    for name in grids:
        seeds = [m.seed for m in parallel[name].members]
        assert seeds == [m.seed for m in sequential[name].members]
        assert len(set(seeds)) == 2
        for a, b in zip(sequential[name].flows, parallel[name].flows, strict=True):
            for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
                assert torch.equal(pa, pb)
    # the two grids' members differ (different data and seeds): the comparison can fail
    first = [p.detach() for p in sequential["validation"].flows[0].parameters()]
    other = [p.detach() for p in sequential["signal"].flows[0].parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
