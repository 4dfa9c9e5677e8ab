"""Stand-in event source in the NanoAOD/PFNano layout for training and tests.

It makes tops (t -> b W, W -> q q' or l nu with PDG branching ratios), ISR / QCD partons,
a crude final-state shower (hard splittings, so QCD jets get mass), hadrons with kT
fragmentation and b-hadron displaced tracks, AK4 jets (greedy 0.4 clustering of shower
partons, JER smearing, flavour-dependent b-tag scores), AK8 fat jets with PF constituents,
soft drop mass and N-subjettiness, and GenPart with mother indices. The output is an
awkward record array with fields ``event``, ``Jet``, ``FatJet``, ``PFCands``,
``FatJetPFCands`` and ``GenPart`` (the branch names of real NanoAOD), so training code runs
unchanged on ``simulation.generate_dataset`` output read by :func:`inference.training
.dataset.read_nanoaod`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from common.exceptions import GeneratorError
from common.kinematics import delta_phi
from inference.training.settings import ToyPhysics
from inference.training.substructure import jet_substructure
from inference.training.toy_shower import cluster, fragment, shower

PROCESSES = ("tttt", "ttbar", "ttbar_boosted", "qcd")
# statusFlags bits: fromHardProcess (8) and isLastCopy (13), NanoAOD GenPart documentation
_FLAGS = (1 << 8) | (1 << 13)
_AK4_R, _AK8_R = 0.4, 0.8
_FATJET_MIN_PT = 170.0  # NanoAOD FatJet collection threshold (GeV)
_JET_MIN_PT = 15.0  # NanoAOD Jet collection threshold (GeV)
# flavour of hard QCD partons (g, light, c, b): heavy flavour is a few per cent of inclusive
# jets (CMS b-jet cross section, JHEP 04 (2012) 084)
_QCD_FLAVOURS = (0.6, 0.33, 0.04, 0.03)


def _boost(p: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost (px,py,pz,E) rows from the parent rest frame into the lab."""
    b = parent[:, :3] / parent[:, 3:4]
    b2 = (b**2).sum(1, keepdims=True)
    g = 1.0 / np.sqrt(1.0 - np.clip(b2, 0, 1 - 1e-12))
    bp = (b * p[:, :3]).sum(1, keepdims=True)
    g2 = np.where(b2 > 0, (g - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    xyz = p[:, :3] + g2 * bp * b + g * b * p[:, 3:4]
    return np.concatenate([xyz, g * (p[:, 3:4] + bp)], axis=1)


def _decay(parent: np.ndarray, m1: np.ndarray, m2: np.ndarray, rng: np.random.Generator):
    """Isotropic two-body decays of (n, 4) parents with daughter masses m1, m2."""
    m = np.sqrt(np.maximum(parent[:, 3] ** 2 - (parent[:, :3] ** 2).sum(1), 1e-6))
    q = np.sqrt(np.maximum((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2), 0)) / (2 * m)
    cos = rng.uniform(-1, 1, len(m))
    ph = rng.uniform(-np.pi, np.pi, len(m))
    sin = np.sqrt(1 - cos**2)
    d = np.stack([q * sin * np.cos(ph), q * sin * np.sin(ph), q * cos], axis=1)
    p1 = np.concatenate([d, np.sqrt(q**2 + m1**2)[:, None]], axis=1)
    p2 = np.concatenate([-d, np.sqrt(q**2 + m2**2)[:, None]], axis=1)
    return _boost(p1, parent), _boost(p2, parent)


def _ptetaphim(p: np.ndarray) -> np.ndarray:
    pt = np.hypot(p[:, 0], p[:, 1])
    eta = np.arcsinh(p[:, 2] / np.maximum(pt, 1e-9))
    m = np.sqrt(np.maximum(p[:, 3] ** 2 - (p[:, :3] ** 2).sum(1), 0))
    return np.stack([pt, eta, np.arctan2(p[:, 1], p[:, 0]), m], axis=1)


def _to_p4(v: np.ndarray) -> np.ndarray:
    pt, eta, phi, m = v.T
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)], axis=1)


def _breit_wigner(mass: float, width: float, n: int, rng: np.random.Generator) -> np.ndarray:
    return mass + width / 2 * np.tan(rng.uniform(-1.3, 1.3, n))  # truncated Cauchy


class _Event:
    """Accumulates one event's GenPart and shower partons."""

    def __init__(self) -> None:
        self.gen: list[tuple[float, float, float, float, int, int]] = []
        self.partons: list[tuple[float, float, float, float, int]] = []  # pt eta phi m flav

    def add_gen(self, v: np.ndarray, pdg: int, mother: int) -> int:
        self.gen.append((*map(float, v), pdg, mother))
        return len(self.gen) - 1


