"""AK8 jets with PF constituents (PFNano layout), substructure computed from constituents.

Partons closer than Delta R 0.8 form one AK8 jet. Each parton showers into PF candidates
(multiplicity growing with pT, momentum fractions ~ E^1.5 with E exponential, angular
spread shrinking with momentum fraction); soft radiation / underlying event adds soft
candidates over the whole jet. So a hadronic top gives a three-prong jet, a W two-prong,
and a QCD parton one-prong. Only constituents of stored AK8 jets are written to PFCands,
at most ``max_fatjet_constituents`` (100) per jet, hardest first; FatJet_nConstituents
is that number. With ``pfcands_fatjet_pt_min`` only the jets above it (those the boosted
tagger reads) get PF candidates; the others keep their FatJet branches, computed from the
same constituents.

msoftdrop: soft drop (z_cut = 0.1, beta = 0) applied at the prong level: prongs (one per
parton) carrying less than 10 % of the jet pT and all soft candidates are dropped.
tau_N: N-subjettiness with R0 = 0.8 and the N hardest prong axes as axes (the hardest
constituents fill in when there are fewer prongs than N).

The per-jet showering and substructure is one compiled loop (:func:`_shower_jets`): about
a hundred candidates per jet, each with its own random draws, are too many small steps
for whole-array numpy to be fast.
"""

from __future__ import annotations

import numba
import numpy as np

from simulation import kinematics as kin
from simulation.detector import (
    by_event_then_hardest,
    cluster_partons,
    jet_resolution,
    position_in_event,
    wrap_angle,
)
from simulation.partons import PartonTable
from simulation.settings import GeneratorSettings

R_AK8 = 0.8
ZCUT = 0.1
N_SOFT = 12  # soft candidates per AK8 jet (UE + soft radiation after PUPPI)
M_PION = 0.13957


