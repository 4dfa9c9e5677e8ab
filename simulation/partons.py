"""Parton-level events as padded per-event tables, and the decay blocks that fill them.

A :class:`PartonTable` holds ``n`` events x ``P`` particle slots. Each process (see
:mod:`simulation.processes`) lays out a fixed sequence of slots (e.g. t, b, W, q, q', tau
product for each top) and marks unused ones invalid, so every step stays a numpy array
operation over all events at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulation import kinematics as kin
from simulation.settings import GeneratorSettings

# statusFlags bits (NanoAOD GenPart doc)
IS_PROMPT = 1 << 0
IS_PROMPT_TAU_DECAY_PRODUCT = 1 << 3
IS_TAU_DECAY_PRODUCT = 1 << 4
IS_DIRECT_PROMPT_TAU_DECAY_PRODUCT = 1 << 5
IS_HARD_PROCESS = 1 << 7
FROM_HARD_PROCESS = 1 << 8
IS_FIRST_COPY = 1 << 12
IS_LAST_COPY = 1 << 13
HARD = IS_PROMPT | IS_HARD_PROCESS | FROM_HARD_PROCESS | IS_FIRST_COPY | IS_LAST_COPY
RADIATION = IS_PROMPT | IS_FIRST_COPY | IS_LAST_COPY
TAU_PRODUCT = (
    IS_TAU_DECAY_PRODUCT | IS_PROMPT_TAU_DECAY_PRODUCT | IS_DIRECT_PROMPT_TAU_DECAY_PRODUCT
    | FROM_HARD_PROCESS | IS_FIRST_COPY | IS_LAST_COPY
)
M_TAU, M_E, M_MU = 1.77686, 0.000511, 0.10566


@dataclass
class PartonTable:
    """Padded particle table: every field has shape (n_events, n_slots) except ``n_rad``.

    ``jet`` marks visible coloured final states (quarks, gluons, hadronic tau) that make
    jets; ``lepton`` visible prompt e/mu; ``genpart`` what is written to GenPart;
    ``mother`` is a slot index in the same event (-1 for none).
    """

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    mass: np.ndarray
    pdg: np.ndarray
    mother: np.ndarray
    status: np.ndarray
    flags: np.ndarray
    jet: np.ndarray
    lepton: np.ndarray
    genpart: np.ndarray
    valid: np.ndarray
    n_rad: np.ndarray

    def take(self, rows: np.ndarray) -> PartonTable:
        """The events selected by a boolean mask or index array."""
        return PartonTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @property
    def n_events(self) -> int:
        """Number of events."""
        return self.px.shape[0]


def block(n: int, k: int) -> dict[str, np.ndarray]:
    """An empty block of k slots for n events (all invalid)."""
    z = np.zeros((n, k))
    return {
        "px": z.copy(), "py": z.copy(), "pz": z.copy(), "e": z.copy(), "mass": z.copy(),
        "pdg": np.zeros((n, k), np.int32), "mother": np.full((n, k), -1, np.int32),
        "status": np.zeros((n, k), np.int32), "flags": np.zeros((n, k), np.int32),
        "jet": np.zeros((n, k), bool), "lepton": np.zeros((n, k), bool),
        "genpart": np.zeros((n, k), bool), "valid": np.zeros((n, k), bool),
    }


def put(b: dict, j: int, p4: kin.FourVec, mass, pdg, status, flags, *, jet=False,
        lepton=False, genpart=True, valid=True, mother=-1) -> None:
    """Fill slot j of block b (mother is a slot index inside the block, or -1)."""
    b["px"][:, j], b["py"][:, j], b["pz"][:, j], b["e"][:, j] = p4
    b["mass"][:, j] = mass
    b["pdg"][:, j] = pdg
    b["status"][:, j] = status
    b["flags"][:, j] = flags
    b["jet"][:, j] = jet
    b["lepton"][:, j] = lepton
    b["genpart"][:, j] = genpart
    b["valid"][:, j] = valid
    b["mother"][:, j] = mother


def concat(blocks: list[dict], n_rad: np.ndarray) -> PartonTable:
    """Join blocks side by side, shifting each block's mother indices by its offset."""
    out: dict[str, list] = {k: [] for k in blocks[0]}
    offset = 0
    for b in blocks:
        for k, v in b.items():
            if k == "mother":
                v = np.where(v >= 0, v + offset, -1)
            out[k].append(v)
        offset += b["px"].shape[1]
    arrays = {k: np.concatenate(v, axis=1) for k, v in out.items()}
    return PartonTable(**arrays, n_rad=n_rad)


def _quark_mass(s: GeneratorSettings, pdg: np.ndarray) -> np.ndarray:
    a = np.abs(pdg)
    return np.where(a == 5, s.m_b, np.where(a == 4, s.m_c, 0.0))


