"""The fixed-width jet arrays shared by processing and training: order, padding, clipping."""

from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.jets import padded_jets, pt_ordered


def _jets(pts):
    return ak.zip({
        "pt": ak.Array(pts),
        "eta": ak.Array([[0.1 * i for i in range(len(p))] for p in pts]),
        "phi": ak.Array([[0.0] * len(p) for p in pts]),
        "mass": ak.Array([[5.0] * len(p) for p in pts]),
        "btagDeepFlavB": ak.Array([[0.9] * len(p) for p in pts]),
    })


def test_jets_are_pt_ordered_zero_padded_and_clipped():
    jets = pt_ordered(_jets([[40.0, 120.0, 60.0], [], [10.0, 20.0, 30.0, 40.0, 50.0]]))
    pj, n = padded_jets(jets, 4)
    assert n.tolist() == [3, 0, 5]  # real jets, not clipped
    np.testing.assert_array_equal(pj["pt"], [[120, 60, 40, 0], [0, 0, 0, 0], [50, 40, 30, 20]])
    np.testing.assert_array_equal(pj["eta"][0], [0.1, 0.2, 0.0, 0.0])  # follows its jet
    np.testing.assert_array_equal(pj["btag"][0], [0.9, 0.9, 0.9, 0.0])
    assert set(pj) == {"pt", "eta", "phi", "mass", "btag"}
    assert all(v.dtype == np.float64 and v.shape == (3, 4) for v in pj.values())


def test_no_events():
    pj, n = padded_jets(_jets([[1.0]])[:0], 6)
    assert pj["pt"].shape == (0, 6) and len(n) == 0