def _hard_process(process: str, n: int, phys: ToyPhysics, rng: np.random.Generator):
    """GenPart and final-state partons for ``n`` events."""
    events = [_Event() for _ in range(n)]
    n_tops = {"tttt": 4, "ttbar": 2, "ttbar_boosted": 2, "qcd": 0}[process]
    if n_tops:
        if process == "ttbar_boosted":
            pt = 350.0 + rng.exponential(250.0, (n, n_tops))
        else:  # hard-process top pT spectra, mean ~150 GeV (tttt) and ~100 GeV (ttbar)
            pt = rng.gamma(2.0, 75.0 if process == "tttt" else 50.0, (n, n_tops))
        eta = rng.normal(0, 1.2, (n, n_tops))
        phi = rng.uniform(-np.pi, np.pi, (n, n_tops))
        mt = _breit_wigner(phys.top_mass, phys.top_width, n * n_tops, rng)
        top = _to_p4(np.stack([pt.ravel(), eta.ravel(), phi.ravel(), mt], 1))
        mw = _breit_wigner(phys.w_mass, phys.w_width, n * n_tops, rng)
        b, w = _decay(top, np.full(len(mt), 4.8), mw, rng)
        q1, q2 = _decay(w, np.zeros(len(mw)), np.zeros(len(mw)), rng)
        hadronic = rng.uniform(size=len(mw)) < phys.br_w_hadronic
        for k in range(n * n_tops):
            ev, sign = events[k // n_tops], 1 if k % 2 == 0 else -1
            it = ev.add_gen(_ptetaphim(top[k : k + 1])[0], 6 * sign, -1)
            vb = _ptetaphim(b[k : k + 1])[0]
            ev.add_gen(vb, 5 * sign, it)
            ev.partons.append((*vb, 5))
            iw = ev.add_gen(_ptetaphim(w[k : k + 1])[0], 24 * sign, it)
            v1, v2 = _ptetaphim(q1[k : k + 1])[0], _ptetaphim(q2[k : k + 1])[0]
            if hadronic[k]:
                flav = 4 if rng.uniform() < 0.5 else 1  # W -> cs / ud (CKM-dominant)
                ev.add_gen(v1, flav * sign, iw)
                ev.add_gen(v2, -(flav - 1 if flav == 4 else flav + 1) * sign, iw)
                ev.partons += [(*v1, flav), (*v2, 1)]
            else:
                ev.add_gen(v1, -11 * sign, iw)
                ev.add_gen(v2, 12 * sign, iw)
    n_isr = rng.poisson({"tttt": 1.5, "ttbar": 2.5, "ttbar_boosted": 2.0, "qcd": 2.0}[process], n)
    for i, ev in enumerate(events):
        if process == "qcd":  # back-to-back hard dijet above the fat-jet threshold
            pt0, eta0, phi0 = (
                350.0 + rng.exponential(250.0),
                rng.normal(0, 1.0, 2),
                rng.uniform(-np.pi, np.pi),
            )
            for j, ph in enumerate((phi0, phi0 + np.pi)):
                v = np.array([pt0 * rng.uniform(0.85, 1.0), eta0[j], ph, 0.0])
                flav = int(rng.choice([21, 1, 4, 5], p=_QCD_FLAVOURS))
                ev.add_gen(v, flav, -1)
                ev.partons.append((*v, flav))
        for _ in range(n_isr[i]):
            v = np.array(
                [30.0 + rng.exponential(60.0), rng.normal(0, 1.5), rng.uniform(-np.pi, np.pi), 0.0]
            )
            flav = 21 if rng.uniform() < 0.7 else 1
            ev.add_gen(v, flav, -1)
            ev.partons.append((*v, flav))
    return events


def make_toy_events(
    process: str, n_events: int, seed: int, physics: ToyPhysics | None = None
) -> ak.Array:
    """Make ``n_events`` toy events of ``process`` (one of :data:`PROCESSES`), reproducibly."""
    if process not in PROCESSES:
        raise GeneratorError(f"unknown toy process {process!r}; choose one of {PROCESSES}")
    if n_events < 0:
        raise GeneratorError(f"n_events must be >= 0, got {n_events}")
    phys = physics or ToyPhysics()
    rng = np.random.default_rng(seed)
    cols: dict[str, dict[str, list]] = {
        c: {} for c in ("Jet", "FatJet", "PFCands", "FatJetPFCands", "GenPart")
    }
    counts: dict[str, list[int]] = {c: [] for c in cols}

    def put(coll: str, **kv) -> None:
        for k, v in kv.items():
            cols[coll].setdefault(k, []).append(np.atleast_1d(np.asarray(v, dtype=float)))

    for ev in _hard_process(process, n_events, phys, rng):
        g = np.array(ev.gen, dtype=float).reshape(-1, 6)
        put(
            "GenPart",
            pt=g[:, 0],
            eta=g[:, 1],
            phi=g[:, 2],
            mass=g[:, 3],
            pdgId=g[:, 4],
            genPartIdxMother=g[:, 5],
            statusFlags=np.full(len(g), _FLAGS),
        )
        counts["GenPart"].append(len(g))
        sp = shower(ev.partons, rng)
        jets = []
        for grp in cluster(sp, _AK4_R):
            v = _ptetaphim(_to_p4(sp[grp, :4]).sum(0, keepdims=True))[0]
            flav = 5 if (sp[grp, 4] == 5).any() else (4 if (sp[grp, 4] == 4).any() else 0)
            rel = np.sqrt(
                (phys.jer_noise / v[0]) ** 2 + phys.jer_stochastic**2 / v[0] + phys.jer_constant**2
            )
            ptj = v[0] * max(rng.normal(1.0, rel), 0.1)
            if ptj > _JET_MIN_PT and abs(v[1]) < 4.7:
                jets.append(
                    (ptj, v[1], v[2], max(v[3], 0.0) + 0.06 * ptj * rng.uniform(0.5, 1.5), flav)
                )
        jets.sort(key=lambda j: -j[0])
        jt = np.array(jets, dtype=float).reshape(-1, 5)
        beta = {5: phys.btag_beta_b, 4: phys.btag_beta_c, 0: phys.btag_beta_light}
        btag = np.array([rng.beta(*beta[int(f)]) for f in jt[:, 4]])
        put(
            "Jet",
            pt=jt[:, 0],
            eta=jt[:, 1],
            phi=jt[:, 2],
            mass=jt[:, 3],
            btagDeepFlavB=btag,
            hadronFlavour=jt[:, 4],
            rawFactor=np.zeros(len(jt)),
        )
        counts["Jet"].append(len(jt))
        n_fat = n_pf = 0
        for grp in cluster(sp, _AK8_R):
            if sp[grp, 0].sum() < 0.8 * _FATJET_MIN_PT:
                continue
            had = np.concatenate([fragment(sp[i], phys, rng) for i in grp])
            axis = _ptetaphim(_to_p4(sp[grp, :4]).sum(0, keepdims=True))[0]
            n_ue = rng.poisson(8)  # underlying event + pileup within the jet area
            r, a = 0.8 * np.sqrt(rng.uniform(size=n_ue)), rng.uniform(0, 2 * np.pi, n_ue)
            ue = np.stack(
                [
                    rng.exponential(0.8, n_ue),
                    axis[1] + r * np.cos(a),
                    axis[2] + r * np.sin(a),
                    np.full(n_ue, 0.1396),
                    np.zeros(n_ue),
                    np.full(n_ue, 22.0),
                    np.zeros(n_ue),
                    np.zeros(n_ue),
                ],
                1,
            )
            had = np.concatenate([had, ue])
            had = had[np.hypot(had[:, 1] - axis[1], delta_phi(had[:, 2], axis[2])) < _AK8_R]
            fj = _ptetaphim(_to_p4(had[:, :4]).sum(0, keepdims=True))[0]
            if fj[0] < _FATJET_MIN_PT or abs(fj[1]) > 2.5:
                continue
            sub = jet_substructure(had[:, 0], had[:, 1], had[:, 2], had[:, 3])
            put("FatJet", pt=fj[0], eta=fj[1], phi=fj[2], mass=fj[3], **sub)
            put(
                "PFCands",
                pt=had[:, 0],
                eta=had[:, 1],
                phi=delta_phi(had[:, 2], 0.0),
                mass=had[:, 3],
                charge=had[:, 4],
                pdgId=had[:, 5],
                d0=had[:, 6],
                dz=had[:, 7],
            )
            put(
                "FatJetPFCands",
                jetIdx=np.full(len(had), n_fat),
                pFCandsIdx=n_pf + np.arange(len(had)),
            )
            n_fat += 1
            n_pf += len(had)
        counts["FatJet"].append(n_fat)
        counts["PFCands"].append(n_pf)
        counts["FatJetPFCands"].append(n_pf)
    return _assemble(cols, counts, n_events, seed)


_INT_FIELDS = {
    "pdgId",
    "genPartIdxMother",
    "statusFlags",
    "hadronFlavour",
    "charge",
    "jetIdx",
    "pFCandsIdx",
}


def _assemble(cols: dict, counts: dict, n_events: int, seed: int) -> ak.Array:
    """Flat per-collection lists -> jagged awkward record array in the NanoAOD layout."""
    out = {}
    for coll, fields in cols.items():
        recs = {}
        for k, parts in fields.items():
            flat = np.concatenate(parts) if parts else np.zeros(0)
            flat = flat.astype(np.int32 if k in _INT_FIELDS else np.float32)
            recs[k] = ak.unflatten(flat, np.asarray(counts[coll], dtype=np.int64))
        out[coll] = ak.zip(recs) if recs else ak.Array([[]] * n_events)
    # distinct event numbers per seed so the two-fold parity split is meaningful
    out["event"] = ak.Array(np.arange(n_events, dtype=np.int64) + seed * 10_000_000)
    return ak.zip(out, depth_limit=1)
