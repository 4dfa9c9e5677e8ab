"""The extrapolation variation: the signal cell's simulation through the validation grid's
maps (its own standardization and target condition), applied as a shape-only variation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.abcdnn.ensemble import GridEnsemble
from analysis.abcdnn.inputs import prepare_grid
from analysis.abcdnn.regions import TARGET
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.shapes import template_shape
from analysis.abcdnn.templates import (
    Template,
    apply_extrapolation,
    histogram,
    shorter_extrapolation_shape,
)
from analysis.abcdnn.training import TrainingResult


def _template(nominal) -> Template:
    nominal = [float(v) for v in nominal]
    return Template(region="nj9p_nb3p", variable="dnn_score", edges=[0.0, 0.3, 0.6, 1.0],
                    nominal=nominal, stat_unc=[0.0] * 3, ensemble_up=nominal,
                    ensemble_down=nominal, members=[nominal], normalization={})


def test_up_is_the_alternative_shape_down_its_mirror():
    t = apply_extrapolation(_template([50.0, 30.0, 20.0]), np.array([0.4, 0.3, 0.3]))
    np.testing.assert_allclose(t.extrapolation_up, [40.0, 30.0, 30.0])
    # δ = (-0.2, 0, +0.5): down = (60, 30, 10), already 100 in total
    np.testing.assert_allclose(t.extrapolation_down, [60.0, 30.0, 10.0])
    same = apply_extrapolation(_template([50.0, 30.0, 20.0]), np.array([0.5, 0.3, 0.2]))
    np.testing.assert_allclose(same.extrapolation_up, same.nominal)


def test_enters_the_full_variance_and_the_shape_covariance():
    t = apply_extrapolation(_template([50.0, 30.0, 20.0]), np.array([0.4, 0.3, 0.3]))
    np.testing.assert_allclose(t.full_variance(), [100.0, 0.0, 100.0])  # (half-difference)²
    shape, cov = template_shape(t, nonclosure=False)
    delta = np.array([-0.1, 0.0, 0.1])
    np.testing.assert_allclose(cov, np.outer(delta, delta), atol=1e-12)


class _ShiftScore(torch.nn.Module):
    """A map that moves the standardized logit score by ``shift`` in every cell."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = torch.nn.Parameter(torch.tensor(shift), requires_grad=False)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return x + torch.stack([self.shift.expand(len(x)), torch.zeros(len(x))], 1)


def _table(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for n_jets in (6, 7, 8, 9, 10):
        for n_b in (2, 3):
            for process in ("ttbar", "data"):
                n = 400 * (1 + (process == "data"))
                rows.append(pd.DataFrame({
                    "process": process, "n_jets": n_jets, "n_b": n_b,
                    "dnn_score": rng.beta(1 + 0.3 * (n_jets - 6), 3, n),
                    "ht": rng.uniform(700, 2500, n), "weight": 1.0}))
    return pd.concat(rows, ignore_index=True)


def _ensemble(data, settings, shift: float) -> GridEnsemble:
    members = [TrainingResult(flow=_ShiftScore(shift), seed=k, steps=0) for k in range(2)]
    return GridEnsemble(data=data, settings=settings, members=members, abcd=None)


def test_the_validation_maps_act_in_their_own_standardized_units():
    settings = ABCDnnSettings(ensemble_size=2)
    table = _table(np.random.default_rng(3))
    validation = _ensemble(prepare_grid(table, settings.validation_grid, settings), settings, 0.5)
    signal = _ensemble(prepare_grid(table, settings.signal_grid, settings), settings, 0.0)
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    alt = shorter_extrapolation_shape(validation, signal, edges)
    # by hand: the signal target's simulation (≥9 jets, ≥3 b), its logit score moved by half
    # the validation grid's standard deviation of the logit score
    std = validation.data.standardizer.std[0]
    target = table[(table.process == "ttbar") & (table.n_jets >= 9) & (table.n_b >= 3)]
    score = np.clip(target.dnn_score.to_numpy(), 1e-6, 1 - 1e-6)
    moved = 1.0 / (1.0 + np.exp(-(np.log(score / (1 - score)) + 0.5 * std)))
    expected = histogram(moved, np.ones(len(moved)), np.asarray(edges))[0]
    np.testing.assert_allclose(alt, expected / expected.sum(), atol=2e-3)
    assert signal.data.mc.in_cell(TARGET).sum() == len(target)
    with pytest.raises(Exception, match="not morphed"):
        shorter_extrapolation_shape(validation, signal, edges, variable="n_jets")
