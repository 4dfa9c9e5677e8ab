"""Trijet features, greedy top selection and event shapes."""

from __future__ import annotations

import numpy as np

from analysis.event_shapes import event_shapes
from analysis.trijets import TRIJET_FEATURES, combos, select_tops, trijet_features
from inference.training.toy_events import _decay, _ptetaphim, _to_p4

NAMES = [f[0] for f in TRIJET_FEATURES]


def _top_decay_jets(rng):
    """b, q, q' of a top with pT 300 GeV decayed isotropically (massless quarks)."""
    top = _to_p4(np.array([[300.0, 0.5, 1.0, 172.5]]))
    b, w = _decay(top, np.zeros(1), np.array([80.4]), rng)
    q1, q2 = _decay(w, np.zeros(1), np.zeros(1), rng)
    return np.concatenate([_ptetaphim(p) for p in (b, q1, q2)])


def test_trijet_of_a_top_decay_has_top_and_w_masses():
    rng = np.random.default_rng(3)
    v = _top_decay_jets(rng)  # rows b, q1, q2: pt, eta, phi, m
    order = np.argsort(-v[:, 0])
    v = v[order]
    btag = np.array([0.95 if i == 0 else 0.05 for i in order])
    jets = {
        "pt": v[None, :, 0],
        "eta": v[None, :, 1],
        "phi": v[None, :, 2],
        "mass": v[None, :, 3],
        "btag": btag[None, :],
    }
    pad = {k: np.pad(a, ((0, 0), (0, 1))) for k, a in jets.items()}
    feats, valid = trijet_features(pad, np.array([3]), 4)
    assert valid.tolist() == [[True, False, False, False]]
    f = dict(zip(NAMES, feats[0, 0], strict=True))
    assert abs(f["trijet_mass"] - 172.5) < 0.5
    assert abs(f["w_mass"] - 80.4) < 0.5
    assert f["btag_b"] == np.float32(0.95)


def test_greedy_selection_picks_disjoint_best_trijets():
    c = combos(6)
    scores = np.zeros((1, len(c)))
    row = {tuple(x): i for i, x in enumerate(c.tolist())}
    scores[0, row[(0, 1, 2)]] = 0.9
    scores[0, row[(0, 3, 4)]] = 0.8  # overlaps with the best one: must be skipped
    scores[0, row[(3, 4, 5)]] = 0.7
    best = select_tops(scores, np.ones_like(scores, bool), 6)
    assert best.tolist() == [[np.float32(0.9), np.float32(0.7)]]


def test_greedy_selection_with_too_few_jets():
    c = combos(8)
    valid = np.zeros((2, len(c)), bool)
    valid[1, 0] = True  # 3 jets only: one candidate
    best = select_tops(np.full(valid.shape, 0.6), valid, 8)
    assert best.tolist() == [[-1.0, -1.0], [np.float32(0.6), -1.0]]


def test_event_shapes_of_known_topologies():
    # back-to-back dijet: linear event; three jets at 120 degrees: planar, symmetric
    pt = np.array([[100.0, 100.0, 0.0], [100.0, 100.0, 100.0]])
    phi = np.array([[0.0, np.pi, 0.0], [0.0, 2 * np.pi / 3, -2 * np.pi / 3]])
    valid = np.array([[True, True, False], [True, True, True]])
    s = event_shapes(pt, np.zeros_like(pt), phi, np.zeros_like(pt), valid)
    np.testing.assert_allclose(s["sphericity"], [0.0, 0.75], atol=1e-6)
    np.testing.assert_allclose(s["aplanarity"], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(s["centrality"], [1.0, 1.0], atol=1e-6)


def test_event_shapes_forward_jets_are_less_central_and_empty_event_is_zero():
    pt = np.array([[100.0, 100.0], [0.0, 0.0]])
    eta = np.array([[2.0, -2.0], [0.0, 0.0]])
    valid = np.array([[True, True], [False, False]])
    s = event_shapes(pt, eta, np.array([[0.0, np.pi], [0.0, 0.0]]), np.zeros_like(pt), valid)
    assert abs(s["centrality"][0] - 1 / np.cosh(2.0)) < 1e-6
    assert s["sphericity"][1] == 0 and s["centrality"][1] == 0
