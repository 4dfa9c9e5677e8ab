"""Detector response: partons -> AK4 jets (merging, resolution, flavour, DeepJet), leptons.

Outputs are padded (n_events, n_objects) arrays with a ``valid`` mask, pT-ordered; the
writer turns them into jagged NanoAOD collections.
"""

from __future__ import annotations

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
    width = d["px"].shape[1]
    px, py, pz, e, alive = d["px"].copy(), d["py"].copy(), d["pz"].copy(), d["e"].copy(), \
        d["alive"].copy()
    apdg = np.abs(d["pdg"])
    hflav = np.where(apdg == 5, 5, np.where(apdg == 4, 4, 0))
    pflav = np.where(apdg == 15, 0, d["pdg"])
    nmerged = np.ones_like(pflav)
    owner = np.broadcast_to(np.arange(width), px.shape).copy()
    parton_p4 = (d["px"], d["py"], d["pz"], d["e"])
    rows = np.arange(px.shape[0])
    eta, phi = d["eta"].copy(), d["phi"].copy()
    for j in range(1, width):
        rj = rows[alive[:, j]]  # partons are pT-sorted, valid first: later columns are sparse
        dr = kin.delta_r(eta[rj, :j], phi[rj, :j], eta[rj, j:j + 1], phi[rj, j:j + 1])
        close = alive[rj, :j] & (dr < cone)
        merge = close.any(axis=1)
        tgt = np.argmax(close, axis=1)
        r, tg = rj[merge], tgt[merge]
        for arr in (px, py, pz, e):
            arr[r, tg] += arr[r, j]
        hj = hflav[r, j]
        heavier = hj > hflav[r, tg]
        hflav[r, tg] = np.maximum(hflav[r, tg], hj)
        pflav[r, tg] = np.where(heavier, pflav[r, j], pflav[r, tg])
        nmerged[r, tg] += 1
        alive[r, j] = False
        owner[r, j] = tg
        _, eta[r, tg], phi[r, tg], _ = kin.to_ptetaphim(px[r, tg], py[r, tg], pz[r, tg],
                                                        e[r, tg], mass=False)
    return {"px": px, "py": py, "pz": pz, "e": e, "valid": alive,
            "hadronFlavour": hflav, "partonFlavour": pflav, "n_partons": nmerged,
            # membership, for constituents: slot j's parton belongs to jet owner[:, j]
            "owner": owner, "parton_px": parton_p4[0], "parton_py": parton_p4[1],
            "parton_pz": parton_p4[2], "parton_e": parton_p4[3], "parton_ok": d["alive"],
            "parton_isb": apdg == 5}


def jet_resolution(pt: np.ndarray, det: DetectorSettings) -> np.ndarray:
    """Relative pT resolution sigma/pT = sqrt(a/pT^2 + b/pT + c) (see settings [JER])."""
    p = np.maximum(pt, 1.0)
    return np.sqrt(det.jet_res_noise / p**2 + det.jet_res_stochastic / p + det.jet_res_constant)


def deepjet_score(rng: np.random.Generator, hflav: np.ndarray, det: DetectorSettings
                  ) -> np.ndarray:
    """btagDeepFlavB drawn so that P(score > WP) is the per-flavour efficiency exactly.

    Shapes: b jets peak near 1, light jets near 0, c jets in between (Beta distributions
    above and below the working point).
    """
    shape = hflav.shape
    eff = np.where(hflav == 5, det.btag_eff_b, np.where(hflav == 4, det.btag_eff_c,
                                                         det.btag_eff_light))
    tagged = rng.uniform(size=shape) < eff
    a_hi = np.where(hflav == 5, 4.0, np.where(hflav == 4, 1.3, 1.0))
    b_hi = np.where(hflav == 5, 0.8, np.where(hflav == 4, 2.0, 4.0))
    a_lo = np.where(hflav == 5, 1.5, np.where(hflav == 4, 1.0, 0.4))
    b_lo = np.where(hflav == 5, 1.0, np.where(hflav == 4, 2.5, 6.0))
    wp = det.btag_wp
    hi = wp + (1.0 - wp) * rng.beta(a_hi, b_hi)
    lo = wp * rng.beta(a_lo, b_lo)
    return np.where(tagged, hi, lo)


