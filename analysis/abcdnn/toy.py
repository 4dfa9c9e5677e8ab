"""Toy feature tables for tests and benchmarks of the ABCDnn method.

"Simulation" in every cell of a grid is a correlated Gaussian in (logit score, log HT);
"data" is the same distribution after a shift and scale that depend on the N jets bin j
and the N b bin b additively (so a factorized conditioning can learn it from the control
cells), plus a "signal" component that is also provided as weighted simulation to be
subtracted. Nothing here is physics; it is a controlled check of the machinery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.abcdnn.regions import ALL_CELLS
from analysis.abcdnn.settings import GridSpec


@dataclass(frozen=True)
class ToyShape:
    """Data = simulation shifted by ``shift0 + shift_j*j + shift_b*b`` and scaled by
    ``exp(log_scale_j*j + log_scale_b*b)`` (per variable, in (logit, log HT))."""

    shift0: tuple[float, float] = (0.3, 0.05)
    shift_j: tuple[float, float] = (0.25, 0.04)
    shift_b: tuple[float, float] = (0.35, 0.03)
    log_scale_j: tuple[float, float] = (0.08, 0.05)
    log_scale_b: tuple[float, float] = (0.10, 0.0)


def _mc_mean(j: int, b: int) -> np.ndarray:
    return np.array([-1.0 + 0.3 * j + 0.2 * b, np.log(900.0) + 0.06 * j])


def _mc_z(rng: np.random.Generator, n: int, j: int, b: int) -> np.ndarray:
    cov = np.array([[1.0, 0.05], [0.05, 0.04]])
    return rng.multivariate_normal(_mc_mean(j, b), cov, n)


def _to_data(z: np.ndarray, j: int, b: int, shape: ToyShape) -> np.ndarray:
    shift = np.array(shape.shift0) + np.array(shape.shift_j) * j + np.array(shape.shift_b) * b
    scale = np.exp(np.array(shape.log_scale_j) * j + np.array(shape.log_scale_b) * b)
    centre = _mc_mean(j, b)
    return centre + (z - centre) * scale + shift


def make_toy_features(
    grid: GridSpec,
    *,
    n_mc: int = 4000,
    n_data: int = 3000,
    signal_fraction: float = 0.1,
    shape: ToyShape | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """A feature table with processes ``ttbar`` (weighted MC), ``tttt`` and ``data``.

    Per cell: ``n_mc`` simulated ttbar events (total weight = expected background
    ``n_data``), about ``n_data`` background-like data events plus a signal that makes up
    ``signal_fraction`` of the data and is also given as simulation with 4x the events.
    """
    shape = shape or ToyShape()
    rng = np.random.default_rng(seed)
    frames = []
    for j, b in ALL_CELLS:
        nj, nb = grid.n_jets[j], grid.n_b[b]
        n_sig = rng.poisson(signal_fraction * n_data)
        n_bkg = rng.poisson(n_data)
        mc = _mc_z(rng, n_mc, j, b)
        # Data background: fresh simulation-like draws mapped by the true transform.
        bkg = _to_data(_mc_z(rng, n_bkg, j, b), j, b, shape)
        sig_mean = np.array([1.5, np.log(1300.0)])
        sig_cov = np.array([[0.5, 0.0], [0.0, 0.03]])
        sig_data = rng.multivariate_normal(sig_mean, sig_cov, n_sig)
        n_sig_mc = 4 * max(n_sig, 1)
        sig_mc = rng.multivariate_normal(sig_mean, sig_cov, n_sig_mc)
        for process, z, w in [
            ("ttbar", mc, np.full(n_mc, n_data / n_mc)),
            ("data", np.concatenate([bkg, sig_data]), np.ones(n_bkg + n_sig)),
            ("tttt", sig_mc, np.full(n_sig_mc, signal_fraction * n_data / n_sig_mc)),
        ]:
            frames.append(pd.DataFrame({
                "process": process,
                "kind": "data" if process == "data" else "mc",
                "weight": w,
                "n_jets": np.full(len(z), nj, dtype=np.int64),
                "n_b": np.full(len(z), nb, dtype=np.int64),
                "dnn_score": 1.0 / (1.0 + np.exp(-z[:, 0])),
                "ht": np.exp(z[:, 1]),
            }))
    return pd.concat(frames, ignore_index=True)
