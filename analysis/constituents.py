"""Fat-jet constituent tensors: the boosted top tagger's inputs (ParticleNet layout).

From NanoAOD/PFNano collections ``FatJet``, ``FatJetPFCands`` (jetIdx, pFCandsIdx) and
``PFCands`` this builds, per selected fat jet, the constituents sorted by pT and padded /
clipped to ``pad_length``: ``points`` (n, 2, P) = (delta eta, delta phi) to the jet axis,
``features`` (n, F, P) in the order of :data:`PARTICLE_FEATURES`, ``mask`` (n, 1, P), and
``jet_features`` (n, J) in the order of :data:`JET_FEATURES` (the NanoAOD fat-jet
substructure that weaver-style ParticleNet trainings feed to the classifier head: pT, mass,
soft-drop mass, tau21, tau32). Features are raw physics values; the standardisation
(weaver ``preprocess.json`` style: median, norm_factor, clip bounds) is part of the
exported ONNX graph and documented in its metadata.

The processor computes these for every preselected event, and the training makes its
samples with the same functions, so the tagger is trained on the layout it is applied to.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from common.kinematics import delta_phi

#: (name, meaning, units) of each per-particle feature, in input order.
PARTICLE_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("log_pt", "log(pT)", "log GeV"),
    ("log_e", "log(E)", "log GeV"),
    ("log_pt_rel", "log(pT / pT_jet)", ""),
    ("log_e_rel", "log(E / E_jet)", ""),
    ("delta_eta", "eta - eta_jet", ""),
    ("delta_phi", "phi - phi_jet wrapped to [-pi, pi)", "rad"),
    ("delta_r", "distance to the jet axis in (eta, phi)", ""),
    ("charge", "electric charge", "e"),
    ("is_charged_hadron", "|pdgId| = 211 or other charged hadron", ""),
    ("is_neutral_hadron", "|pdgId| in {130, 1 (HF hadron)}", ""),
    ("is_photon", "|pdgId| in {22, 2 (HF EM)}", ""),
    ("is_electron", "|pdgId| = 11", ""),
    ("is_muon", "|pdgId| = 13", ""),
    ("tanh_d0", "tanh(d0 / 0.1 cm); 0 for neutrals or when d0 is not stored", ""),
    ("tanh_dz", "tanh(dz / 0.1 cm); 0 for neutrals or when dz is not stored", ""),
)
POINT_FEATURES = ("delta_eta", "delta_phi")
#: (name, meaning, units) of each per-jet feature (NanoAOD ``FatJet`` branches), in order.
JET_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("log_pt", "log(FatJet_pt)", "log GeV"),
    ("log_mass", "log(1 + FatJet_mass / 1 GeV)", ""),
    ("msoftdrop", "FatJet_msoftdrop (soft drop z_cut 0.1, beta 0)", "GeV"),
    ("tau21", "FatJet_tau2 / FatJet_tau1 (1 when tau1 = 0)", ""),
    ("tau32", "FatJet_tau3 / FatJet_tau2 (1 when tau2 = 0)", ""),
)
IMPACT_SCALE_CM = 0.1  # b-hadron tracks have d0 of O(0.01-0.1) cm (c*tau_B ~ 0.045 cm, PDG)


def select_fatjets(fatjets: ak.Array, min_pt: float, max_abs_eta: float) -> ak.Array:
    """Boolean mask (jagged like ``fatjets``) of fat jets the tagger is applied to."""
    return (fatjets.pt > min_pt) & (abs(fatjets.eta) < max_abs_eta)


def has_constituents(events: ak.Array) -> bool:
    """Whether ``events`` carries the PFNano constituent collections."""
    fields = set(ak.fields(events))
    return {"FatJet", "FatJetPFCands", "PFCands"} <= fields


def jet_level_features(fatjets: ak.Array) -> np.ndarray:
    """(n, len(JET_FEATURES)) float32 array for flat fat jets (missing branches: 0 / 1)."""
    fields = set(ak.fields(fatjets))

    def col(name: str, default: float) -> np.ndarray:
        if name not in fields:
            return np.full(len(fatjets), default, np.float64)
        return ak.to_numpy(fatjets[name]).astype(np.float64)

    t1, t2, t3 = col("tau1", 0.0), col("tau2", 0.0), col("tau3", 0.0)
    return np.stack(
        [
            np.log(np.maximum(col("pt", 1.0), 1e-3)),
            np.log1p(np.maximum(col("mass", 0.0), 0.0)),
            col("msoftdrop", 0.0),
            np.where(t1 > 0, t2 / np.where(t1 > 0, t1, 1.0), 1.0),
            np.where(t2 > 0, t3 / np.where(t2 > 0, t2, 1.0), 1.0),
        ],
        axis=1,
    ).astype(np.float32)


def constituent_tensors(
    events: ak.Array, jet_mask: ak.Array, pad_length: int
) -> dict[str, np.ndarray]:
    """Padded constituent arrays for the fat jets selected by ``jet_mask``.

    Jets come out in event order, then in their order within the event (as
    ``ak.flatten(events.FatJet[jet_mask])``). Returns ``points``, ``features``, ``mask``
    and ``jet_features`` (float32), the inputs of the shipped boosted tagger.
    """
    n_fj = ak.to_numpy(ak.num(events.FatJet.pt)).astype(np.int64)
    fj_offsets = np.concatenate([[0], np.cumsum(n_fj)])[:-1]
    sel = ak.to_numpy(ak.flatten(jet_mask)).astype(bool)
    n_sel = int(sel.sum())
    nf = len(PARTICLE_FEATURES)
    if n_sel == 0:
        z = np.zeros((0, 1, pad_length), np.float32)
        return {
            "points": np.zeros((0, 2, pad_length), np.float32),
            "features": np.zeros((0, nf, pad_length), np.float32),
            "mask": z,
            "jet_features": np.zeros((0, len(JET_FEATURES)), np.float32),
        }
    link = events.FatJetPFCands
    cands = events.PFCands[link.pFCandsIdx]
    n_link = ak.to_numpy(ak.num(link.jetIdx))
    gjet = ak.to_numpy(ak.flatten(link.jetIdx)).astype(np.int64) + np.repeat(fj_offsets, n_link)

    def flat(coll, name, default=0.0):
        if name not in ak.fields(coll):
            return np.full(len(gjet), default, np.float64)
        return ak.to_numpy(ak.flatten(coll[name])).astype(np.float64)

    pt, eta, phi, mass = (flat(cands, k) for k in ("pt", "eta", "phi", "mass"))
    charge, pdg = flat(cands, "charge"), np.abs(flat(cands, "pdgId"))
    d0, dz = flat(cands, "d0"), flat(cands, "dz")
    keep = (gjet < len(sel)) & sel[np.minimum(gjet, len(sel) - 1)] & (pt > 0)
    # index of the selected jet each constituent belongs to
    new_index = np.cumsum(sel) - 1
    jet_of = new_index[gjet[keep]]
    pt, eta, phi, mass = pt[keep], eta[keep], phi[keep], mass[keep]
    charge, pdg, d0, dz = charge[keep], pdg[keep], d0[keep], dz[keep]
    # order: by jet, then by descending pT
    order = np.lexsort((-pt, jet_of))
    jet_of = jet_of[order]
    counts = np.bincount(jet_of, minlength=n_sel)
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    slot = np.arange(len(jet_of)) - starts[jet_of]
    inside = slot < pad_length
    rows, cols = jet_of[inside], slot[inside]
    o = order[inside]
    fj = events.FatJet[jet_mask]
    jpt = ak.to_numpy(ak.flatten(fj.pt)).astype(np.float64)[rows]
    jeta = ak.to_numpy(ak.flatten(fj.eta)).astype(np.float64)[rows]
    jphi = ak.to_numpy(ak.flatten(fj.phi)).astype(np.float64)[rows]
    jmass = ak.to_numpy(ak.flatten(fj.mass)).astype(np.float64)[rows]
    je = np.sqrt((jpt * np.cosh(jeta)) ** 2 + jmass**2)
    p, e_, ph = pt[o], None, phi[o]
    e_ = np.sqrt((p * np.cosh(eta[o])) ** 2 + mass[o] ** 2)
    deta, dphi = eta[o] - jeta, delta_phi(ph, jphi)
    charged = charge[o] != 0
    ap = pdg[o]
    vals = [
        np.log(p),
        np.log(e_),
        np.log(p / jpt),
        np.log(e_ / je),
        deta,
        dphi,
        np.hypot(deta, dphi),
        charge[o],
        (charged & ~np.isin(ap, [11, 13])).astype(float),
        np.isin(ap, [130, 1]).astype(float),
        np.isin(ap, [22, 2]).astype(float),
        (ap == 11).astype(float),
        (ap == 13).astype(float),
        np.where(charged, np.tanh(d0[o] / IMPACT_SCALE_CM), 0.0),
        np.where(charged, np.tanh(dz[o] / IMPACT_SCALE_CM), 0.0),
    ]
    features = np.zeros((n_sel, nf, pad_length), np.float32)
    for k, v in enumerate(vals):
        features[rows, k, cols] = v
    points = np.zeros((n_sel, 2, pad_length), np.float32)
    points[rows, 0, cols], points[rows, 1, cols] = deta, dphi
    mask = np.zeros((n_sel, 1, pad_length), np.float32)
    mask[rows, 0, cols] = 1.0
    jet_features = jet_level_features(ak.flatten(fj))
    return {"points": points, "features": features, "mask": mask, "jet_features": jet_features}
