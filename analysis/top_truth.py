"""Truth labels from NanoAOD GenPart: hadronic top decays, fat-jet and trijet labels.

A hadronic top is a last-copy top whose decay has a b quark and a W (followed through its
copies) decaying to two quarks. Fat jets (AK8) are labelled *top* when b, q and q' are all
within 0.8, *W* when q and q' are but the b is not, otherwise *QCD*. A trijet of AK4 jets is
a top when its three jets match (closest quark within 0.4) the b, q and q' of one top.
The training labels its samples with them, and the processor the candidates of the
top-tagger efficiency tables (:mod:`analysis.publish.top_origin`), so they live here.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from common.kinematics import delta_r

LABEL_QCD, LABEL_W, LABEL_TOP = 0, 1, 2
_LAST_COPY_BIT = 13  # NanoAOD GenPart statusFlags bit 13: isLastCopy
DECAY_FIELDS = ("b_eta", "b_phi", "q1_eta", "q1_phi", "q2_eta", "q2_phi")


def _first_children(mother: np.ndarray, selected: np.ndarray, n: int, how_many: int = 1
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per particle (global index, plus one slot ``n`` meaning "none"): its first
    ``how_many`` children among ``selected`` (``n`` where missing) and how many it has."""
    child = np.flatnonzero(selected & (mother >= 0))
    # a stable sort by mother keeps each mother's children in index order
    child = child[np.argsort(mother[child], kind="stable")]
    mothers, at, number = np.unique(mother[child], return_index=True, return_counts=True)
    firsts = np.full((how_many, n + 1), n, dtype=np.int64)
    for k in range(how_many):
        has = number > k
        firsts[k, mothers[has]] = child[at[has] + k]
    count = np.zeros(n + 1, dtype=np.int64)
    count[mothers] = number
    return firsts, count


def hadronic_top_decays(genpart: ak.Array) -> ak.Array:
    """Per event, a list of records (b, q1, q2 eta/phi) of the hadronically decaying tops.

    Vectorised over the particles of all events (the processor calls it per chunk): the
    mother indices are made global and each step down the decay chain is an array lookup.
    """
    pdg = np.abs(ak.to_numpy(ak.flatten(genpart.pdgId)).astype(np.int64))
    local_mother = ak.to_numpy(ak.flatten(genpart.genPartIdxMother)).astype(np.int64)
    flags = ak.to_numpy(ak.flatten(genpart.statusFlags)).astype(np.int64)
    eta = ak.to_numpy(ak.flatten(genpart.eta)).astype(np.float64)
    phi = ak.to_numpy(ak.flatten(genpart.phi)).astype(np.float64)
    counts = ak.to_numpy(ak.num(genpart.pdgId)).astype(np.int64)
    n = len(pdg)
    event = np.repeat(np.arange(len(counts)), counts)
    first_of_event = (np.cumsum(counts) - counts)[event]
    inside = (local_mother >= 0) & (local_mother < counts[event])
    mother = np.where(inside, first_of_event + local_mother, -1)

    (first_b,), _ = _first_children(mother, pdg == 5, n)
    (first_w,), _ = _first_children(mother, pdg == 24, n)
    quarks, n_quarks = _first_children(mother, (pdg >= 1) & (pdg <= 5), n, how_many=2)
    tops = np.flatnonzero((pdg == 6) & ((flags >> _LAST_COPY_BIT) & 1 == 1))
    b, w = first_b[tops], first_w[tops]
    keep = (b < n) & (w < n)
    tops, b, w = tops[keep], b[keep], w[keep]
    while True:  # follow W copies (W -> W after radiation) to the decaying one
        copy = first_w[w]
        follow = (copy < n) & (copy > w)  # a copy comes after its mother: no cycles
        if not follow.any():
            break
        w = np.where(follow, copy, w)
    keep = n_quarks[w] == 2
    tops, b, q1, q2 = tops[keep], b[keep], quarks[0, w[keep]], quarks[1, w[keep]]
    rec = dict(zip(DECAY_FIELDS, (eta[b], phi[b], eta[q1], phi[q1], eta[q2], phi[q2]),
                   strict=True))
    return ak.unflatten(ak.zip(rec), np.bincount(event[tops], minlength=len(counts)))


def label_fatjets(fatjets: ak.Array, decays: ak.Array, radius: float = 0.8) -> ak.Array:
    """Per fat jet: LABEL_TOP, LABEL_W or LABEL_QCD (jagged like ``fatjets``)."""
    pair = ak.cartesian({"j": fatjets, "d": decays}, axis=1, nested=True)
    j, d = pair.j, pair.d
    in_b = delta_r(j.eta, j.phi, d.b_eta, d.b_phi) < radius
    in_q = (delta_r(j.eta, j.phi, d.q1_eta, d.q1_phi) < radius) & (
        delta_r(j.eta, j.phi, d.q2_eta, d.q2_phi) < radius
    )
    is_top = ak.any(in_b & in_q, axis=2)
    is_w = ak.any(in_q & ~in_b, axis=2)
    return ak.values_astype(
        ak.where(is_top, LABEL_TOP, ak.where(is_w, LABEL_W, LABEL_QCD)), np.int32
    )


def match_jets_to_quarks(
    eta: np.ndarray, phi: np.ndarray, decays: ak.Array, radius: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Match padded jets (n_events, n_jets) to the closest top-decay quark within ``radius``.

    Returns (top index, role) per jet; role 0 = b, 1 = q1, 2 = q2; -1 where unmatched.
    """
    n_ev, n_j = eta.shape
    n_top = int(ak.max(ak.num(decays), initial=0))
    top_idx = np.full((n_ev, n_j), -1)
    role = np.full((n_ev, n_j), -1)
    if n_top == 0:
        return top_idx, role
    pad = ak.fill_none(
        ak.pad_none(decays, n_top, axis=1, clip=True), {f: np.nan for f in DECAY_FIELDS}
    )
    d = {f: ak.to_numpy(pad[f]).astype(float) for f in DECAY_FIELDS}  # (n_ev, n_top)
    qeta = np.stack([d["b_eta"], d["q1_eta"], d["q2_eta"]], axis=2).reshape(n_ev, -1)
    qphi = np.stack([d["b_phi"], d["q1_phi"], d["q2_phi"]], axis=2).reshape(n_ev, -1)
    dr = delta_r(eta[:, :, None], phi[:, :, None], qeta[:, None, :], qphi[:, None, :])
    dr = np.where(np.isnan(dr), np.inf, dr)
    best = np.argmin(dr, axis=2)
    ok = np.take_along_axis(dr, best[:, :, None], axis=2)[:, :, 0] < radius
    top_idx = np.where(ok, best // 3, -1)
    role = np.where(ok, best % 3, -1)
    return top_idx, role


def label_trijets(top_idx: np.ndarray, role: np.ndarray, combos: np.ndarray) -> np.ndarray:
    """1 where the three jets of each combination (n_combos, 3) are b, q1, q2 of one top."""
    t = top_idx[:, combos]  # (n_ev, n_combos, 3)
    r = role[:, combos]
    same = (t[..., 0] >= 0) & (t[..., 0] == t[..., 1]) & (t[..., 1] == t[..., 2])
    roles_ok = np.sort(r, axis=2) == np.array([0, 1, 2])
    return (same & roles_ok.all(axis=2)).astype(np.int32)
