"""Soft drop and N-subjettiness on hand-made jets."""

from __future__ import annotations

import numpy as np

from inference.training.substructure import jet_substructure


def _mass(pt, eta, phi, m):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return np.sqrt(e.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2)


def test_soft_drop_removes_soft_wide_angle_radiation():
    # two hard prongs 0.3 apart plus a 2 GeV particle 0.7 away
    pt = np.array([200.0, 150.0, 2.0])
    eta = np.array([0.0, 0.3, -0.5])
    phi = np.array([0.0, 0.0, 0.5])
    m = np.zeros(3)
    s = jet_substructure(pt, eta, phi, m)
    np.testing.assert_allclose(s["msoftdrop"], _mass(pt[:2], eta[:2], phi[:2], m[:2]), rtol=1e-6)
    assert _mass(pt, eta, phi, m) > s["msoftdrop"] + 3


def test_nsubjettiness_counts_prongs():
    rng = np.random.default_rng(1)

    def prongs(centres):
        rows = []
        for ce, cp in centres:
            for _ in range(10):
                rows.append(
                    (rng.uniform(5, 15), ce + rng.normal(0, 0.02), cp + rng.normal(0, 0.02))
                )
        a = np.array(rows)
        return jet_substructure(a[:, 0], a[:, 1], a[:, 2], np.zeros(len(a)))

    three = prongs([(0.0, 0.0), (0.3, 0.2), (-0.2, 0.3)])
    two = prongs([(0.0, 0.0), (0.35, 0.1)])
    assert three["tau3"] / three["tau2"] < 0.3 < two["tau3"] / two["tau2"]
    assert two["tau2"] / two["tau1"] < 0.3
