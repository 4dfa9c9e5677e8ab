"""AK8 jets with PF constituents (PFNano layout), substructure computed from constituents.

Partons closer than Delta R 0.8 form one AK8 jet. Each parton showers into PF candidates
(multiplicity growing with pT, momentum fractions ~ E^1.5 with E exponential, angular
spread shrinking with momentum fraction); soft radiation / underlying event adds soft
candidates over the whole jet. So a hadronic top gives a three-prong jet, a W two-prong,
and a QCD parton one-prong. Only constituents of stored AK8 jets are written to PFCands,
at most ``max_fatjet_constituents`` (100) per jet, hardest first; FatJet_nConstituents
is the number stored, so coffea can link ``FatJet`` to its ``FatJetPFCands``.

msoftdrop: soft drop (z_cut = 0.1, beta = 0) applied at the prong level: prongs (one per
parton) carrying less than 10 % of the jet pT and all soft candidates are dropped.
tau_N: N-subjettiness with R0 = 0.8 and the N hardest prong axes as axes (the hardest
constituents of the leading prong fill in when there are fewer prongs than N).
"""

from __future__ import annotations

import numpy as np

from simulation import kinematics as kin
from simulation.detector import cluster_partons, jet_resolution
from simulation.partons import PartonTable
from simulation.settings import GeneratorSettings

R_AK8 = 0.8
ZCUT = 0.1
N_SOFT = 12  # soft candidates per AK8 jet (UE + soft radiation after PUPPI)


def _group_sum(idx: np.ndarray, n: int, *arrays: np.ndarray) -> list[np.ndarray]:
    return [np.bincount(idx, weights=a, minlength=n) for a in arrays]


