"""Toy parton shower, cone clustering and fragmentation for :mod:`toy_events`.

Crude by design: hard collinear splittings (log-uniform z and angle) so QCD jets get mass,
g -> b bbar so QCD jets have some displaced tracks, kT-limited fragmentation into charged
hadrons, photons, neutral hadrons and leptons, and b/c-hadron impact parameters.
"""

from __future__ import annotations

import numpy as np

from common.kinematics import delta_phi
from inference.training.settings import ToyPhysics

_G_TO_BB = 0.03  # probability of g -> b bbar per splitting
# mean number of resolvable hard splittings per parton: gluons radiate C_A/C_F = 9/4 times
# more than quarks; tuned so QCD AK8 jets at pT 400-600 GeV have a median soft-drop mass of
# a few tens of GeV (CMS, JHEP 11 (2018) 113)
_SPLITS_GLUON, _SPLITS_QUARK = 2.2, 1.0


def shower(partons: list, rng: np.random.Generator) -> np.ndarray:
    """Hard collinear splittings: rows (pt, eta, phi, m, flavour, origin)."""
    out = []
    for k, (pt, eta, phi, _m, flav) in enumerate(partons):
        todo = [(pt, eta, phi, flav)]
        n_split = rng.poisson(_SPLITS_GLUON if flav == 21 else _SPLITS_QUARK)
        for _ in range(n_split):
            todo.sort(key=lambda t: -t[0])
            p, e, f, fl = todo.pop(0)
            z = np.exp(rng.uniform(np.log(0.03), np.log(0.5)))
            th = np.exp(rng.uniform(np.log(0.03), np.log(0.8)))
            a = rng.uniform(0, 2 * np.pi)
            de, df = th * np.cos(a), th * np.sin(a)
            # g -> b bbar gives QCD jets genuine displaced tracks; otherwise emit a gluon
            bb = fl == 21 and rng.uniform() < _G_TO_BB
            f1, f2 = (5, 5) if bb else (fl, 21)
            todo += [
                (p * (1 - z), e - z * de, f - z * df, f1),
                (p * z, e + (1 - z) * de, f + (1 - z) * df, f2),
            ]
        out += [(p, e, f, 0.0, fl, k) for p, e, f, fl in todo]
    return np.array(out, dtype=float).reshape(-1, 6)


def cluster(sp: np.ndarray, radius: float) -> list[np.ndarray]:
    """Greedy cone clustering around the hardest remaining parton: lists of row indices."""
    left = list(np.argsort(-sp[:, 0]))
    groups = []
    while left:
        seed = left[0]
        dr = np.hypot(sp[left, 1] - sp[seed, 1], delta_phi(sp[left, 2], sp[seed, 2]))
        take = [left[i] for i in np.nonzero(dr < radius)[0]]
        groups.append(np.array(take))
        left = [i for i in left if i not in take]
    return groups


def fragment(parton: np.ndarray, phys: ToyPhysics, rng: np.random.Generator) -> np.ndarray:
    """Hadrons of one shower parton: rows (pt, eta, phi, mass, charge, pdgId, d0, dz)."""
    pt, eta, phi, _m, flav = parton[:5]
    mean = max(0.5, (3.0 if flav == 21 else 2.0) * np.log(max(pt, 2.0) / 2.0))
    n = 1 + rng.poisson(mean)
    z = rng.dirichlet(np.full(n, 0.7))
    ph = pt * z
    kt = rng.exponential(phys.fragmentation_kt, n)
    th = np.minimum(kt / np.maximum(ph, 1e-3), 0.6)
    a = rng.uniform(0, 2 * np.pi, n)
    kind = rng.choice(5, n, p=[0.62, 0.25, 0.11, 0.01, 0.01])
    if flav == 5 and rng.uniform() < 0.2:  # semileptonic b decays, PDG ~ 10 % each e / mu
        kind[rng.integers(n)] = 3 + rng.integers(2)
    sign = rng.choice([-1, 1], n)
    pdg = np.array([211, 22, 130, 11, 13])[kind] * np.where(np.isin(kind, [0, 3, 4]), sign, 1)
    charge = np.where(np.isin(kind, [0, 3, 4]), -sign * np.where(kind == 0, -1, 1), 0)
    mass = np.array([0.1396, 0.0, 0.4976, 0.000511, 0.1057])[kind]
    ip = phys.b_impact_cm if flav == 5 else (phys.b_impact_cm / 3 if flav == 4 else 0.0)
    d0 = rng.normal(0, phys.prompt_impact_cm, n) + rng.laplace(0, ip, n) * (
        rng.uniform(size=n) < 0.6
    )
    dz = rng.normal(0, 1.5 * phys.prompt_impact_cm, n) + rng.laplace(0, ip, n) * (
        rng.uniform(size=n) < 0.6
    )
    d0 = np.where(charge != 0, d0, 0.0)
    dz = np.where(charge != 0, dz, 0.0)
    return np.stack([ph, eta + th * np.cos(a), phi + th * np.sin(a), mass, charge, pdg, d0, dz], 1)
