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


def hadronic_top_decays(genpart: ak.Array) -> ak.Array:
    """Per event, a list of records (b, q1, q2 eta/phi) of the hadronically decaying tops."""
    pdg = ak.to_numpy(ak.flatten(genpart.pdgId)).astype(np.int64)
    mom = ak.to_numpy(ak.flatten(genpart.genPartIdxMother)).astype(np.int64)
    flags = ak.to_numpy(ak.flatten(genpart.statusFlags)).astype(np.int64)
    eta = ak.to_numpy(ak.flatten(genpart.eta)).astype(np.float64)
    phi = ak.to_numpy(ak.flatten(genpart.phi)).astype(np.float64)
    counts = ak.to_numpy(ak.num(genpart.pdgId))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    rows: list[list[float]] = []
    n_per_event = np.zeros(len(counts), dtype=np.int64)
    apdg = np.abs(pdg)
    for i in range(len(counts)):
        lo, hi = offsets[i], offsets[i + 1]
        p, m = apdg[lo:hi], mom[lo:hi]
        for t in np.nonzero((p == 6) & ((flags[lo:hi] >> _LAST_COPY_BIT) & 1 == 1))[0]:
            kids = np.nonzero(m == t)[0]
            bs, ws = kids[p[kids] == 5], kids[p[kids] == 24]
            if len(bs) == 0 or len(ws) == 0:
                continue
            w = ws[0]
            while True:  # follow W copies (W -> W after radiation) to the decaying one
                nxt = np.nonzero((m == w) & (p == 24))[0]
                if len(nxt) == 0:
                    break
                w = nxt[0]
            qs = np.nonzero((m == w) & (p >= 1) & (p <= 5))[0]
            if len(qs) != 2:
                continue
            b, q1, q2 = lo + bs[0], lo + qs[0], lo + qs[1]
            rows.append([eta[b], phi[b], eta[q1], phi[q1], eta[q2], phi[q2]])
            n_per_event[i] += 1
    arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
    rec = {name: arr[:, k] for k, name in enumerate(DECAY_FIELDS)}
    return ak.unflatten(ak.zip(rec), n_per_event)


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
