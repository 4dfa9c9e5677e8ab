"""Jet substructure from constituents: Cambridge/Aachen clustering, soft drop, N-subjettiness.

Used by the toy event source to fill ``FatJet_msoftdrop`` and ``FatJet_tau{1,2,3}`` (the
inputs of the substructure baseline) the way NanoAOD defines them, so the baseline and the
network see the same jets. Definitions: soft drop (Larkoski et al., JHEP 05 (2014) 146) with
z_cut = 0.1, beta = 0 as in CMS NanoAOD; N-subjettiness (Thaler, Van Tilburg, JHEP 03 (2011)
015) with beta = 1, R0 = 0.8, axes from exclusive kT subjets (NanoAOD refines them with
one-pass minimisation; close enough for a baseline).
"""

from __future__ import annotations

import numpy as np

from common.kinematics import delta_phi

SOFTDROP_ZCUT = 0.1  # CMS NanoAOD FatJet_msoftdrop (CMS-PAS-JME-16-003)
NSUB_R0 = 0.8  # AK8 jet radius


def _p4(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """(n, 4) array of (px, py, pz, E)."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return np.stack([px, py, pz, e], axis=1)


def _mass(p: np.ndarray) -> float:
    m2 = p[3] ** 2 - p[0] ** 2 - p[1] ** 2 - p[2] ** 2
    return float(np.sqrt(max(m2, 0.0)))


def _rap_phi(p: np.ndarray) -> tuple[float, float]:
    pt = np.hypot(p[0], p[1])
    rap = 0.5 * np.log(max(p[3] + p[2], 1e-9) / max(p[3] - p[2], 1e-9))
    return float(rap), float(np.arctan2(p[1], p[0])) if pt > 0 else 0.0


def cambridge_aachen(p4: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Cluster (n, 4) momenta with C/A; returns node momenta and the merge list."""
    return cluster_sequence(p4, power=0)


def cluster_sequence(p4: np.ndarray, power: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Generalised-kT clustering of (n, 4) momenta: d_ij = min(pT_i, pT_j)^(2 power) dR^2.

    power 0 is Cambridge/Aachen, 1 is kT. Returns node momenta and the merge list: nodes
    0..n-1 are the inputs, merge m creates node n+m from the pair it lists.
    """
    n = len(p4)
    nodes = list(p4)
    merges: list[tuple[int, int]] = []
    if n < 2:
        return np.array(nodes).reshape(-1, 4), merges
    rp = np.array([_rap_phi(p) for p in p4])
    y, ph = rp[:, 0].copy(), rp[:, 1].copy()
    w = np.hypot(p4[:, 0], p4[:, 1]) ** (2 * power)
    d = np.minimum(w[:, None], w[None, :]) * (
        (y[:, None] - y[None, :]) ** 2
        + delta_phi(ph[:, None], ph[None, :]) ** 2
    )
    np.fill_diagonal(d, np.inf)
    alive = np.ones(n, dtype=bool)
    ids = np.arange(n)
    while alive.sum() > 1:
        flat = np.argmin(d)
        i, j = divmod(int(flat), n)
        new = nodes[ids[i]] + nodes[ids[j]]
        nodes.append(new)
        merges.append((int(ids[i]), int(ids[j])))
        ids[i] = len(nodes) - 1
        alive[j] = False
        d[j, :] = np.inf
        d[:, j] = np.inf
        yi, pi_ = _rap_phi(new)
        dist = (y - yi) ** 2 + delta_phi(ph, pi_) ** 2
        y[i], ph[i] = yi, pi_
        w[i] = np.hypot(new[0], new[1]) ** (2 * power)
        dist = dist * np.minimum(w, w[i])
        dist[~alive] = np.inf
        dist[i] = np.inf
        d[i, :] = dist
        d[:, i] = dist
    return np.array(nodes), merges


def softdrop_mass(nodes: np.ndarray, merges: list[tuple[int, int]]) -> float:
    """Groomed mass: decluster the C/A tree, dropping the softer branch until z > z_cut."""
    if not merges:
        return _mass(nodes[0]) if len(nodes) else 0.0
    n_in = len(nodes) - len(merges)
    node = len(nodes) - 1
    while node >= n_in:
        a, b = merges[node - n_in]
        pa, pb = np.hypot(*nodes[a][:2]), np.hypot(*nodes[b][:2])
        if min(pa, pb) / max(pa + pb, 1e-9) > SOFTDROP_ZCUT:
            return _mass(nodes[node])
        node = a if pa >= pb else b
    return _mass(nodes[node])


def exclusive_axes(nodes: np.ndarray, merges: list[tuple[int, int]], n_axes: int) -> np.ndarray:
    """Momenta of the ``n_axes`` exclusive subjets (undo the last merges)."""
    n_in = len(nodes) - len(merges)
    current = {len(nodes) - 1} if merges else set(range(len(nodes)))
    while len(current) < n_axes:
        top = max((c for c in current if c >= n_in), default=None)
        if top is None:
            break
        current.remove(top)
        current.update(merges[top - n_in])
    return np.array([nodes[c] for c in sorted(current)])


def nsubjettiness(p4: np.ndarray, axes: np.ndarray) -> float:
    """tau_N with beta = 1 and R0 = 0.8 (normalised by sum pT * R0)."""
    if len(p4) == 0 or len(axes) == 0:
        return 0.0
    rp = np.array([_rap_phi(p) for p in p4])
    ra = np.array([_rap_phi(a) for a in axes])
    dphi = delta_phi(rp[:, None, 1], ra[None, :, 1])
    dr = np.sqrt((rp[:, None, 0] - ra[None, :, 0]) ** 2 + dphi**2)
    pt = np.hypot(p4[:, 0], p4[:, 1])
    return float((pt * dr.min(axis=1)).sum() / max(pt.sum() * NSUB_R0, 1e-9))


def jet_substructure(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray
) -> dict[str, float]:
    """msoftdrop, tau1, tau2, tau3 of one jet given its constituents."""
    p4 = _p4(pt, eta, phi, mass)
    nodes, merges = cambridge_aachen(p4)
    out = {"msoftdrop": softdrop_mass(nodes, merges)}
    # N-subjettiness axes: exclusive kT subjets (hard prongs; C/A would split off soft
    # wide-angle particles first)
    kt_nodes, kt_merges = cluster_sequence(p4, power=1)
    for n_ax in (1, 2, 3):
        out[f"tau{n_ax}"] = nsubjettiness(p4, exclusive_axes(kt_nodes, kt_merges, n_ax))
    return out
