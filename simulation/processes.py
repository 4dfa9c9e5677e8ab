"""Hard-process generation per physics process, on whole batches of events.

Each process builds hard objects (tops, W/Z/H, QCD partons) with a realistic transverse
momentum and rapidity spectrum, extra radiation partons (the ISR/FSR jets), optionally an
extra b-bbar pair (tt+bb, gluon splitting), balances the total transverse momentum, and
decays everything with exact two-body kinematics (:mod:`simulation.kinematics`).

A batch (:func:`generate_batch`) gives the generator-filter HT of every event; table rows
are only built for the events asked for (:class:`simulation.partons.PartonBatch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulation import kinematics as kin
from simulation.partons import (
    HARD,
    FreePartons,
    PartonBatch,
    PartonTable,
    Slot,
    boson_decay_block,
    quark_mass,
    side_by_side,
    top_block,
)
from simulation.settings import GeneratorSettings, ProcessSettings

MAX_RADIATION = 12
_FLAVOURS = np.array([21, 1, 4, 5])  # g, light quark (flavour drawn below), c, b


@dataclass(frozen=True)
class Modifiers:
    """Truth-model shifts applied on top of the MC settings (1 = the MC itself)."""

    radiation_scale: float = 1.0
    top_pt_scale: float = 1.0
    extra_bb_scale: float = 1.0
    #: added to ``qcd_leading_pt_power`` (QCD only): > 0 gives a softer 2->2 spectrum
    qcd_pt_power_shift: float = 0.0
    #: multiplies the b and c shares of ``qcd_flavour_probs`` (QCD only; g -> bb, cc)
    qcd_heavy_flavour_scale: float = 1.0


NO_SHIFT = Modifiers()


@dataclass
class FlavourDraws:
    """The random numbers behind parton flavours drawn from (P(g), P(uds), P(c), P(b)).

    pdgIds are worked out from them only for the events asked for: for the radiation
    partons that saves most of the work, as most events fail the generator filter.
    """

    probs: tuple[float, ...]
    u_kind: np.ndarray
    light: np.ndarray
    u_sign: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, probs: Sequence[float],
             size: tuple[int, ...]) -> FlavourDraws:
        """Draw the flavours of an array of partons of shape ``size``."""
        u_kind = rng.uniform(size=size)
        light = rng.integers(1, 4, size=size)
        return cls(tuple(probs), u_kind, light, rng.uniform(size=size))

    def pdg(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Signed pdgIds of events ``rows`` (all by default)."""
        p = np.asarray(self.probs, float)
        k = np.searchsorted(np.cumsum(p / p.sum()), self.u_kind[rows])
        pdg = _FLAVOURS[np.minimum(k, 3)]
        pdg = np.where(pdg == 1, self.light[rows], pdg)
        sign = np.where(self.u_sign[rows] < 0.5, 1, -1)
        return np.where(pdg == 21, 21, pdg * sign).astype(np.int32)


def _scaled_heavy_flavour(probs: Sequence[float], scale: float) -> tuple[float, ...]:
    """(P(g), P(uds), P(c), P(b)) with the c and b shares x ``scale``, taken from P(g).

    Heavy quarks in multijet events come mostly from gluon splitting, so a changed
    splitting rate moves probability between gluons and c/b; 1 returns ``probs`` as is.
    """
    if scale == 1.0:
        return tuple(probs)
    g, uds, c, b = probs
    c2, b2 = c * scale, b * scale
    g2 = g - (c2 - c) - (b2 - b)
    if g2 < 0:
        raise ValueError(f"heavy-flavour scale {scale} leaves a negative gluon share")
    return (g2, uds, c2, b2)


def _radiation(rng, n, mean, s: GeneratorSettings, probs) -> tuple[FreePartons, np.ndarray]:
    n_rad = np.minimum(rng.poisson(mean, n), MAX_RADIATION)
    shape = (n, MAX_RADIATION)
    pt = kin.power_law(rng, s.radiation_pt_min, s.radiation_pt_power, shape, 1500.0)
    eta = rng.normal(0.0, s.radiation_eta_sigma, shape)
    phi = rng.uniform(-np.pi, np.pi, shape)
    flavours = FlavourDraws.draw(rng, probs, shape)
    valid = np.arange(MAX_RADIATION)[None, :] < n_rad[:, None]
    return FreePartons(pt, eta, phi, flavours.pdg, valid, s), n_rad


def _bb_pdg(rows: np.ndarray) -> np.ndarray:
    """pdgIds (b, bbar) of the extra pair, for events ``rows``."""
    return np.tile(np.array([5, -5], np.int32), (len(rows), 1))


def _extra_bb(rng, n, fraction, s: GeneratorSettings) -> FreePartons:
    """A b-bbar pair from gluon splitting in a fraction of events (2 slots)."""
    has = rng.uniform(size=n) < fraction
    pt = kin.power_law(rng, s.radiation_pt_min, s.radiation_pt_power - 0.4, (n, 2), 1000.0)
    eta = rng.normal(0.0, 1.3, (n, 1)) + rng.normal(0.0, 0.6, (n, 2))
    phi0 = rng.uniform(-np.pi, np.pi, (n, 1))
    phi = phi0 + np.concatenate([np.zeros((n, 1)), rng.normal(0.0, 1.2, (n, 1))], axis=1)
    valid = np.repeat(has[:, None], 2, axis=1)
    return FreePartons(pt, eta, phi, _bb_pdg, valid, s)