def fatjets(rng: np.random.Generator, t: PartonTable, s: GeneratorSettings,
            prep: dict | None = None) -> dict:
    """FatJet (flat, with ``fat_counts`` per event) and flat PFCands / FatJetPFCands.

    ``prep`` is :func:`~simulation.detector.prepare_partons` of ``t`` if already computed.
    """
    det = s.detector
    tj = cluster_partons(t, R_AK8, prep)
    n_ev = tj["px"].shape[0]
    # the true AK8 jets (a flat list), their detector response and acceptance
    rows, slots = np.nonzero(tj["valid"])
    tpt, teta, _, _ = kin.to_ptetaphim(*(tj[k][rows, slots] for k in ("px", "py", "pz", "e")),
                                       phi=False, mass=False)
    resp = 1.0 + jet_resolution(tpt, det) * rng.standard_normal(len(tpt))
    keep = (tpt * resp > s.fatjet_pt_min) & (np.abs(teta) < 2.4)
    rows, slots, resp = rows[keep], slots[keep], resp[keep]
    # fat-jet ids: event by event, by reco pT within each event
    order = by_event_then_hardest(rows, tpt[keep] * resp)
    rows, slots, resp = rows[order], slots[order], resp[order]
    n_fj = len(rows)
    n_fj_ev, local_fj = position_in_event(rows, n_ev)  # local_fj: FatJet index in event
    fj_of_slot = np.full(tj["px"].shape, -1)
    fj_of_slot[rows, slots] = np.arange(n_fj)
    # partons of kept fat jets -> prongs, grouped by fat jet
    p_owner_fj = np.take_along_axis(fj_of_slot, tj["owner"], axis=1)
    p_rows, p_slots = np.nonzero(tj["parton_ok"] & (p_owner_fj >= 0))
    pr_fj = p_owner_fj[p_rows, p_slots]
    by_jet = np.argsort(pr_fj, kind="stable")
    pr_fj, p_rows, p_slots = pr_fj[by_jet], p_rows[by_jet], p_slots[by_jet]
    pr_pt = np.hypot(tj["parton_px"][p_rows, p_slots], tj["parton_py"][p_rows, p_slots])
    pr_eta, pr_phi = tj["parton_eta"][p_rows, p_slots], tj["parton_phi"][p_rows, p_slots]
    pr_start = np.zeros(n_fj + 1, np.int64)
    np.cumsum(np.bincount(pr_fj, minlength=n_fj), out=pr_start[1:])
    # showering: multiplicity ~ 4 + pT/8 (an AK8 top jet of 400 GeV has ~60-80)
    mult = 4 + rng.poisson(np.minimum(pr_pt / 8.0, 200.0))
    n_made = np.bincount(pr_fj, weights=mult, minlength=n_fj).astype(np.int64) + N_SOFT
    n_const = np.minimum(n_made, s.max_fatjet_constituents)
    c_start = np.zeros(n_fj + 1, np.int64)
    np.cumsum(n_const, out=c_start[1:])
    # an event's jets are numbered one after another, so its candidates are one
    # contiguous run starting at that of its first jet
    first_cand = c_start[np.arange(n_fj) - local_fj]
    max_prongs = int(np.diff(pr_start).max(initial=1))
    pf, c_prong, c_link = _shower_jets(rng, pr_start, pr_pt, pr_eta, pr_phi,
                                       mult.astype(np.int64), c_start,
                                       int(n_made.max(initial=0)), max_prongs, local_fj,
                                       first_cand)
    # Cartesian momenta in float32 (what is written), as whole arrays: numpy's SIMD
    # float32 trigonometry is ~10x faster than a per-candidate call inside the loop
    c_pt, c_eta, c_phi, c_mass = pf[:4]
    p4 = (c_pt * np.cos(c_phi), c_pt * np.sin(c_phi), c_pt * np.sinh(c_eta))
    p4 += (np.sqrt(p4[0] * p4[0] + p4[1] * p4[1] + p4[2] * p4[2] + c_mass * c_mass),)
    jet = _measure_jets(pr_start, c_start, max_prongs, c_prong, c_pt, c_eta, c_phi, *p4)
    # fat-jet four-vector: sum of stored constituents, scaled by the detector response
    jpt, jeta, jphi, jm = kin.to_ptetaphim(jet[0], jet[1], jet[2], jet[3])
    nb = np.bincount(pr_fj, weights=tj["parton_isb"][p_rows, p_slots], minlength=n_fj)
    hflav = tj["hadronFlavour"][rows, slots]
    fat = {"pt": jpt * resp, "eta": jeta, "phi": jphi, "mass": jm * resp,
           "msoftdrop": jet[4] * resp, "tau1": jet[5], "tau2": jet[6], "tau3": jet[7],
           "rawFactor": np.clip(0.05 + 0.01 * rng.standard_normal(n_fj), 0, 0.3),
           "area": rng.normal(2.0, 0.05, n_fj), "jetId": np.full(n_fj, 6),
           "hadronFlavour": hflav, "nConstituents": np.minimum(n_const, 255),
           "nBHadrons": nb.astype(int)}
    names = ("pt", "eta", "phi", "mass", "charge", "pdgId", "d0", "dz", "puppiWeight")
    pfc = dict(zip(names, pf, strict=True))
    jet_idx, cand_idx = c_link[0], c_link[1]
    if s.pfcands_fatjet_pt_min is not None:  # only the jets the boosted tagger looks at
        seen = fat["pt"] > s.pfcands_fatjet_pt_min
        write = np.repeat(seen, n_const)
        pfc = {k: v[write] for k, v in pfc.items()}
        jet_idx = jet_idx[write]
        # renumber the candidates within each event (they stay in their order)
        _, cand_idx = position_in_event(np.repeat(rows, n_const)[write], n_ev)
        n_const = np.where(seen, n_const, 0)
    n_c_ev = np.bincount(rows, weights=n_const, minlength=n_ev).astype(np.int64)
    pfc["counts"] = n_c_ev
    link = {"pt": pfc["pt"], "jetIdx": jet_idx, "pFCandsIdx": cand_idx, "counts": n_c_ev}
    if not s.write_link_pt:
        link.pop("pt")
    return {"FatJet": fat, "fat_counts": n_fj_ev, "PFCands": pfc, "FatJetPFCands": link}


