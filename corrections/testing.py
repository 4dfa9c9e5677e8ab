"""Small NanoAOD-like toy events for testing and benchmarking corrections.

Not physics: just awkward arrays with the fields (and NanoAOD names) the correction code
reads, with generator-level jets, flavours and b-tag scores of plausible size. The real
synthetic NanoAOD comes from `simulation`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np


def toy_events(n_events: int, seed: int = 1, *, first_event: int = 1) -> ak.Array:
    """``n_events`` toy events with Jet, GenJet, Rho, Pileup, LHEScaleWeight and PSWeight.

    Jets: 4-12 per event, pT from a falling spectrum starting at 15 GeV (many near the 30 GeV
    threshold), |eta| < 3; 85 % have a generator jet (``genJetIdx``), the rest -1.
    """
    rng = np.random.default_rng(seed)
    counts = rng.integers(4, 13, size=n_events)
    n = int(counts.sum())
    gen_pt = 15.0 + rng.exponential(45.0, size=n)
    gen_eta = rng.uniform(-3.0, 3.0, size=n)
    gen_phi = rng.uniform(-np.pi, np.pi, size=n)
    # reco jet: gen pT smeared by ~ the synthetic resolution, small angular offset
    res = np.sqrt(7.9 / gen_pt**2 + 0.346 / gen_pt + 0.0021)
    pt = gen_pt * np.maximum(1.0 + res * rng.normal(size=n), 0.2)
    eta = gen_eta + rng.normal(0.0, 0.02, size=n)
    phi = gen_phi + rng.normal(0.0, 0.02, size=n)
    has_gen = rng.random(n) < 0.85
    local = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    flavour = rng.choice(np.array([5, 4, 0], dtype=np.uint8), size=n, p=[0.25, 0.10, 0.65])
    tag_prob = np.select([flavour == 5, flavour == 4], [0.80, 0.20], 0.015)
    tagged = rng.random(n) < tag_prob
    score = np.where(tagged, rng.uniform(0.31, 1.0, size=n), rng.uniform(0.0, 0.30, size=n))

    jets = ak.zip({
        "pt": ak.unflatten(pt.astype(np.float32), counts),
        "eta": ak.unflatten(eta.astype(np.float32), counts),
        "phi": ak.unflatten(phi.astype(np.float32), counts),
        "mass": ak.unflatten((0.1 * pt).astype(np.float32), counts),
        "rawFactor": ak.unflatten(rng.uniform(0.02, 0.15, size=n).astype(np.float32), counts),
        "area": ak.unflatten(rng.normal(0.5, 0.02, size=n).astype(np.float32), counts),
        "btagDeepFlavB": ak.unflatten(score.astype(np.float32), counts),
        "hadronFlavour": ak.unflatten(flavour, counts),
        "genJetIdx": ak.unflatten(np.where(has_gen, local, -1).astype(np.int16), counts),
        "jetId": ak.unflatten(np.full(n, 6, dtype=np.uint8), counts),  # all pass tight ID
    })
    # every jet's generator jet is stored at the jet's index (unmatched ones are unused)
    genjets = ak.zip({
        "pt": ak.unflatten(gen_pt.astype(np.float32), counts),
        "eta": ak.unflatten(gen_eta.astype(np.float32), counts),
        "phi": ak.unflatten(gen_phi.astype(np.float32), counts),
    })
    scale = np.exp(rng.normal(0.0, 0.12, size=(n_events, 9)))
    scale[:, 4] = 1.0
    ps = np.exp(rng.normal(0.0, 0.08, size=(n_events, 4)))
    return ak.zip({
        "run": np.ones(n_events, dtype=np.uint32),
        "luminosityBlock": (np.arange(n_events) // 100 + 1).astype(np.uint32),
        "event": np.arange(first_event, first_event + n_events, dtype=np.uint64),
        "genWeight": np.ones(n_events, dtype=np.float32),
        "Jet": jets,
        "GenJet": genjets,
        "Rho": ak.zip({"fixedGridRhoFastjetAll": rng.normal(20.0, 5.0, n_events).clip(2.0)
                       .astype(np.float32)}),
        "Pileup": ak.zip({"nTrueInt": rng.gamma(7.1, 4.5, n_events).astype(np.float32)}),
        "LHEScaleWeight": ak.from_regular(scale.astype(np.float32), axis=1),
        "PSWeight": ak.from_regular(ps.astype(np.float32), axis=1),
    }, depth_limit=1)
