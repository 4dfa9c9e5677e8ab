"""Resolved top candidates: trijets of AK4 jets, their features, and greedy selection.

Every combination of three of the leading ``max_jets`` jets is a candidate
(:func:`candidates`; optionally only those in a loose trijet-mass window, the pre-filter
before the tagger). Within a candidate the jet with the highest b-tag score is the b
candidate and the other two form the W candidate. :data:`TRIJET_FEATURES` are the inputs
of the resolved top tagger (in order), :func:`candidate_features` computes them for the
listed candidates only; :func:`select_tops` picks non-overlapping candidates greedily by
score.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from common.kinematics import delta_r

#: (name, meaning, units) of each trijet feature, in tagger input order.
TRIJET_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("trijet_mass", "invariant mass of the three jets", "GeV"),
    ("w_mass", "invariant mass of the two non-b jets", "GeV"),
    ("w_over_top_mass", "w_mass / trijet_mass", ""),
    ("btag_b", "b-tag score of the b candidate (highest of the three)", ""),
    ("btag_w1", "b-tag score of the leading W-candidate jet", ""),
    ("btag_w2", "b-tag score of the subleading W-candidate jet", ""),
    ("dr_w", "Delta R between the two W-candidate jets", ""),
    ("dr_b_w", "Delta R between the b candidate and the W candidate", ""),
    ("trijet_pt", "pT of the trijet", "GeV"),
    ("pt_balance", "trijet pT / scalar sum of the three jet pT", ""),
    ("b_pt_fraction", "b-candidate pT / scalar sum of the three jet pT", ""),
)


def combos(max_jets: int) -> np.ndarray:
    """(n_combinations, 3) jet indices of all trijets among ``max_jets`` jets."""
    return np.array(list(combinations(range(max_jets), 3)), dtype=np.int64).reshape(-1, 3)


def _p4(pt, eta, phi, mass):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)


def _mass(e, px, py, pz):
    return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))


def candidates(
    jets: dict[str, np.ndarray],
    n_jets: np.ndarray,
    max_jets: int,
    mass_window: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(event index, combination index) of the trijets to score, in event then combination
    order.

    Every combination of the event's real jets among the leading ``max_jets``; with
    ``mass_window`` = (low, high) only those with low < trijet mass < high (GeV), the loose
    pre-filter before the tagger. ``jets`` and ``n_jets`` as in :func:`trijet_features`.
    """
    c = combos(max_jets)
    valid = c[:, 2][None, :] < np.minimum(n_jets, max_jets)[:, None]
    if mass_window is not None and valid.any():
        ev, ci = np.nonzero(valid)
        px, py, pz, e = (sum(parts) for parts in zip(*(
            _p4(*(jets[k][ev, c[ci, s]] for k in ("pt", "eta", "phi", "mass")))
            for s in range(3)), strict=True))
        m = _mass(e, px, py, pz)
        valid[ev, ci] = (m > mass_window[0]) & (m < mass_window[1])
    return np.nonzero(valid)


def candidate_features(
    jets: dict[str, np.ndarray], event: np.ndarray, combination: np.ndarray, max_jets: int
) -> np.ndarray:
    """Tagger inputs (n_candidates, n_features) float32 of the trijets
    ``combos(max_jets)[combination]`` of events ``event`` (see :func:`candidates`)."""
    c = combos(max_jets)[combination]
    g = {k: v[event[:, None], c] for k, v in jets.items()}  # (n_cand, 3)
    b_slot = np.argmax(g["btag"], axis=1) if len(event) else np.zeros(0, np.int64)
    # W-candidate slots: the other two, in pT order (jets are pT-ordered already)
    other = np.array([[1, 2], [0, 2], [0, 1]])[b_slot]

    def pick(name, slot):
        return np.take_along_axis(g[name], slot[:, None], axis=1)[:, 0]

    b = {k: pick(k, b_slot) for k in g}
    w1 = {k: pick(k, other[:, 0]) for k in g}
    w2 = {k: pick(k, other[:, 1]) for k in g}
    pb, p1, p2 = (_p4(j["pt"], j["eta"], j["phi"], j["mass"]) for j in (b, w1, w2))
    wx, wy, wz, we = (p1[i] + p2[i] for i in range(4))
    tx, ty, tz, te = wx + pb[0], wy + pb[1], wz + pb[2], we + pb[3]
    m_top, m_w = _mass(te, tx, ty, tz), _mass(we, wx, wy, wz)
    w_pt = np.hypot(wx, wy)
    w_eta = np.arcsinh(wz / np.maximum(w_pt, 1e-9))
    w_phi = np.arctan2(wy, wx)
    ptsum = b["pt"] + w1["pt"] + w2["pt"]
    safe = np.maximum(ptsum, 1e-9)
    return np.stack(
        [
            m_top,
            m_w,
            m_w / np.maximum(m_top, 1e-9),
            b["btag"],
            w1["btag"],
            w2["btag"],
            delta_r(w1["eta"], w1["phi"], w2["eta"], w2["phi"]),
            delta_r(b["eta"], b["phi"], w_eta, w_phi),
            np.hypot(tx, ty),
            np.hypot(tx, ty) / safe,
            b["pt"] / safe,
        ],
        axis=1,
    ).astype(np.float32).reshape(len(event), len(TRIJET_FEATURES))


def trijet_features(jets: dict[str, np.ndarray], n_jets: np.ndarray, max_jets: int):
    """Features (n_events, n_combos, n_features) and validity (n_events, n_combos).

    ``jets`` holds padded (n_events, max_jets) arrays ``pt``, ``eta``, ``phi``, ``mass``,
    ``btag`` (pT-ordered); ``n_jets`` the number of real jets per event. Features of
    combinations beyond an event's jets are 0.
    """
    n_c = len(combos(max_jets))
    event, combination = candidates(jets, n_jets, max_jets)
    feats = np.zeros((len(n_jets), n_c, len(TRIJET_FEATURES)), np.float32)
    valid = np.zeros((len(n_jets), n_c), bool)
    feats[event, combination] = candidate_features(jets, event, combination, max_jets)
    valid[event, combination] = True
    return feats, valid


def select_tops(scores: np.ndarray, valid: np.ndarray, max_jets: int) -> np.ndarray:
    """Greedy non-overlapping trijets: (n_events, max_jets // 3) scores, -1 where none.

    Repeatedly takes the highest-scoring candidate and removes every candidate sharing a
    jet with it.
    """
    c = combos(max_jets)
    bits = (1 << c).sum(axis=1)  # jet-occupancy bitmask per candidate
    avail = valid.copy()
    n_rounds = max_jets // 3
    out = np.full((len(scores), n_rounds), -1.0, dtype=np.float32)
    rows = np.arange(len(scores))
    for r in range(n_rounds):
        s = np.where(avail, scores, -np.inf)
        best = np.argmax(s, axis=1) if s.shape[1] else np.zeros(len(s), dtype=np.int64)
        ok = np.isfinite(s[rows, best]) if s.shape[1] else np.zeros(len(s), bool)
        out[ok, r] = s[rows, best][ok]
        used = np.where(ok, bits[best], 0)
        avail &= (bits[None, :] & used[:, None]) == 0
    return out
