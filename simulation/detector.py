"""Detector response: partons -> AK4 jets (merging, resolution, flavour, DeepJet), leptons.

Outputs are padded (n_events, n_objects) arrays with a ``valid`` mask, pT-ordered; the
writer turns them into jagged NanoAOD collections.
"""

from __future__ import annotations

import numba
import numpy as np

from simulation import kinematics as kin
from simulation.partons import PartonTable
from simulation.settings import DetectorSettings

Padded = dict[str, np.ndarray]


def _sort_desc(key: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-row order putting valid entries first by descending key."""
    return np.argsort(np.where(valid, -key, np.inf), axis=1, kind="stable")


def take_rows(d: dict[str, np.ndarray], order: np.ndarray) -> dict[str, np.ndarray]:
    """``np.take_along_axis(v, order, axis=1)`` for every (n, width) array ``v`` of ``d``.

    Gathers through one flat index per width, shared by all fields (cheaper than
    ``take_along_axis``, which rebuilds its fancy index for every call).
    """
    n, k = order.shape
    flat: dict[int, np.ndarray] = {}
    out = {}
    for key, v in d.items():
        w = v.shape[1]
        if w not in flat:
            flat[w] = (order + (np.arange(n) * w)[:, None]).ravel()
        out[key] = np.ascontiguousarray(v).reshape(-1)[flat[w]].reshape(n, k)
    return out


def prepare_partons(t: PartonTable) -> Padded:
    """Jet-forming partons of ``t``, pT-ordered per event (valid first), with eta and phi.

    The cone-independent first step of :func:`cluster_partons`; computing it once lets
    the AK4 and AK8 clusterings of the same events share it. Treat it as read-only.
    """
    pt = np.hypot(t.px, t.py)
    cand = t.valid & t.jet
    order = _sort_desc(pt, cand)
    width = max(int(cand.sum(axis=1).max(initial=0)), 1)
    order = order[:, :width]
    d = take_rows({"px": t.px, "py": t.py, "pz": t.pz, "e": t.e, "pdg": t.pdg,
                   "alive": cand}, order)
    _, d["eta"], d["phi"], _ = kin.to_ptetaphim(d["px"], d["py"], d["pz"], d["e"], mass=False)
    return d


def prepared_rows(prep: Padded, rows: np.ndarray) -> Padded:
    """:func:`prepare_partons` of ``t.take(rows)``, cut from that of ``t``."""
    sub = {k: v[rows] for k, v in prep.items()}
    width = max(int(sub["alive"].sum(axis=1).max(initial=0)), 1)
    return {k: v[:, :width] for k, v in sub.items()}


def cluster_partons(t: PartonTable, cone: float, prep: Padded | None = None) -> Padded:
    """Merge visible coloured partons closer than ``cone`` (in pT order) into true jets.

    A parton joins the highest-pT surviving jet within ``cone`` (recomputed after each
    merge). Flavour: hadronFlavour 5 if any b, 4 if any c, else 0; partonFlavour the same
    quark if heavy, else the leading parton's id (21 for gluons, 0 for hadronic taus).
    ``prep`` is :func:`prepare_partons` of ``t`` when the caller already has it.
    The returned ``parton_*`` arrays are shared with ``prep``: do not modify them.
    """
    d = prepare_partons(t) if prep is None else prep
    px, py, pz, e, alive = d["px"].copy(), d["py"].copy(), d["pz"].copy(), d["e"].copy(), \
        d["alive"].copy()
    apdg = np.abs(d["pdg"])
    hflav = np.where(apdg == 5, 5, np.where(apdg == 4, 4, 0))
    pflav = np.where(apdg == 15, 0, d["pdg"])
    nmerged = np.ones_like(pflav)
    owner = np.broadcast_to(np.arange(px.shape[1]), px.shape).copy()
    _merge_in_cones(px, py, pz, e, d["eta"].copy(), d["phi"].copy(), alive, hflav, pflav,
                    nmerged, owner, cone)
    return {"px": px, "py": py, "pz": pz, "e": e, "valid": alive,
            "hadronFlavour": hflav, "partonFlavour": pflav, "n_partons": nmerged,
            # membership, for constituents: slot j's parton belongs to jet owner[:, j]
            "owner": owner, "parton_px": d["px"], "parton_py": d["py"], "parton_pz": d["pz"],
            "parton_e": d["e"], "parton_eta": d["eta"], "parton_phi": d["phi"],
            "parton_ok": d["alive"], "parton_isb": apdg == 5}


@numba.njit(cache=True, inline="always")
def wrap_angle(phi: float) -> float:
    """phi folded into [-pi, pi) (for angles within a few turns of that range)."""
    while phi >= np.pi:
        phi -= 2.0 * np.pi
    while phi < -np.pi:
        phi += 2.0 * np.pi
    return phi


@numba.njit(cache=True)
def _merge_in_cones(px, py, pz, e, eta, phi, alive, hflav, pflav, nmerged, owner, cone):
    """The merging loop of :func:`cluster_partons`, event by event, in place."""
    n, width = px.shape
    for r in range(n):
        for j in range(1, width):
            if not alive[r, j]:
                continue
            for i in range(j):  # the first (hardest) surviving jet within the cone
                if not alive[r, i]:
                    continue
                deta = eta[r, i] - eta[r, j]
                dphi = wrap_angle(phi[r, i] - phi[r, j])
                if np.sqrt(deta * deta + dphi * dphi) < cone:
                    px[r, i] += px[r, j]
                    py[r, i] += py[r, j]
                    pz[r, i] += pz[r, j]
                    e[r, i] += e[r, j]
                    if hflav[r, j] > hflav[r, i]:
                        hflav[r, i] = hflav[r, j]
                        pflav[r, i] = pflav[r, j]
                    nmerged[r, i] += 1
                    alive[r, j] = False
                    owner[r, j] = i
                    pt = np.sqrt(px[r, i] * px[r, i] + py[r, i] * py[r, i])
                    eta[r, i] = np.arcsinh(pz[r, i] / pt) if pt > 0 else 0.0
                    phi[r, i] = np.arctan2(py[r, i], px[r, i])
                    break


def jet_resolution(pt: np.ndarray, det: DetectorSettings) -> np.ndarray:
    """Relative pT resolution sigma/pT = sqrt(a/pT^2 + b/pT + c) (see settings [JER])."""
    p = np.maximum(pt, 1.0)
    return np.sqrt(det.jet_res_noise / p**2 + det.jet_res_stochastic / p + det.jet_res_constant)


def deepjet_score(rng: np.random.Generator, hflav: np.ndarray, det: DetectorSettings
                  ) -> np.ndarray:
    """btagDeepFlavB drawn so that P(score > WP) is the per-flavour efficiency exactly.

    Shapes: b jets peak near 1, light jets near 0, c jets in between (Beta distributions
    above and below the working point). Each jet draws from one of the two only.
    """
    eff = np.where(hflav == 5, det.btag_eff_b, np.where(hflav == 4, det.btag_eff_c,
                                                         det.btag_eff_light))
    tagged = rng.uniform(size=hflav.shape) < eff
    wp = det.btag_wp
    score = np.empty(hflav.shape)
    for side, a, b, lo, width in ((tagged, (4.0, 1.3, 1.0), (0.8, 2.0, 4.0), wp, 1.0 - wp),
                                  (~tagged, (1.5, 1.0, 0.4), (1.0, 2.5, 6.0), 0.0, wp)):
        f = hflav[side]
        alpha = np.where(f == 5, a[0], np.where(f == 4, a[1], a[2]))
        beta = np.where(f == 5, b[0], np.where(f == 4, b[1], b[2]))
        score[side] = lo + width * rng.beta(alpha, beta)
    return score


def reco_jets(rng: np.random.Generator, true_jets: Padded, det: DetectorSettings) -> Padded:
    """Calibrated reconstructed AK4 jets from true (merged) jets, pT-ordered.

    Only the true jets are simulated (a flat list of them), not the empty padding slots.
    """
    shape = true_jets["px"].shape
    rows, slots = np.nonzero(true_jets["valid"])
    tpt, eta, phi, tmass = kin.to_ptetaphim(*(true_jets[k][rows, slots]
                                              for k in ("px", "py", "pz", "e")))
    n = len(tpt)
    resp = det.jet_response_mean + jet_resolution(tpt, det) * rng.standard_normal(n)
    resp = np.clip(resp, 0.05, None)
    pt = tpt * resp
    # showering gives jets a mass even from one massless parton; mass of merged partons kept
    shower = det.jet_mass_fraction * pt * rng.lognormal(0.0, 0.35, n)
    mass = np.sqrt(tmass**2 + shower**2) * resp
    raw = det.raw_factor_mean * (30.0 / np.maximum(pt, 15.0)) ** 0.3 + 0.01 * rng.standard_normal(
        n)
    hflav = true_jets["hadronFlavour"][rows, slots]
    # outside the tracker there is no secondary-vertex information: light-like scores
    btag = deepjet_score(rng, np.where(np.abs(eta) < det.btag_eta_max, hflav, 0), det)
    r = rng.uniform(size=n)
    flat = {"pt": pt, "eta": eta, "phi": phi, "mass": mass,
            "rawFactor": np.clip(raw, -0.05, 0.5), "area": rng.normal(0.50, 0.02, n),
            "btagDeepFlavB": btag, "jetId": np.where(r < 0.98, 6, np.where(r < 0.99, 2, 0)),
            "true_pt": tpt, "hadronFlavour": hflav,
            "partonFlavour": true_jets["partonFlavour"][rows, slots], "slot": slots}
    stored = (pt > det.jet_store_pt_min) & (np.abs(eta) < det.jet_store_eta_max)
    return _padded(flat, rows, stored, shape[0])


def by_event_then_hardest(rows: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Order of flat entries by event (``rows``), then by descending pT (pT >= 0).

    One sort of a combined key: 1 / (2 + pT) < 1 breaks ties within an event (cheaper
    than ``np.lexsort`` on the two keys).
    """
    return np.argsort(rows + 1.0 / (2.0 + pt))


def position_in_event(rows: np.ndarray, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Entries per event, and each entry's position within its event, for flat entries
    sorted by event (``rows``)."""
    counts = np.bincount(rows, minlength=n_events)
    return counts, np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)


def _padded(flat: dict[str, np.ndarray], rows: np.ndarray, keep: np.ndarray, n_events: int
            ) -> Padded:
    """Entries ``keep`` of a flat list (event ``rows``) as (n_events, width) arrays, each
    event's entries first and by descending pT, with a ``valid`` mask."""
    rows = rows[keep]
    order = by_event_then_hardest(rows, flat["pt"][keep])
    rows = rows[order]
    counts, position = position_in_event(rows, n_events)
    width = max(int(counts.max(initial=0)), 1)
    at = rows * width + position
    out = {}
    for k, v in flat.items():
        out[k] = np.zeros((n_events, width), v.dtype)
        out[k].ravel()[at] = v[keep][order]
    out["valid"] = np.zeros((n_events, width), bool)
    out["valid"].ravel()[at] = True
    return out


def genpart_index(t: PartonTable) -> np.ndarray:
    """Index of each slot in the written GenPart collection (-1 where not written)."""
    keep = t.valid & t.genpart
    return np.where(keep, np.cumsum(keep, axis=1) - 1, -1)


def leptons(rng: np.random.Generator, t: PartonTable, jets: Padded, det: DetectorSettings,
            flavour: int) -> Padded:
    """Reconstructed electrons (flavour 11) or muons (13): prompt ones from W/Z/tau, plus
    non-isolated ones from semileptonic b decays inside b jets (so the veto has work).

    Candidates are simulated as a flat list (a few per hundred events), then laid out
    padded, pT-ordered per event.
    """
    prompt_at = t.valid & t.lepton & (np.abs(t.pdg) == flavour)
    p_rows, p_slots = np.nonzero(prompt_at)
    gidx = genpart_index(t)[p_rows, p_slots]
    pt, eta, phi, _ = kin.to_ptetaphim(t.px[p_rows, p_slots], t.py[p_rows, p_slots],
                                       t.pz[p_rows, p_slots], t.e[p_rows, p_slots], mass=False)
    eff = det.electron_eff if flavour == 11 else det.muon_eff
    # non-prompt: ~10 % per b jet and lepton flavour (BR(b -> l X) ~ 10.7 %), soft, inside jet
    b_rows, b_slots = np.nonzero(jets["valid"] & (jets["hadronFlavour"] == 5))
    has = rng.uniform(size=len(b_rows)) < 0.107
    b_rows, b_slots = b_rows[has], b_slots[has]
    n_np = len(b_rows)
    n_charge = np.where(rng.uniform(size=n_np) < 0.5, 1, -1)
    cat = {
        "pt": np.concatenate([pt, jets["pt"][b_rows, b_slots] * rng.beta(1.2, 6.0, n_np)]),
        "eta": np.concatenate([eta, jets["eta"][b_rows, b_slots] + rng.normal(0, 0.05, n_np)]),
        "phi": np.concatenate([phi, jets["phi"][b_rows, b_slots] + rng.normal(0, 0.05, n_np)]),
        "pdgId": np.concatenate([t.pdg[p_rows, p_slots], -flavour * n_charge]),
        "genPartIdx": np.concatenate([gidx, np.full(n_np, -1)]),
        "prompt": np.concatenate([np.ones(len(p_rows), bool), np.zeros(n_np, bool)]),
    }
    rows = np.concatenate([p_rows, b_rows])
    n = len(rows)
    prompt = cat["prompt"]
    cat["pt"] = cat["pt"] * (1.0 + 0.015 * rng.standard_normal(n))
    eta_max = det.electron_eta_max if flavour == 11 else det.muon_eta_max
    acc = (np.abs(cat["eta"]) < eta_max) & (cat["pt"] > det.lepton_pt_min) & (
        rng.uniform(size=n) < 0.99)
    iso = np.where(prompt, rng.exponential(0.03, n), 0.15 + rng.exponential(0.6, n))
    cat.update({
        "charge": -np.sign(cat["pdgId"]),
        "mass": np.full(n, 0.000511 if flavour == 11 else 0.10566),
        "tight": rng.uniform(size=n) < np.where(prompt, eff, 0.3), "iso": iso,
        "miniiso": iso * rng.uniform(0.6, 1.0, n),
        "dxy": rng.normal(0.0, 0.002, n) + (~prompt) * rng.normal(0, 0.02, n),
        "dz": rng.normal(0.0, 0.005, n),
    })
    return _padded(cat, rows, acc, t.n_events)  # accepted leptons, by descending pT