def fatjets(rng: np.random.Generator, t: PartonTable, s: GeneratorSettings,
            prep: dict | None = None) -> dict:
    """FatJet (padded, with ``valid``) and flat PFCands / FatJetPFCands with counts.

    ``prep`` is :func:`~simulation.detector.prepare_partons` of ``t`` if already computed.
    """
    det = s.detector
    tj = cluster_partons(t, R_AK8, prep)
    n_ev, width = tj["px"].shape
    tpt, teta, _, _ = kin.to_ptetaphim(tj["px"], tj["py"], tj["pz"], tj["e"], phi=False,
                                       mass=False)
    resp = 1.0 + jet_resolution(tpt, det) * rng.standard_normal(tpt.shape)
    keep = tj["valid"] & (tpt * resp > s.fatjet_pt_min) & (np.abs(teta) < 2.4)
    # fat-jet ids: order kept jets by reco pT within each event
    order = np.argsort(np.where(keep, -tpt * resp, np.inf), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(width)[None, :], axis=1)
    n_fj_ev = keep.sum(axis=1)
    fj_offset = np.concatenate([[0], np.cumsum(n_fj_ev)[:-1]])
    fj_global = np.where(keep, fj_offset[:, None] + rank, -1)
    n_fj = int(n_fj_ev.sum())
    # partons of kept fat jets -> prongs
    p_owner_fj = np.take_along_axis(fj_global, tj["owner"], axis=1)
    p_sel = tj["parton_ok"] & (p_owner_fj >= 0)
    ppt, peta, pphi, _ = kin.to_ptetaphim(tj["parton_px"], tj["parton_py"], tj["parton_pz"],
                                          tj["parton_e"], mass=False)
    pr_fj, pr_pt, pr_eta, pr_phi = (a[p_sel] for a in (p_owner_fj, ppt, peta, pphi))
    n_pr = len(pr_fj)
    # showering: multiplicity ~ 4 + pT/8 (an AK8 top jet of 400 GeV has ~60-80)
    mult = 4 + rng.poisson(np.minimum(pr_pt / 8.0, 200.0))
    c_pr = np.repeat(np.arange(n_pr), mult)
    z = rng.standard_exponential(len(c_pr)) ** 1.5  # a few hard, many soft particles
    # x[c_pr] == np.repeat(x, mult) (c_pr is sorted): repeat is the cheaper gather
    z /= np.repeat(np.bincount(c_pr, weights=z, minlength=n_pr), mult)
    spread = np.clip(0.02 / np.sqrt(np.maximum(z, 1e-4)) * 0.3, 0.003, 0.3)
    c_pt = z * np.repeat(pr_pt, mult)
    c_eta = np.repeat(pr_eta, mult) + spread * rng.standard_normal(len(c_pr), dtype=np.float32)
    c_phi = np.repeat(pr_phi, mult) + spread * rng.standard_normal(len(c_pr), dtype=np.float32)
    c_fj = np.repeat(pr_fj, mult)
    c_grp = c_pr
    # soft candidates spread over each jet (group id n_pr + fat-jet id: never a prong)
    s_fj = np.repeat(np.arange(n_fj), N_SOFT)
    fj_eta, fj_phi = np.zeros(n_fj), np.zeros(n_fj)
    fpx, fpy, fpz, fe = _group_sum(pr_fj, n_fj, *kin.from_ptetaphim(pr_pt, pr_eta, pr_phi,
                                                                   np.zeros(n_pr)))
    _, fj_eta, fj_phi, _ = kin.to_ptetaphim(fpx, fpy, fpz, fe, mass=False)
    r = R_AK8 * np.sqrt(rng.uniform(size=len(s_fj)))
    a = rng.uniform(-np.pi, np.pi, len(s_fj))
    c_pt = np.concatenate([c_pt, rng.exponential(1.2, len(s_fj)) + 0.3])
    c_eta = np.concatenate([c_eta, np.repeat(fj_eta, N_SOFT) + r * np.cos(a)])
    c_phi = np.concatenate([c_phi, np.repeat(fj_phi, N_SOFT) + r * np.sin(a)])
    c_fj = np.concatenate([c_fj, s_fj])
    c_grp = np.concatenate([c_grp, n_pr + s_fj])
    c_phi = kin.wrap_phi(c_phi)
    # hardest first within each fat jet; cap the stored number
    srt = np.argsort(c_fj + 1.0 / (2.0 + c_pt))  # by jet, then descending pT (faster)
    c_fj = c_fj[srt]
    n_all = np.bincount(c_fj, minlength=n_fj)
    start = np.cumsum(n_all) - n_all  # == searchsorted(c_fj, arange(n_fj)): c_fj is sorted
    stored = (np.arange(len(c_fj)) - np.repeat(start, n_all)) < s.max_fatjet_constituents
    srt = srt[stored]
    c_pt, c_eta, c_phi, c_grp = (x[srt] for x in (c_pt, c_eta, c_phi, c_grp))
    c_fj = c_fj[stored]
    # species (independent of kinematics, so drawn after the cap): 60 % charged pions,
    # 25 % photons, 15 % neutral hadrons
    u = rng.uniform(size=len(c_pt))
    charge = np.where(u < 0.6, np.where(u < 0.3, 1, -1), 0)
    pdg = np.where(u < 0.6, 211 * charge, np.where(u < 0.85, 22, 130))
    mass = np.where(u < 0.6, 0.13957, 0.0)
    cpx, cpy, cpz, ce = kin.from_ptetaphim(c_pt, c_eta, c_phi, mass)
    sub = _substructure(c_fj, c_grp, n_pr, n_fj, (cpx, cpy, cpz, ce), c_pt, c_eta, c_phi)
    # fat-jet four-vector: sum of stored constituents, scaled by the detector response
    jx, jy, jz, je = _group_sum(c_fj, n_fj, cpx, cpy, cpz, ce)
    f_resp = np.zeros(n_fj)
    f_resp[fj_global[keep]] = resp[keep]
    jpt, jeta, jphi, jm = kin.to_ptetaphim(jx, jy, jz, je)
    nb = np.bincount(pr_fj, weights=tj["parton_isb"][p_sel].astype(float), minlength=n_fj)
    hflav = np.zeros(n_fj, int)
    hflav[fj_global[keep]] = tj["hadronFlavour"][keep]
    n_const = np.bincount(c_fj, minlength=n_fj)
    fat = {"pt": jpt * f_resp, "eta": jeta, "phi": jphi, "mass": jm * f_resp,
           "msoftdrop": sub["msd"] * f_resp, "tau1": sub["tau"][0], "tau2": sub["tau"][1],
           "tau3": sub["tau"][2],
           "rawFactor": np.clip(0.05 + 0.01 * rng.standard_normal(n_fj), 0, 0.3),
           "area": rng.normal(2.0, 0.05, n_fj), "jetId": np.full(n_fj, 6),
           "hadronFlavour": hflav, "nConstituents": np.minimum(n_const, 255),
           "nBHadrons": nb.astype(int)}
    ev_of_fj = np.repeat(np.arange(n_ev), n_fj_ev)
    local_fj = np.arange(n_fj) - fj_offset[ev_of_fj]
    ev_of_c = ev_of_fj[c_fj]
    n_c_ev = np.bincount(ev_of_c, minlength=n_ev)
    c_off = np.concatenate([[0], np.cumsum(n_c_ev)[:-1]])
    cand_idx = np.arange(len(c_fj)) - c_off[ev_of_c]
    pf = {"pt": c_pt, "eta": c_eta, "phi": c_phi, "mass": mass, "charge": charge,
          "pdgId": pdg, "d0": np.where(charge != 0, rng.normal(0, 0.003, len(c_pt)), 0.0),
          "dz": np.where(charge != 0, rng.normal(0, 0.01, len(c_pt)), 0.0),
          "puppiWeight": np.where(c_grp >= n_pr, rng.uniform(0.3, 1.0, len(c_pt)), 1.0),
          "counts": n_c_ev}
    link = {"pt": c_pt, "jetIdx": local_fj[c_fj], "pFCandsIdx": cand_idx, "counts": n_c_ev}
    return {"FatJet": fat, "fat_counts": n_fj_ev, "PFCands": pf, "FatJetPFCands": link}


