"""Parton-level events as padded per-event tables, and the decay blocks that fill them.

A :class:`PartonTable` holds ``n`` events x ``P`` particle slots. Each process (see
:mod:`simulation.processes`) lays out a fixed sequence of slots (e.g. t, b, W, q, q', tau
product for each top) and marks unused ones invalid, so every step stays a numpy array
operation over all events at once.

While generating, a :class:`PartonBatch` keeps the slots as columns over events: one
:class:`Slot` per hard-process particle, and :class:`FreePartons` blocks for the
radiation-like partons. It gives the generator-filter HT of every event but builds table
rows only for the events asked for, as most events fail the filter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

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

Value = np.ndarray | float | int | bool  # a slot's values over events, or a constant
SLOT_FIELDS = {  # the (n_events, n_slots) fields of a PartonTable, with their dtypes
    "px": np.float64, "py": np.float64, "pz": np.float64, "e": np.float64,
    "mass": np.float64, "pdg": np.int32, "mother": np.int32, "status": np.int32,
    "flags": np.int32, "jet": bool, "lepton": bool, "genpart": bool, "valid": bool,
}


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

    @classmethod
    def empty(cls, n_events: int, n_slots: int) -> PartonTable:
        """An uninitialised table, to be filled row by row."""
        arrays = {k: np.empty((n_events, n_slots), t) for k, t in SLOT_FIELDS.items()}
        return cls(**arrays, n_rad=np.empty(n_events, np.int64))

    def take(self, rows: np.ndarray) -> PartonTable:
        """The events selected by a boolean mask or index array."""
        return PartonTable(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @property
    def n_events(self) -> int:
        """Number of events."""
        return self.px.shape[0]


def quark_mass(s: GeneratorSettings, pdg: np.ndarray) -> np.ndarray:
    """m_b for b, m_c for c quarks, 0 for everything else."""
    a = np.abs(pdg)
    return np.where(a == 5, s.m_b, np.where(a == 4, s.m_c, 0.0))


def ht_terms(px: np.ndarray, py: np.ndarray, pz: np.ndarray, pt_min: float,
             eta_max: float) -> np.ndarray:
    """pT of partons with pT > pt_min and |eta| < eta_max, 0 for the others."""
    pt = np.hypot(px, py)
    return pt * ((pt > pt_min) & kin.abs_eta_below(pz, pt, eta_max))


@dataclass
class Slot:
    """One particle slot of every event: each field a 1-D array over events or a constant.

    ``mother`` is a slot index inside the block being built (-1 for none).
    """

    p4: kin.FourVec
    mass: Value
    pdg: Value
    status: Value
    flags: Value
    jet: Value = False
    lepton: Value = False
    genpart: Value = True
    valid: Value = True
    mother: int = -1

    def values(self, rows: np.ndarray) -> dict[str, Value]:
        """Table field -> this slot's values for events ``rows``, or a constant."""
        px, py, pz, e = self.p4
        values = {"px": px, "py": py, "pz": pz, "e": e, "mass": self.mass, "pdg": self.pdg,
                  "mother": self.mother, "status": self.status, "flags": self.flags,
                  "jet": self.jet, "lepton": self.lepton, "genpart": self.genpart,
                  "valid": self.valid}
        return {k: v[rows] if isinstance(v, np.ndarray) else v for k, v in values.items()}


def side_by_side(blocks: list[list[Slot]]) -> list[Slot]:
    """The slots of several blocks in a row, their mother indices shifted (in place)."""
    out: list[Slot] = []
    for block in blocks:
        offset = len(out)
        for slot in block:
            if slot.mother >= 0:
                slot.mother += offset
            out.append(slot)
    return out