def reco_jets(rng: np.random.Generator, true_jets: Padded, det: DetectorSettings) -> Padded:
    """Calibrated reconstructed AK4 jets from true (merged) jets, pT-ordered."""
    tpt, eta, phi, tmass = kin.to_ptetaphim(true_jets["px"], true_jets["py"],
                                            true_jets["pz"], true_jets["e"])
    shape = tpt.shape
    resp = det.jet_response_mean + jet_resolution(tpt, det) * rng.standard_normal(shape)
    pt = tpt * np.clip(resp, 0.05, None)
    # showering gives jets a mass even from one massless parton; mass of merged partons kept
    shower = det.jet_mass_fraction * pt * rng.lognormal(0.0, 0.35, shape)
    mass = np.sqrt(tmass**2 + shower**2) * np.clip(resp, 0.05, None)
    valid = true_jets["valid"] & (pt > det.jet_store_pt_min) & (
        np.abs(eta) < det.jet_store_eta_max)
    raw = det.raw_factor_mean * (30.0 / np.maximum(pt, 15.0)) ** 0.3 + 0.01 * rng.standard_normal(
        shape)
    # outside the tracker there is no secondary-vertex information: light-like scores
    in_trk = np.abs(eta) < det.btag_eta_max
    btag = deepjet_score(rng, np.where(in_trk, true_jets["hadronFlavour"], 0), det)
    r = rng.uniform(size=shape)
    out = {
        "pt": pt, "eta": eta, "phi": phi, "mass": mass,
        "rawFactor": np.clip(raw, -0.05, 0.5), "area": rng.normal(0.50, 0.02, shape),
        "btagDeepFlavB": btag, "jetId": np.where(r < 0.98, 6, np.where(r < 0.99, 2, 0)),
        "hadronFlavour": true_jets["hadronFlavour"], "partonFlavour": true_jets["partonFlavour"],
        "true_pt": tpt, "slot": np.broadcast_to(np.arange(shape[1]), shape), "valid": valid,
    }
    return take_rows(out, _sort_desc(pt, valid))


def genpart_index(t: PartonTable) -> np.ndarray:
    """Index of each slot in the written GenPart collection (-1 where not written)."""
    keep = t.valid & t.genpart
    return np.where(keep, np.cumsum(keep, axis=1) - 1, -1)


def leptons(rng: np.random.Generator, t: PartonTable, jets: Padded, det: DetectorSettings,
            flavour: int) -> Padded:
    """Reconstructed electrons (flavour 11) or muons (13): prompt ones from W/Z/tau, plus
    non-isolated ones from semileptonic b decays inside b jets (so the veto has work).
    """
    gidx = genpart_index(t)
    # only the slots that can hold this lepton flavour matter (keeps the arrays narrow)
    cols = np.flatnonzero((t.lepton & t.valid).any(axis=0))
    gidx, pdg = gidx[:, cols], t.pdg[:, cols]
    pt, eta, phi, _ = kin.to_ptetaphim(t.px[:, cols], t.py[:, cols], t.pz[:, cols],
                                       t.e[:, cols], mass=False)
    prompt = t.valid[:, cols] & t.lepton[:, cols] & (np.abs(pdg) == flavour)
    eff = det.electron_eff if flavour == 11 else det.muon_eff
    # non-prompt: ~10 % per b jet and lepton flavour (BR(b -> l X) ~ 10.7 %), soft, inside jet
    jb = jets["valid"] & (jets["hadronFlavour"] == 5)
    npl = jb & (rng.uniform(size=jb.shape) < 0.107)
    frac = rng.beta(1.2, 6.0, jb.shape)
    n_charge = np.where(rng.uniform(size=jb.shape) < 0.5, 1, -1)
    cat = {
        "pt": np.concatenate([pt, jets["pt"] * frac], axis=1),
        "eta": np.concatenate([eta, jets["eta"] + rng.normal(0, 0.05, jb.shape)], axis=1),
        "phi": np.concatenate([phi, jets["phi"] + rng.normal(0, 0.05, jb.shape)], axis=1),
        "pdgId": np.concatenate([pdg, -flavour * n_charge], axis=1),
        "genPartIdx": np.concatenate([gidx, np.full(jb.shape, -1)], axis=1),
        "prompt": np.concatenate([prompt, np.zeros(jb.shape, bool)], axis=1),
        "cand": np.concatenate([prompt, npl], axis=1),
    }
    shape = cat["pt"].shape
    cat["pt"] = cat["pt"] * (1.0 + 0.015 * rng.standard_normal(shape))
    eta_max = det.electron_eta_max if flavour == 11 else det.muon_eta_max
    acc = cat["cand"] & (np.abs(cat["eta"]) < eta_max) & (
        cat["pt"] > det.lepton_pt_min) & (rng.uniform(size=shape) < 0.99)
    tight = np.where(cat["prompt"], rng.uniform(size=shape) < eff,
                     rng.uniform(size=shape) < 0.3)
    iso = np.where(cat["prompt"], rng.exponential(0.03, shape), 0.15 + rng.exponential(0.6, shape))
    out = dict(cat)
    out.update({
        "charge": -np.sign(cat["pdgId"]), "mass": np.full(shape, 0.000511 if flavour == 11
                                                           else 0.10566),
        "tight": tight, "iso": iso, "miniiso": iso * rng.uniform(0.6, 1.0, shape),
        "dxy": rng.normal(0.0, 0.002, shape) + (~cat["prompt"]) * rng.normal(0, 0.02, shape),
        "dz": rng.normal(0.0, 0.005, shape), "valid": acc,
    })
    out.pop("cand")
    order = _sort_desc(out["pt"], acc)[:, :max(int(acc.sum(axis=1).max(initial=0)), 1)]
    return take_rows(out, order)  # valid first: the cut columns hold no lepton
