"""Event shapes from jets: sphericity, aplanarity, centrality.

Sphericity tensor S^ab = sum_i p_i^a p_i^b / sum_i |p_i|^2 with eigenvalues
l1 >= l2 >= l3 (Bjorken & Brodsky, Phys. Rev. D 1 (1970) 1416): sphericity
S = 3/2 (l2 + l3), aplanarity A = 3/2 l3. Centrality = sum pT / sum E. tt̄tt̄ events are
more spherical and central than tt̄ + jets (CMS, Eur. Phys. J. C 80 (2020) 75).
"""

from __future__ import annotations

import numpy as np


def event_shapes(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray, valid: np.ndarray
) -> dict[str, np.ndarray]:
    """Shapes of padded (n_events, n_jets) jets; ``valid`` marks real jets. Zeros if no jet."""
    w = valid.astype(np.float64)
    px, py, pz = pt * np.cos(phi) * w, pt * np.sin(phi) * w, pt * np.sinh(eta) * w
    e = np.sqrt(px**2 + py**2 + pz**2 + (mass * w) ** 2)
    p = np.stack([px, py, pz], axis=2)  # (n, j, 3)
    tensor = np.einsum("nja,njb->nab", p, p)
    norm = (p**2).sum(axis=(1, 2))
    safe = np.where(norm > 0, norm, 1.0)
    lam = np.linalg.eigvalsh(tensor / safe[:, None, None])  # ascending
    lam = np.where(norm[:, None] > 0, lam, 0.0)
    sum_e = e.sum(axis=1)
    return {
        "sphericity": (1.5 * (lam[:, 0] + lam[:, 1])).astype(np.float32),
        "aplanarity": (1.5 * lam[:, 0]).astype(np.float32),
        "centrality": np.where(
            sum_e > 0, (pt * w).sum(axis=1) / np.where(sum_e > 0, sum_e, 1), 0.0
        ).astype(np.float32),
    }
