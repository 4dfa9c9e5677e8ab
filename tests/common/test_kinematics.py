"""Angular helpers shared by every package: range, periodicity, awkward input."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from common.kinematics import delta_phi, delta_r, wrap_phi
from common.validation import strictly_increasing


def test_wrap_phi_folds_into_one_turn_and_keeps_the_angle() -> None:
    phi = np.array([-7.0, -np.pi, -1.0, 0.0, 3.0, np.pi, 6.5, 20.0])
    got = wrap_phi(phi.copy())
    assert np.all(got >= -np.pi) and np.all(got < np.pi)
    turns = (phi - got) / (2 * np.pi)
    np.testing.assert_allclose(turns, np.round(turns), atol=1e-12)
    # in-range angles come back unchanged, pi maps to -pi
    np.testing.assert_array_equal(got[[2, 3, 4]], phi[[2, 3, 4]])
    assert got[5] == pytest.approx(-np.pi)


def test_delta_phi_across_the_branch_cut() -> None:
    assert delta_phi(3.1, -3.1) == pytest.approx(6.2 - 2 * np.pi)
    assert delta_phi(-3.1, 3.1) == pytest.approx(2 * np.pi - 6.2)


def test_delta_r_numpy_and_awkward_agree() -> None:
    eta1, phi1 = [[0.0, 1.0], [0.5]], [[3.0, 0.0], [-3.0]]
    eta2, phi2 = [[0.3, 1.0], [0.5]], [[-3.0, 0.4], [3.0]]
    got = delta_r(ak.Array(eta1), ak.Array(phi1), ak.Array(eta2), ak.Array(phi2))
    flat = delta_r(np.array([0.0, 1.0, 0.5]), np.array([3.0, 0.0, -3.0]),
                   np.array([0.3, 1.0, 0.5]), np.array([-3.0, 0.4, 3.0]))
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(got)), flat)
    np.testing.assert_allclose(flat, [np.hypot(0.3, 2 * np.pi - 6.0), 0.4, 2 * np.pi - 6.0])


def test_edges_must_increase() -> None:
    assert strictly_increasing([1, 2, 5]) == [1, 2, 5]
    for bad in ([1, 1, 2], [3, 2]):
        with pytest.raises(ValueError, match="must increase strictly"):
            strictly_increasing(bad, "region edges")