def boson_decay_block(
    rng: np.random.Generator, boson: kin.FourVec, kind: str, sign: np.ndarray,
    s: GeneratorSettings,
) -> dict:
    """Block [V, d1, d2, d3] for a W (``sign`` = W charge), Z or H of four-momentum ``boson``.

    W: hadronic (ud or cs), e, mu, tau (d3 = visible tau product: e/mu or a hadronic
    tau handled as a jet). Z: qq by PDG flavour fractions, nu nu, or ee/mumu (Z -> tau tau
    is folded into ee/mumu). H: b bbar, all other decays emulated as gg.
    """
    n = boson[0].shape[0]
    b = block(n, 4)
    u = rng.uniform(size=n)
    if kind == "W":
        br = np.array([s.br_w_hadronic, s.br_w_e, s.br_w_mu, s.br_w_tau])
        mode = np.searchsorted(np.cumsum(br / br.sum()), u)  # 0 had, 1 e, 2 mu, 3 tau
        cs = rng.uniform(size=n) < 0.5  # W -> cs vs ud (CKM off-diagonal neglected)
        up = np.where(cs, 4, 2)
        lep = np.choose(np.minimum(mode, 3), [0, 11, 13, 15])
        pdg1 = np.where(mode == 0, up * sign, -lep * sign)  # W+ -> u or l+ (pdg -11)
        pdg2 = np.where(mode == 0, -(up - 1) * sign, (lep + 1) * sign)  # dbar/sbar or nu
        vpdg = 24 * sign
    elif kind == "Z":
        had_fr = np.array([0.152, 0.116, 0.152, 0.116, 0.152])  # d u s c b (PDG)
        br = np.array([s.br_z_hadronic, s.br_z_invisible, 1.0 - s.br_z_hadronic
                       - s.br_z_invisible])
        mode = np.searchsorted(np.cumsum(br / br.sum()), u)
        q = 1 + np.searchsorted(np.cumsum(had_fr / had_fr.sum()), rng.uniform(size=n))
        lep = np.where(rng.uniform(size=n) < 0.5, 11, 13)
        f = np.choose(np.minimum(mode, 2), [q, np.full(n, 14), lep])
        pdg1, pdg2 = f, -f
        mode = np.choose(np.minimum(mode, 2), [0, 4, np.where(lep == 11, 1, 2)])
        vpdg = np.full(n, 23)
    else:  # H
        isbb = rng.uniform(size=n) < s.br_h_bb
        pdg1 = np.where(isbb, 5, 21)
        pdg2 = np.where(isbb, -5, 21)
        mode = np.zeros(n, int)
        vpdg = np.full(n, 25)
    m1 = np.where(np.abs(pdg1) == 15, M_TAU, np.where(np.abs(pdg1) == 11, M_E, np.where(
        np.abs(pdg1) == 13, M_MU, _quark_mass(s, pdg1))))
    m2 = _quark_mass(s, pdg2)
    d1, d2 = kin.isotropic_decay(rng, boson, m1, m2)
    put(b, 0, boson, kin.mass_of(*boson), vpdg, 22, HARD)
    had = mode == 0
    put(b, 1, d1, m1, pdg1, np.where(had, 23, np.where(mode == 3, 2, 1)), HARD, jet=had,
        lepton=(mode == 1) | (mode == 2), mother=0)
    put(b, 2, d2, m2, pdg2, np.where(had, 23, 1), HARD, jet=had,
        lepton=(kind == "Z") & ((mode == 1) | (mode == 2)), mother=0)
    # tau: collinear decay, visible momentum fraction x (leptonic softer than hadronic)
    tau = mode == 3
    r = rng.uniform(size=n)
    tau_lep = np.where(r < s.br_tau_e, 11, np.where(r < s.br_tau_e + s.br_tau_mu, 13, 0))
    x = np.where(tau_lep > 0, rng.beta(1.6, 2.2, n), rng.beta(2.5, 1.5, n))
    mvis = np.where(tau_lep == 11, M_E, np.where(tau_lep == 13, M_MU, 1.0))
    px, py, pz = x * d1[0], x * d1[1], x * d1[2]
    p4 = (px, py, pz, np.sqrt(px * px + py * py + pz * pz + mvis * mvis))
    tsign = np.sign(pdg1)
    is_lep = tau & (tau_lep > 0)
    put(b, 3, p4, mvis, np.where(tau_lep > 0, tau_lep * tsign, 15 * tsign), 1, TAU_PRODUCT,
        jet=tau & (tau_lep == 0), lepton=is_lep, genpart=is_lep, valid=tau, mother=1)
    return b


def top_block(rng: np.random.Generator, top: kin.FourVec, sign: np.ndarray,
              s: GeneratorSettings) -> dict:
    """Block [t, b, W, d1, d2, d3]: t -> b W with a Breit-Wigner W mass, W decayed."""
    n = top[0].shape[0]
    mt = kin.mass_of(*top)
    mw = kin.breit_wigner(rng, s.m_w, s.width_w, n, s.bw_cut_widths)
    mw = np.minimum(mw, mt - s.m_b - 1.0)
    bq, w = kin.isotropic_decay(rng, top, np.full(n, s.m_b), mw)
    b = block(n, 2)
    put(b, 0, top, mt, 6 * sign, 62, HARD)
    put(b, 1, bq, s.m_b, 5 * sign, 23, HARD, jet=True, mother=0)
    wb = boson_decay_block(rng, w, "W", sign, s)
    wb["mother"][:, 0] = -2  # placeholder: W's mother is the top (slot 0 of this block)
    out = {k: np.concatenate([b[k], wb[k]], axis=1) for k in b}
    m = out["mother"]
    m[:, 2:] = np.where(m[:, 2:] >= 0, m[:, 2:] + 2, m[:, 2:])
    m[:, 2] = 0
    return out