@numba.njit(cache=True)
def _shower_jets(rng, pr_start, pr_pt, pr_eta, pr_phi, mult, c_start, max_made, max_pr,
                 local_fj, first_cand):
    """Shower every fat jet's prongs into PF candidates and keep the hardest.

    Returns the candidates (flat, jet after jet, each jet's hardest first) as
    (pt, eta, phi, mass, charge, pdgId, d0, dz, puppiWeight); the prong (index within
    its jet) each comes from, -1 for the soft ones; and the FatJetPFCands links
    (jetIdx, pFCandsIdx) numbered within the event.
    """
    n_fj = len(c_start) - 1
    n_c = c_start[-1]
    c_pt, c_eta, c_phi = np.empty(n_c, np.float32), np.empty(n_c, np.float32), \
        np.empty(n_c, np.float32)
    c_mass, c_d0, c_dz = np.empty(n_c, np.float32), np.empty(n_c, np.float32), \
        np.empty(n_c, np.float32)
    c_puppi = np.empty(n_c, np.float32)
    c_charge, c_pdg = np.empty(n_c, np.int32), np.empty(n_c, np.int32)
    c_prong = np.empty(n_c, np.int32)
    c_link = np.empty((2, n_c), np.int32)
    # per-jet scratch: made candidates (pt, momentum fraction, prong index or -1 for soft)
    s_pt, s_z = np.empty(max_made), np.empty(max_made)
    s_grp = np.empty(max_made, np.int64)
    head, end = np.empty(max_pr + 1, np.int64), np.empty(max_pr + 1, np.int64)
    for j in range(n_fj):
        p0, p1 = pr_start[j], pr_start[j + 1]
        # jet axis for the soft candidates: the massless sum of the prongs
        ax = ay = az = 0.0
        for p in range(p0, p1):
            ax += pr_pt[p] * np.cos(pr_phi[p])
            ay += pr_pt[p] * np.sin(pr_phi[p])
            az += pr_pt[p] * np.sinh(pr_eta[p])
        a_pt = np.hypot(ax, ay)
        a_eta = np.arcsinh(az / a_pt) if a_pt > 0 else 0.0
        a_phi = np.arctan2(ay, ax)
        # each prong's (and the soft) candidates are made hardest first: the order
        # statistics of m exponentials, E_(i) = E_(i-1) + X_i / (m - i + 1) (Renyi), so
        # no sort is needed; merging the few sorted lists gives the jet's hardest first
        k = 0
        for p in range(p0, p1):
            m = mult[p]
            e_i = zsum = 0.0
            for i in range(m):  # z ~ E^1.5: a few hard, many soft particles
                e_i += rng.standard_exponential() / (m - i)
                s_pt[k + m - 1 - i] = e_i * np.sqrt(e_i)
                zsum += s_pt[k + m - 1 - i]
            for i in range(k, k + m):
                s_z[i] = s_pt[i] / zsum
                s_pt[i] = s_z[i] * pr_pt[p]
                s_grp[i] = p - p0
            head[p - p0], end[p - p0] = k, k + m
            k += m
        e_i = 0.0
        for i in range(N_SOFT):  # soft candidates, spread over the jet area (below)
            e_i += 1.2 * rng.standard_exponential() / (N_SOFT - i)
            s_pt[k + N_SOFT - 1 - i] = e_i + 0.3
            s_grp[k + i] = -1
        n_lists = p1 - p0 + 1
        head[n_lists - 1], end[n_lists - 1] = k, k + N_SOFT
        for c in range(c_start[j], c_start[j + 1]):
            src_list, best = 0, -1.0
            for lst in range(n_lists):  # the hardest remaining candidate of any list
                if head[lst] < end[lst] and s_pt[head[lst]] > best:
                    best, src_list = s_pt[head[lst]], lst
            src = head[src_list]
            head[src_list] += 1
            g = s_grp[src]
            # directions only for the stored candidates: angular spread shrinks with the
            # momentum fraction; soft ones are uniform over the jet area
            if g >= 0:
                spread = min(max(0.006 / np.sqrt(max(s_z[src], 1e-4)), 0.003), 0.3)
                eta = pr_eta[p0 + g] + spread * rng.standard_normal()
                phi = pr_phi[p0 + g] + spread * rng.standard_normal()
            else:
                r = R_AK8 * np.sqrt(rng.random())
                a = rng.uniform(-np.pi, np.pi)
                eta = a_eta + r * np.cos(a)
                phi = a_phi + r * np.sin(a)
            # species: 60 % charged pions, 25 % photons, 15 % neutral hadrons
            u = rng.random()
            charge = (1 if u < 0.3 else -1) if u < 0.6 else 0
            c_pt[c], c_eta[c], c_phi[c] = s_pt[src], eta, wrap_angle(phi)
            c_mass[c] = M_PION if u < 0.6 else 0.0
            c_charge[c] = charge
            c_pdg[c] = 211 * charge if u < 0.6 else (22 if u < 0.85 else 130)
            c_d0[c] = rng.normal(0.0, 0.003) if charge != 0 else 0.0
            c_dz[c] = rng.normal(0.0, 0.01) if charge != 0 else 0.0
            c_puppi[c] = rng.uniform(0.3, 1.0) if g < 0 else 1.0
            c_prong[c] = g
            c_link[0, c], c_link[1, c] = local_fj[j], c - first_cand[j]
    pf = (c_pt, c_eta, c_phi, c_mass, c_charge, c_pdg, c_d0, c_dz, c_puppi)
    return pf, c_prong, c_link