def _pair(rng, n, scale, ysig) -> tuple[np.ndarray, ...]:
    """pT (Gamma k=2), back-to-back phi, independent rapidities of a produced pair."""
    pt = rng.gamma(2.0, scale, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    y = rng.normal(0.0, ysig, (2, n))
    return pt, phi, y


def _balanced(objs: list[tuple], recoil: tuple[np.ndarray, np.ndarray]) -> list[kin.FourVec]:
    """Four-vectors of (px, py, y, m) objects after sharing -recoil equally among them.

    Keeps rapidity and mass, so the transverse sum of objects + radiation is zero.
    """
    npx = sum(o[0] for o in objs) + recoil[0]
    npy = sum(o[1] for o in objs) + recoil[1]
    out = []
    for px, py, y, m in objs:
        px2, py2 = px - npx / len(objs), py - npy / len(objs)
        mt = np.sqrt(px2 * px2 + py2 * py2 + m * m)
        out.append((px2, py2, mt * np.sinh(y), mt * np.cosh(y)))
    return out


def _tops(rng, n, n_pairs, ps: ProcessSettings, mod: Modifiers, s: GeneratorSettings):
    objs, signs = [], []
    for _ in range(n_pairs):
        pt, phi, y = _pair(rng, n, ps.top_pt_scale_gev * mod.top_pt_scale, ps.rapidity_sigma)
        for k, sgn in ((0, 1), (1, -1)):
            m = kin.breit_wigner(rng, s.m_top, s.width_top, n, s.bw_cut_widths)
            ph = phi + k * np.pi
            objs.append((pt * np.cos(ph), pt * np.sin(ph), y[k], m))
            signs.append(np.full(n, sgn))
    return objs, signs


def generate_batch(
    rng: np.random.Generator, process: str, n: int, s: GeneratorSettings,
    mod: Modifiers | None = None,
) -> PartonBatch:
    """Generate ``n`` parton-level events of ``process`` (tttt, ttbar, ttW, ttZ, ttH, qcd).

    The batch gives the filter HT of every event and the table of any of them.
    """
    mod = mod or NO_SHIFT
    ps = s.processes[process]
    qcd_probs = _scaled_heavy_flavour(s.qcd_flavour_probs, mod.qcd_heavy_flavour_scale)
    rad, n_rad = _radiation(rng, n, ps.radiation_mean * mod.radiation_scale, s,
                            qcd_probs if process == "qcd" else s.radiation_flavour_probs)
    bb = _extra_bb(rng, n, min(1.0, ps.extra_bb_fraction * mod.extra_bb_scale), s)
    free = [rad, bb]
    sums = [b.transverse_sum() for b in free]
    rec_x = sum(x for x, _ in sums)
    rec_y = sum(y for _, y in sums)
    if process == "qcd":
        pt = kin.power_law(rng, s.qcd_leading_pt_min,
                           s.qcd_leading_pt_power + mod.qcd_pt_power_shift, n, 4000.0)
        phi = rng.uniform(-np.pi, np.pi, n)
        y = rng.normal(0.0, 1.4, (2, n))
        pdg = FlavourDraws.draw(rng, qcd_probs, (n, 2)).pdg()
        m = quark_mass(s, pdg)
        objs = [(pt * np.cos(phi + k * np.pi), pt * np.sin(phi + k * np.pi), y[k], m[:, k])
                for k in range(2)]
        p4s = _balanced(objs, (rec_x, rec_y))
        hard = [Slot(p4s[k], m[:, k], pdg[:, k], 23, HARD, jet=True) for k in range(2)]
        return PartonBatch(hard, free, n_rad)
    n_pairs = 2 if process == "tttt" else 1
    objs, signs = _tops(rng, n, n_pairs, ps, mod, s)
    boson = {"ttW": "W", "ttZ": "Z", "ttH": "H"}.get(process)
    if boson is not None:
        m0, w0 = {"W": (s.m_w, s.width_w), "Z": (s.m_z, s.width_z), "H": (s.m_h, 0.004)}[boson]
        mv = kin.breit_wigner(rng, m0, w0, n, s.bw_cut_widths)
        vpt, vphi = rng.gamma(2.0, 45.0, n), rng.uniform(-np.pi, np.pi, n)
        objs.append((vpt * np.cos(vphi), vpt * np.sin(vphi), rng.normal(0.0, 1.2, n), mv))
    p4s = _balanced(objs, (rec_x, rec_y))
    blocks = [top_block(rng, p4s[i], signs[i], s) for i in range(len(signs))]
    if boson is not None:
        vsign = np.where(rng.uniform(size=n) < 0.65, 1, -1) if boson == "W" else np.ones(n, int)
        blocks.append(boson_decay_block(rng, p4s[-1], boson, vsign, s))
    return PartonBatch(side_by_side(blocks), free, n_rad)


def generate_partons(
    rng: np.random.Generator, process: str, n: int, s: GeneratorSettings,
    mod: Modifiers | None = None,
) -> PartonTable:
    """Generate ``n`` parton-level events of ``process`` (tttt, ttbar, ttW, ttZ, ttH, qcd)."""
    return generate_batch(rng, process, n, s, mod).table()


def parton_ht(t: PartonTable, pt_min: float = 20.0, eta_max: float = 2.5) -> np.ndarray:
    """Scalar sum of pT of visible coloured final-state partons (the generator filter)."""
    pt, eta, _, _ = kin.to_ptetaphim(t.px, t.py, t.pz, t.e, phi=False, mass=False)
    sel = t.valid & t.jet & (pt > pt_min) & (np.abs(eta) < eta_max)
    return (pt * sel).sum(axis=1)