def _substructure(c_fj, c_grp, n_pr, n_fj, p4, c_pt, c_eta, c_phi) -> dict:
    """Prong-level soft-drop mass and tau1..3 of every fat jet from its constituents."""
    n_grp = n_pr + n_fj
    gx, gy, gz, ge = _group_sum(c_grp, n_grp, *p4)
    gpt, geta, gphi, _ = kin.to_ptetaphim(gx, gy, gz, ge, mass=False)
    g_fj = np.full(n_grp, -1)
    g_fj[c_grp] = c_fj
    g_fj[n_pr:] = np.arange(n_fj)
    jpt = np.bincount(c_fj, weights=c_pt, minlength=n_fj)
    prong = np.arange(n_grp) < n_pr
    groomed = prong & (g_fj >= 0) & (gpt >= ZCUT * jpt[np.maximum(g_fj, 0)])
    sx, sy, sz, se = (np.bincount(g_fj[groomed], weights=a[groomed], minlength=n_fj)
                      for a in (gx, gy, gz, ge))
    msd = kin.mass_of(sx, sy, sz, se)
    # axes: prongs by descending pT, then the hardest constituents as fill-ins
    pr_ok = prong & (g_fj >= 0)
    pidx = np.flatnonzero(pr_ok)
    pidx = pidx[np.lexsort((-gpt[pidx], g_fj[pidx]))]
    p_start = np.searchsorted(g_fj[pidx], np.arange(n_fj))
    p_rank = np.arange(len(pidx)) - p_start[g_fj[pidx]]
    c_start = np.searchsorted(c_fj, np.arange(n_fj))  # constituents are pT-sorted per jet
    axes_eta = np.zeros((n_fj, 3))
    axes_phi = np.zeros((n_fj, 3))
    n_prongs = np.bincount(g_fj[pidx], minlength=n_fj)
    for k in range(3):
        sel = p_rank == k
        fill_c = np.minimum(c_start + k, len(c_fj) - 1)  # k-th hardest constituent
        axes_eta[:, k] = c_eta[fill_c] if len(c_fj) else 0.0
        axes_phi[:, k] = c_phi[fill_c] if len(c_fj) else 0.0
        axes_eta[g_fj[pidx[sel]], k] = geta[pidx[sel]]
        axes_phi[g_fj[pidx[sel]], k] = gphi[pidx[sel]]
    del n_prongs
    taus = []
    n_c = np.bincount(c_fj, minlength=n_fj)  # c_fj is sorted: x[c_fj] == repeat(x, n_c)
    dmin = None
    for k in range(3):
        dr = kin.delta_r(c_eta, c_phi, np.repeat(axes_eta[:, k], n_c),
                         np.repeat(axes_phi[:, k], n_c))
        dmin = dr if dmin is None else np.minimum(dmin, dr, out=dmin)
        num = np.bincount(c_fj, weights=c_pt * dmin, minlength=n_fj)
        taus.append(np.where(jpt > 0, num / np.maximum(jpt * R_AK8, 1e-9), 0.0))
    return {"msd": msd, "tau": taus}
