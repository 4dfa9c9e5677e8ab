"""Vectorized four-vector kinematics on numpy arrays (any shape, last axis not special).

Four-vectors are tuples ``(px, py, pz, E)`` of arrays in GeV. Everything here works
element-wise, so a whole batch of events (and of particles per event) is handled at once.
"""

from __future__ import annotations

import numpy as np

FourVec = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def from_ptetaphim(pt, eta, phi, mass) -> FourVec:
    """Cartesian four-vector from collider coordinates."""
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    e = px * px + py * py + pz * pz + mass * mass
    return px, py, pz, np.sqrt(e, out=e) if isinstance(e, np.ndarray) else np.sqrt(e)


def from_ptyphim(pt, y, phi, mass) -> FourVec:
    """Cartesian four-vector from pT, rapidity y, phi and mass."""
    mt = np.sqrt(pt * pt + mass * mass)
    return pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)


def to_ptetaphim(px, py, pz, e, *, eta: bool = True, phi: bool = True, mass: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collider coordinates (pt, eta, phi, mass) of Cartesian four-vectors.

    The mass is clipped at zero against rounding; eta is finite for pt > 0. Components
    switched off with ``eta=False`` / ``phi=False`` / ``mass=False`` are returned as None
    (saves their transcendental functions where a caller does not need them).
    """
    pt = np.hypot(px, py)
    out_eta = out_phi = out_mass = None
    if eta:
        ok = pt > 0
        out_eta = np.divide(pz, pt, out=np.zeros(np.shape(pt), np.result_type(pz, pt)),
                            where=ok)
        np.arcsinh(out_eta, out=out_eta)
    if phi:
        out_phi = np.arctan2(py, px)
    if mass:
        out_mass = mass_of(px, py, pz, e)
    return pt, out_eta, out_phi, out_mass


def mass_of(px, py, pz, e) -> np.ndarray:
    """Invariant mass (clipped at 0)."""
    return np.sqrt(np.clip(e * e - px * px - py * py - pz * pz, 0.0, None))


def boost(p: FourVec, parent: FourVec) -> FourVec:
    """Boost ``p`` given in the rest frame of ``parent`` into the frame where parent is ``parent``.

    Standard Lorentz boost with beta = p_parent / E_parent.
    """
    ppx, ppy, ppz, pe = parent
    m = mass_of(ppx, ppy, ppz, pe)
    m = np.where(m > 0, m, 1e-9)
    bx, by, bz = ppx / pe, ppy / pe, ppz / pe
    gamma = pe / m
    px, py, pz, e = p
    bp = bx * px + by * py + bz * pz
    b2 = bx * bx + by * by + bz * bz
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = np.where(b2 > 0, (gamma - 1.0) / b2, 0.0)
    fac = g2 * bp + gamma * e
    return px + fac * bx, py + fac * by, pz + fac * bz, gamma * (e + bp)


def two_body_momentum(m: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Daughter momentum in the rest frame of a particle of mass m decaying to m1 + m2."""
    lam = (m * m - (m1 + m2) ** 2) * (m * m - (m1 - m2) ** 2)
    return np.sqrt(np.clip(lam, 0.0, None)) / (2.0 * m)


def isotropic_decay(
    rng: np.random.Generator, parent: FourVec, m1: np.ndarray, m2: np.ndarray
) -> tuple[FourVec, FourVec]:
    """Decay ``parent`` isotropically (in its rest frame) into daughters of masses m1, m2.

    Returns the two daughters in the lab frame; their sum equals the parent exactly.
    """
    shape = np.shape(parent[0])
    m = mass_of(*parent)
    p = two_body_momentum(m, m1, m2)
    cos_t = rng.uniform(-1.0, 1.0, shape)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    phi = rng.uniform(-np.pi, np.pi, shape)
    dx, dy, dz = p * sin_t * np.cos(phi), p * sin_t * np.sin(phi), p * cos_t
    e1 = np.sqrt(p * p + m1 * m1)
    e2 = np.sqrt(p * p + m2 * m2)
    d1 = boost((dx, dy, dz, e1), parent)
    d2 = boost((-dx, -dy, -dz, e2), parent)
    return d1, d2


def breit_wigner(
    rng: np.random.Generator, m0: float, width: float, size, n_widths: float,
    lower: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Masses from a relativistic Breit-Wigner in m^2, truncated to m0 +- n_widths*width.

    Uses the inverse CDF of 1/((m^2-m0^2)^2 + m0^2 Gamma^2) in m^2; ``lower`` raises the
    lower edge (e.g. to the sum of daughter masses) per element.
    """
    lo = np.maximum(m0 - n_widths * width, lower)
    hi = m0 + n_widths * width
    t_lo = np.arctan((lo * lo - m0 * m0) / (m0 * width))
    t_hi = np.arctan((hi * hi - m0 * m0) / (m0 * width))
    t = rng.uniform(0.0, 1.0, size) * (t_hi - t_lo) + t_lo
    return np.sqrt(m0 * m0 + m0 * width * np.tan(t))


def power_law(rng: np.random.Generator, xmin: float, power: float, size, xmax: float) -> np.ndarray:
    """Samples of dN/dx ~ x^-power on [xmin, xmax] (power > 1), by inverse CDF."""
    a = 1.0 - power
    u = rng.uniform(0.0, 1.0, size)
    lo, hi = xmin**a, xmax**a
    return (lo + u * (hi - lo)) ** (1.0 / a)


def abs_eta_below(pz: np.ndarray, pt: np.ndarray, eta_max: float) -> np.ndarray:
    """``|eta| < eta_max`` with eta as :func:`to_ptetaphim` computes it, bit for bit.

    For arrays pz, pt of one shape. Compares |pz|/pt with sinh(eta_max) (no arcsinh, the
    costly part); arcsinh is evaluated only in a narrow band around that edge, where the
    two comparisons could round differently. Where pt = 0, eta is 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.abs(pz) / pt  # = |pz / pt| exactly
    edge = np.sinh(eta_max)
    band = 1e-9 * abs(edge)  # far wider than the rounding error of arcsinh
    out = a < edge - band
    near = (a <= edge + band) & ~out
    if near.any():
        out[near] = np.abs(np.arcsinh(pz[near] / pt[near])) < eta_max
    out[pt == 0] = eta_max > 0
    return out
