"""Validation reconstruction usable on any NanoEvents (generated or real NanoAOD).

The hadronic top candidate: among jets (pT > 30 GeV, |eta| < 2.4), the pair of untagged
jets whose mass is closest to m_W is the W candidate; the b-tagged jet closest in Delta R to
that W candidate completes the trijet. The peaks of m(jj) and m(bjj) test the jet energy
scale and the decay kinematics; the means of N jets and HT test the event activity.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

M_W_PDG = 80.38  # GeV [PDG], the W-candidate target mass


@dataclass(frozen=True)
class ValidationSummary:
    """Summary numbers of a (tt-like) sample."""

    n_events: int
    mean_n_jets: float
    mean_ht: float
    trijet_peak: float
    dijet_peak: float
    btag_eff: dict[str, float]


def good_jets(events, pt_min: float = 30.0, eta_max: float = 2.4) -> ak.Array:
    """Jets with pT > pt_min and |eta| < eta_max."""
    j = events.Jet
    return j[(j.pt > pt_min) & (abs(j.eta) < eta_max)]


def trijet_candidates(events, wp: float = 0.3, m_w: float = M_W_PDG
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(m_bjj, m_jj) of the best hadronic-top candidate per event that has one."""
    jets = good_jets(events)
    tagged = jets[jets.btagDeepFlavB > wp]
    untagged = jets[jets.btagDeepFlavB <= wp]
    pairs = ak.combinations(untagged, 2, fields=["a", "b"])
    w = pairs.a + pairs.b
    best = ak.argmin(abs(w.mass - m_w), axis=1, keepdims=True)
    wbest = ak.firsts(w[best])
    has = ~ak.is_none(wbest) & (ak.num(tagged) > 0)
    wbest, tagged = wbest[has], tagged[has]
    dr = tagged.delta_r(wbest)
    b = ak.firsts(tagged[ak.argmin(dr, axis=1, keepdims=True)])
    top = b + wbest
    return ak.to_numpy(top.mass), ak.to_numpy(wbest.mass)


def peak(values: np.ndarray, lo: float, hi: float, width: float = 5.0) -> float:
    """Position of the maximum of a histogram smoothed over 3 bins, in [lo, hi]."""
    h, edges = np.histogram(values, bins=np.arange(lo, hi + width, width))
    smooth = np.convolve(h, np.ones(3) / 3.0, mode="same")
    i = int(np.argmax(smooth))
    return float(0.5 * (edges[i] + edges[i + 1]))


def btag_efficiency(events, wp: float = 0.3) -> dict[str, float]:
    """Fraction of jets above the working point per hadronFlavour (b, c, light)."""
    jets = ak.flatten(good_jets(events))
    flav = ak.to_numpy(jets.hadronFlavour)
    tag = ak.to_numpy(jets.btagDeepFlavB) > wp
    out = {}
    for name, f in (("b", 5), ("c", 4), ("light", 0)):
        sel = flav == f
        out[name] = float(tag[sel].mean()) if sel.any() else float("nan")
    return out


def summarize(events, wp: float = 0.3) -> ValidationSummary:
    """All validation numbers of a sample (needs hadronFlavour, so MC)."""
    jets = good_jets(events)
    mt, mw = trijet_candidates(events, wp)
    return ValidationSummary(
        n_events=len(events),
        mean_n_jets=float(ak.mean(ak.num(jets))),
        mean_ht=float(ak.mean(ak.sum(jets.pt, axis=1))),
        trijet_peak=peak(mt, 100.0, 260.0),
        dijet_peak=peak(mw, 40.0, 130.0),
        btag_eff=btag_efficiency(events, wp),
    )
