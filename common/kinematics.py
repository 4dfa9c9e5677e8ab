"""Small angular numerics shared by the generator, the analysis and the training code."""

from __future__ import annotations

import numpy as np


def wrap_phi(phi) -> np.ndarray:
    """Angle folded into [-pi, pi): ``np.mod(phi + pi, 2 pi) - pi``, bit for bit.

    For x = phi + pi already in [0, 2 pi) the modulo returns x exactly, so only the few
    out-of-range entries go through ``np.mod``.
    """
    x = np.add(phi, np.pi)
    if not isinstance(x, np.ndarray) or x.ndim == 0:  # scalars, awkward arrays
        return np.mod(x, 2.0 * np.pi) - np.pi
    bad = (x < 0.0) | (x >= 2.0 * np.pi)
    if bad.any():
        x[bad] = np.mod(x[bad], 2.0 * np.pi)
    x -= np.pi
    return x


def delta_phi(phi1, phi2) -> np.ndarray:
    """phi1 - phi2 wrapped into [-pi, pi)."""
    return wrap_phi(np.subtract(phi1, phi2))


def delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    """Angular distance hypot(delta eta, delta phi), delta phi wrapped into [-pi, pi).

    Works on numpy and awkward arrays alike.
    """
    return np.hypot(np.subtract(eta1, eta2), delta_phi(phi1, phi2))
