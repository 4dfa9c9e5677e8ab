"""Training of the map: deterministic for a seed; the factorized conditions extrapolate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.abcdnn.inputs import prepare_grid
from analysis.abcdnn.regions import TARGET
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.toy import make_toy_features
from analysis.abcdnn.training import morph, train_map


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w[:, None] * x).sum(axis=0) / w.sum()


def test_same_seed_same_map_other_seed_other_map(fast_settings: ABCDnnSettings) -> None:
    settings = fast_settings.model_copy(update={"max_steps": 15})
    data = prepare_grid(make_toy_features(settings.validation_grid, n_mc=600, n_data=600),
                        settings.validation_grid, settings)
    first = train_map(data, settings, seed=5, bootstrap=True)
    second = train_map(data, settings, seed=5, bootstrap=True)
    other = train_map(data, settings, seed=6, bootstrap=True)
    for a, b in zip(first.flow.parameters(), second.flow.parameters(), strict=True):
        assert torch.equal(a, b)
    assert first.losses == second.losses
    assert any(not torch.equal(a, b) for a, b in
               zip(first.flow.parameters(), other.flow.parameters(), strict=True))


@pytest.fixture(scope="module")
def toy_grid(fast_settings: ABCDnnSettings):
    grid = fast_settings.validation_grid
    table = make_toy_features(grid, n_mc=2500, n_data=2500, signal_fraction=0.1, seed=3)
    return table, grid


def _target_offset(table, grid, settings: ABCDnnSettings) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of morphed - target in the held-out cell, and raw - target."""
    data = prepare_grid(table, grid, settings)
    flow = train_map(data, settings, seed=1).flow
    mc = data.mc.in_cell(TARGET)
    tg = data.target.in_cell(TARGET)
    target = _weighted_mean(data.target.x[tg], data.target.weight[tg])
    morphed = morph(flow, data.mc.x[mc], data.mc.cells[mc], settings.encoding)
    return (_weighted_mean(morphed, data.mc.weight[mc]) - target,
            _weighted_mean(data.mc.x[mc], data.mc.weight[mc]) - target)


def test_factorized_conditions_extrapolate_where_joint_cannot(toy_grid, fast_settings) -> None:
    """The toy's data/MC shift is additive in the N jets and N b bins; the held-out cell is
    reached only through the factorized one-hot, never seen as a joint one-hot."""
    table, grid = toy_grid
    factorized, raw = _target_offset(table, grid, fast_settings)
    joint, _ = _target_offset(table, grid, fast_settings.model_copy(update={"encoding": "joint"}))
    assert np.all(np.abs(raw) > 0.6)  # the toy's shift in the target cell (standardized)
    assert np.all(np.abs(factorized) < 0.15)
    assert np.max(np.abs(joint)) > 0.3


def test_signal_region_data_is_never_used(fast_settings: ABCDnnSettings) -> None:
    """Changing the data in the target cell changes neither the map nor the normalization."""
    from analysis.abcdnn.ensemble import abcd_estimate

    settings = fast_settings.model_copy(update={"max_steps": 5})
    grid = settings.signal_grid
    table = make_toy_features(grid, n_mc=300, n_data=300, seed=4)
    in_target = (table.n_jets >= 9) & (table.n_b >= 3) & (table.process == "data")
    changed = table.copy()
    changed.loc[in_target, "dnn_score"] = 0.99
    changed.loc[in_target, "ht"] *= 3
    maps, norms = [], []
    for t in (table, changed):
        data = prepare_grid(t, grid, settings)
        maps.append(train_map(data, settings, seed=2).flow)
        norms.append(abcd_estimate(data).value)
    for a, b in zip(maps[0].parameters(), maps[1].parameters(), strict=True):
        assert torch.equal(a, b)
    assert norms[0] == norms[1]


def test_training_runs_with_configured_threads_and_restores_them(
    fast_settings: ABCDnnSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analysis.abcdnn import training

    seen = []
    real = training._train_map
    monkeypatch.setattr(training, "_train_map",
                        lambda *a: seen.append(torch.get_num_threads()) or real(*a))
    settings = fast_settings.model_copy(update={"max_steps": 2, "min_steps": 1, "threads": 1})
    data = prepare_grid(make_toy_features(settings.validation_grid, n_mc=200, n_data=200),
                        settings.validation_grid, settings)
    torch.set_num_threads(2)
    train_map(data, settings, seed=0)
    assert seen == [1]
    assert torch.get_num_threads() == 2


def test_subtracted_signal_strength_scales_only_the_signal(fast_settings) -> None:
    """A simulation that predicts a third of the signal in data, subtracted at μ = 3, gives the
    same data-minus-simulation target as the right prediction at μ = 1; the other subtracted
    processes keep their weights."""
    from analysis.abcdnn.ensemble import abcd_estimate

    grid = fast_settings.signal_grid
    table = make_toy_features(grid, n_mc=200, n_data=400, signal_fraction=0.2, seed=5)
    minor = table[table.process == "tttt"].assign(process="ttW")
    table = pd.concat([table, minor], ignore_index=True)
    low = table.copy()
    low.loc[low.process == "tttt", "weight"] /= 3.0
    right = prepare_grid(table, grid, fast_settings)
    at_three = prepare_grid(low, grid, fast_settings.model_copy(
        update={"subtracted_signal_strength": 3.0}))
    at_one = prepare_grid(low, grid, fast_settings)
    np.testing.assert_allclose(at_three.target.weight, right.target.weight)
    assert abcd_estimate(at_three).value == pytest.approx(abcd_estimate(right).value)
    # At μ = 1 the under-predicted signal stays in the target and raises the estimate.
    assert abcd_estimate(at_one).value > 1.03 * abcd_estimate(right).value
    # ... by about the recorded leakage per unit μ times the two units left in the data (the
    # derivative at either end: N_D is not linear in the yields, this signal is 20 %)
    leaks = [abcd_estimate(d).signal_leakage for d in (at_one, at_three)]
    assert leaks[0] == pytest.approx(leaks[1], rel=0.05)
    assert abcd_estimate(at_one).value - abcd_estimate(at_three).value == pytest.approx(
        2.0 * np.mean(leaks), rel=0.02)
    assert at_one.subtracted_signal_strength == 1.0
    assert at_three.subtracted_signal_strength == 3.0


def test_subtracted_signal_strength_needs_a_subtracted_signal() -> None:
    with pytest.raises(ValueError, match="signal_process 'tttt' is not among"):
        ABCDnnSettings(subtract_processes=["ttW"], subtracted_signal_strength=2.0)