@numba.njit(cache=True)
def _measure_jets(pr_start, c_start, max_pr, c_prong, c_pt, c_eta, c_phi, c_px, c_py, c_pz,
                  c_e):
    """Per fat jet from its stored candidates: (px, py, pz, E, prong-level soft-drop mass,
    tau1, tau2, tau3), shape (8, n_fat_jets)."""
    n_fj = len(c_start) - 1
    jet = np.zeros((8, n_fj))
    g4 = np.empty((max_pr, 4))
    g_pt = np.empty(max_pr)
    axes_eta, axes_phi = np.empty(3), np.empty(3)
    for j in range(n_fj):
        n_pr, c0, c1 = pr_start[j + 1] - pr_start[j], c_start[j], c_start[j + 1]
        g4[:n_pr] = 0.0
        jx = jy = jz = je = jpt = 0.0
        for c in range(c0, c1):
            jx += c_px[c]
            jy += c_py[c]
            jz += c_pz[c]
            je += c_e[c]
            jpt += c_pt[c]
            g = c_prong[c]
            if g >= 0:
                g4[g, 0] += c_px[c]
                g4[g, 1] += c_py[c]
                g4[g, 2] += c_pz[c]
                g4[g, 3] += c_e[c]
        jet[0, j], jet[1, j], jet[2, j], jet[3, j] = jx, jy, jz, je
        # soft drop at the prong level: drop prongs below z_cut of the jet pT
        # (a prong whose candidates were all cut has E = 0 and g_pt = -1)
        sx = sy = sz = se = 0.0
        for g in range(n_pr):
            g_pt[g] = np.hypot(g4[g, 0], g4[g, 1]) if g4[g, 3] > 0 else -1.0
            if g_pt[g] >= ZCUT * jpt:
                sx += g4[g, 0]
                sy += g4[g, 1]
                sz += g4[g, 2]
                se += g4[g, 3]
        jet[4, j] = np.sqrt(max(se * se - sx * sx - sy * sy - sz * sz, 0.0))
        # tau_N axes: prongs (with stored candidates) by descending pT, then the hardest
        # candidates where there are fewer than N prongs
        by_pt = np.argsort(-g_pt[:n_pr])
        for a in range(3):
            if a < n_pr and g_pt[by_pt[a]] >= 0.0:
                g = by_pt[a]
                axes_eta[a] = np.arcsinh(g4[g, 2] / g_pt[g]) if g_pt[g] > 0 else 0.0
                axes_phi[a] = np.arctan2(g4[g, 1], g4[g, 0])
            else:
                hard = c0 + min(a, c1 - c0 - 1)
                axes_eta[a], axes_phi[a] = c_eta[hard], c_phi[hard]
        t1 = t2 = t3 = 0.0
        for c in range(c0, c1):
            dmin = 1e9
            for a in range(3):
                dphi = wrap_angle(c_phi[c] - axes_phi[a])
                deta = c_eta[c] - axes_eta[a]
                dmin = min(dmin, np.sqrt(deta * deta + dphi * dphi))
                w = c_pt[c] * dmin
                if a == 0:
                    t1 += w
                elif a == 1:
                    t2 += w
                else:
                    t3 += w
        norm = jpt * R_AK8 if jpt > 0 else 1.0
        jet[5, j], jet[6, j], jet[7, j] = t1 / norm, t2 / norm, t3 / norm
    return jet
