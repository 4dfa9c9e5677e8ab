"""Weaver-style input standardisation of the boosted tagger, fitted on training jets.

The inputs themselves (:data:`~analysis.constituents.PARTICLE_FEATURES`,
:data:`~analysis.constituents.JET_FEATURES`) are made by :mod:`analysis.constituents`.
"""

from __future__ import annotations

import numpy as np

from analysis.constituents import JET_FEATURES, PARTICLE_FEATURES


def _standardisation(name: str, x: np.ndarray, fixed: bool) -> dict[str, float]:
    if fixed or x.size == 0:
        med, norm = 0.0, 1.0
    else:
        lo, med, hi = np.percentile(x, [16, 50, 84])
        norm = 1.0 / max((hi - lo) / 2.0, 1e-3)
    return {
        "name": name,
        "median": float(med),
        "norm_factor": float(norm),
        "lower_bound": -5.0,
        "upper_bound": 5.0,
    }


def fit_jet_preprocessing(jet_features: np.ndarray) -> list[dict[str, float]]:
    """Weaver-style standardisation (median, 1 / half 16-84 % width, clip +-5) per jet feature."""
    return [
        _standardisation(name, jet_features[:, k].astype(np.float64), fixed=False)
        for k, (name, _m, _u) in enumerate(JET_FEATURES)
    ]


def fit_preprocessing(features: np.ndarray, mask: np.ndarray) -> list[dict[str, float]]:
    """Weaver-style auto standardisation per feature over real (unpadded) particles.

    median and norm_factor = 1 / (half the 16-84 % interval); binary and charge features
    keep median 0, norm 1. Values are clipped to [-5, 5] after scaling.
    """
    real = mask[:, 0, :] > 0
    return [
        _standardisation(
            name, features[:, k, :][real], fixed=name.startswith("is_") or name == "charge"
        )
        for k, (name, _meaning, _units) in enumerate(PARTICLE_FEATURES)
    ]
