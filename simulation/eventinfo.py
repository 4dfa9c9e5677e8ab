"""Event-level quantities: generator weights, scale/shower weights, pileup, triggers.

Scale weights (LHEScaleWeight, NanoAOD order: (muR, muF) = (0.5,0.5), (0.5,1), (0.5,2),
(1,0.5), (1,1), (1,2), (2,0.5), (2,1), (2,2)) grow with the number of extra partons, as
each carries a power of alpha_s. PSWeight (NanoAOD order: ISR=2 FSR=1, ISR=1 FSR=2,
ISR=0.5 FSR=1, ISR=1 FSR=0.5) for ISR is the Poisson likelihood ratio of the observed
number of extra partons, so reweighting really moves the jet multiplicity.
"""

from __future__ import annotations

import numpy as np

from simulation.settings import DetectorSettings, ProcessSettings

_MUR = np.array([0.5, 0.5, 0.5, 1, 1, 1, 2, 2, 2])
_MUF = np.array([0.5, 1, 2, 0.5, 1, 2, 0.5, 1, 2])
ISR_VARIATION = 0.10  # relative change of the radiation rate for ISR = 2 / 0.5 (typical)


def gen_weights(rng: np.random.Generator, n: int, ps: ProcessSettings) -> np.ndarray:
    """genWeight: constant magnitude, negative with the process's NLO fraction."""
    neg = rng.uniform(size=n) < ps.negative_weight_fraction
    return np.where(neg, -ps.genweight_magnitude, ps.genweight_magnitude)


def scale_weights(rng: np.random.Generator, n_rad: np.ndarray) -> np.ndarray:
    """(n, 9) LHEScaleWeight relative to nominal; index 4 is exactly 1."""
    n = n_rad.shape[0]
    k_r = 0.08 + 0.025 * n_rad + 0.01 * rng.standard_normal(n)  # ~alpha_s^(2+n) running
    k_f = 0.03 + 0.01 * rng.standard_normal(n)
    w = np.exp(-k_r[:, None] * np.log2(_MUR)[None, :] - k_f[:, None] * np.log2(_MUF)[None, :])
    w[:, 4] = 1.0
    return w


def ps_weights(rng: np.random.Generator, n_rad: np.ndarray, mean: float,
               n_partons_merged: np.ndarray) -> np.ndarray:
    """(n, 4) PSWeight: ISR as Poisson ratios in n_rad, FSR from merged-parton count."""
    out = np.empty((n_rad.shape[0], 4))
    for col, f in ((0, 1.0 + ISR_VARIATION), (2, 1.0 / (1.0 + ISR_VARIATION))):
        out[:, col] = f**n_rad * np.exp(-(f - 1.0) * mean) if mean > 0 else 1.0
    fsr = 0.02 * (n_partons_merged - 1) + 0.01 * rng.standard_normal(n_rad.shape[0])
    out[:, 1] = 1.0 + fsr
    out[:, 3] = 1.0 - fsr
    return out


def pileup(rng: np.random.Generator, n: int, det: DetectorSettings) -> dict[str, np.ndarray]:
    """Pileup_nTrueInt, Pileup_nPU, PV_npvs, PV_npvsGood, Rho_fixedGridRhoFastjetAll."""
    true = rng.gamma(9.0, det.pileup_mean / 9.0, n)
    npu = rng.poisson(true)
    npv = np.clip(rng.binomial(npu + 1, 0.7), 1, 255)
    rho = np.clip(0.55 * npu + rng.normal(2.0, 1.5, n), 0.0, None)
    return {"Pileup_nTrueInt": true, "Pileup_nPU": npu, "PV_npvs": npv,
            "PV_npvsGood": np.clip(npv - rng.binomial(npv, 0.03), 1, 255),
            "Rho_fixedGridRhoFastjetAll": rho}


def triggers(rng: np.random.Generator, jets: dict[str, np.ndarray],
             det: DetectorSettings) -> dict[str, np.ndarray]:
    """Emulated HLT decisions with turn-ons from online (smeared) quantities.

    HLT_PFHT1050: online HT of jets pT > 30, |eta| < 2.5 above 1050 GeV (turn-on from the
    online resolution). HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5:
    online HT > 330, four leading online jets above 75/60/45/40 GeV and three online
    b tags (each offline-tagged jet is tagged online with a fixed probability).
    """
    n = jets["pt"].shape[0]
    online_pt = jets["pt"] * (1.0 + 0.08 * rng.standard_normal(jets["pt"].shape))
    cen = jets["valid"] & (np.abs(jets["eta"]) < 2.5)
    ht_on = (online_pt * (cen & (online_pt > 30))).sum(axis=1)
    ht_on = ht_on * (1.0 + det.trigger_ht_resolution * rng.standard_normal(n))
    ht_trig = ht_on > det.trigger_ht_threshold
    srt = -np.sort(-np.where(cen, online_pt, 0.0), axis=1)
    srt = np.pad(srt, ((0, 0), (0, max(0, 4 - srt.shape[1]))))
    quad = np.all(srt[:, :4] > np.array(det.trigger_quadjet_pts)[None, :], axis=1)
    tagged = cen & (jets["btagDeepFlavB"] > det.btag_wp) & (
        rng.uniform(size=cen.shape) < det.trigger_online_btag_eff)
    multi = (ht_on > det.trigger_quadjet_ht) & quad & (tagged.sum(axis=1) >= 3)
    return {"HLT_PFHT1050": ht_trig,
            "HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5": multi}