@dataclass
class FreePartons:
    """k radiation-like partons per event (status 43), from their drawn pT, eta and phi.

    ``pt``, ``eta``, ``phi`` and ``valid`` are (n, k) arrays; ``pdg`` gives the
    (len(rows), k) pdgIds of events ``rows``. The momenta of the valid partons, all that
    the recoil and the HT filter need, are computed for every event; whole rows (padding
    included, as the table holds them) only for the events written.
    """

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    pdg: Callable[[np.ndarray], np.ndarray]
    valid: np.ndarray
    s: GeneratorSettings
    valid_p3: tuple[np.ndarray, ...] = field(init=False)  # px, py, pz of the valid partons

    def __post_init__(self) -> None:
        pt, phi = self.pt[self.valid], self.phi[self.valid]  # in (event, slot) order
        self.valid_p3 = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(self.eta[self.valid])

    @property
    def width(self) -> int:
        """Number of slots."""
        return self.pt.shape[1]

    def transverse_sum(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-event sum of px and py of the valid partons."""
        sums = []
        for values in self.valid_p3[:2]:
            full = np.zeros(self.pt.shape)  # the table's layout: the same summation order
            full[self.valid] = values
            sums.append(full.sum(axis=1))
        return sums[0], sums[1]

    def values(self, rows: np.ndarray) -> dict[str, Value]:
        """Table field -> (len(rows), k) values of events ``rows``, or a constant."""
        pdg = self.pdg(rows)
        mass = quark_mass(self.s, pdg)
        px, py, pz, e = kin.from_ptetaphim(self.pt[rows], self.eta[rows], self.phi[rows], mass)
        valid = self.valid[rows]
        return {"px": px, "py": py, "pz": pz, "e": e, "mass": mass, "pdg": pdg, "mother": -1,
                "status": 43, "flags": RADIATION, "jet": True, "lepton": False,
                "genpart": valid, "valid": valid}


@dataclass
class PartonBatch:
    """Generated events as columns: the hard-process slots, then the free-parton blocks."""

    slots: list[Slot]  # mother indices count from the first slot
    free: list[FreePartons]
    n_rad: np.ndarray

    @property
    def width(self) -> int:
        """Slots per event."""
        return len(self.slots) + sum(b.width for b in self.free)

    def ht(self, pt_min: float = 20.0, eta_max: float = 2.5) -> np.ndarray:
        """Scalar sum of pT of visible coloured final-state partons (the generator filter).

        Equals :func:`simulation.processes.parton_ht` of the full table bit for bit: the
        terms sit in the table's slot layout (zeros elsewhere), so they add in the same order.
        """
        terms = np.zeros((len(self.n_rad), self.width))
        for j, slot in enumerate(self.slots):
            candidate = slot.valid & slot.jet  # an array, or a constant for all events
            if candidate is not False:
                terms[:, j] = ht_terms(*slot.p4[:3], pt_min, eta_max) * candidate
        j = len(self.slots)
        for b in self.free:
            terms[:, j:j + b.width][b.valid] = ht_terms(*b.valid_p3, pt_min, eta_max)
            j += b.width
        return terms.sum(axis=1)

    def fill(self, table: PartonTable, start: int, rows: np.ndarray) -> None:
        """Write events ``rows`` (indices) into ``table`` from row ``start`` on."""
        dst = slice(start, start + len(rows))
        out = {name: getattr(table, name)[dst] for name in SLOT_FIELDS}
        for j, slot in enumerate(self.slots):
            for name, value in slot.values(rows).items():
                out[name][:, j] = value
        j = len(self.slots)
        for b in self.free:
            for name, value in b.values(rows).items():
                out[name][:, j:j + b.width] = value
            j += b.width
        table.n_rad[dst] = self.n_rad[rows]

    def table(self, rows: np.ndarray | None = None) -> PartonTable:
        """The :class:`PartonTable` of events ``rows`` (indices; all by default)."""
        rows = np.arange(len(self.n_rad)) if rows is None else rows
        table = PartonTable.empty(len(rows), self.width)
        self.fill(table, 0, rows)
        return table


def boson_decay_block(
    rng: np.random.Generator, boson: kin.FourVec, kind: str, sign: np.ndarray,
    s: GeneratorSettings,
) -> list[Slot]:
    """Slots [V, d1, d2, d3] for a W (``sign`` = W charge), Z or H of four-momentum ``boson``.

    W: hadronic (ud or cs), e, mu, tau (d3 = visible tau product: e/mu or a hadronic
    tau handled as a jet). Z: qq by PDG flavour fractions, nu nu, or ee/mumu (Z -> tau tau
    is folded into ee/mumu). H: b bbar, all other decays emulated as gg.
    """
    n = boson[0].shape[0]
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
        vpdg = 23
    else:  # H
        isbb = rng.uniform(size=n) < s.br_h_bb
        pdg1 = np.where(isbb, 5, 21)
        pdg2 = np.where(isbb, -5, 21)
        mode = np.zeros(n, int)
        vpdg = 25
    a1 = np.abs(pdg1)
    m1 = np.where(a1 == 15, M_TAU, np.where(a1 == 11, M_E, np.where(a1 == 13, M_MU,
                                                                      quark_mass(s, pdg1))))
    m2 = quark_mass(s, pdg2)
    mv = kin.mass_of(*boson)
    d1, d2 = kin.isotropic_decay(rng, boson, m1, m2)
    had = mode == 0
    light_lepton = (mode == 1) | (mode == 2)
    return [
        Slot(boson, mv, vpdg, 22, HARD),
        Slot(d1, m1, pdg1, np.where(had, 23, np.where(mode == 3, 2, 1)), HARD, jet=had,
             lepton=light_lepton, mother=0),
        Slot(d2, m2, pdg2, np.where(had, 23, 1), HARD, jet=had,
             lepton=light_lepton if kind == "Z" else False, mother=0),
        _tau_product(rng, d1, mode == 3, pdg1, s),
    ]


def _tau_product(rng: np.random.Generator, tau_p4: kin.FourVec, tau: np.ndarray,
                 tau_pdg: np.ndarray, s: GeneratorSettings) -> Slot:
    """Slot of the visible tau decay product (valid where ``tau``), mother slot 1.

    Collinear decay with visible momentum fraction x (leptonic softer than hadronic).
    """
    n = tau.shape[0]
    r = rng.uniform(size=n)
    tau_lep = np.where(r < s.br_tau_e, 11, np.where(r < s.br_tau_e + s.br_tau_mu, 13, 0))
    x = np.where(tau_lep > 0, rng.beta(1.6, 2.2, n), rng.beta(2.5, 1.5, n))
    mvis = np.where(tau_lep == 11, M_E, np.where(tau_lep == 13, M_MU, 1.0))
    px, py, pz = x * tau_p4[0], x * tau_p4[1], x * tau_p4[2]
    p4 = (px, py, pz, np.sqrt(px * px + py * py + pz * pz + mvis * mvis))
    tsign = np.sign(tau_pdg)
    is_lep = tau & (tau_lep > 0)
    return Slot(p4, mvis, np.where(tau_lep > 0, tau_lep * tsign, 15 * tsign), 1, TAU_PRODUCT,
                jet=tau & (tau_lep == 0), lepton=is_lep, genpart=is_lep, valid=tau, mother=1)


def top_block(rng: np.random.Generator, top: kin.FourVec, sign: np.ndarray,
              s: GeneratorSettings) -> list[Slot]:
    """Slots [t, b, W, d1, d2, d3]: t -> b W with a Breit-Wigner W mass, W decayed."""
    n = top[0].shape[0]
    mt = kin.mass_of(*top)
    mw = kin.breit_wigner(rng, s.m_w, s.width_w, n, s.bw_cut_widths)
    mw = np.minimum(mw, mt - s.m_b - 1.0)
    bq, w = kin.isotropic_decay(rng, top, np.full(n, s.m_b), mw)
    t_and_b = [Slot(top, mt, 6 * sign, 62, HARD),
               Slot(bq, s.m_b, 5 * sign, 23, HARD, jet=True, mother=0)]
    slots = side_by_side([t_and_b, boson_decay_block(rng, w, "W", sign, s)])
    slots[2].mother = 0  # the W comes from the top
    return slots
