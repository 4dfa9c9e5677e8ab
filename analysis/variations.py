"""Jet energy scale and resolution variations as pure functions over awkward arrays.

`jet_variations` returns varied copies of a jet collection (same jets, new ``pt`` and
``mass``); the processor re-runs its jet selection on each, so events migrate between
regions. Order of operations, as recommended by CMS JERC:

1. optional JEC re-application: raw pT = pt * (1 - rawFactor), corrected with the compound
   L1L2L3Res correction in (area, eta, raw pT, rho);
2. JER, hybrid method (MC only): a jet matched to a generator jet (dR < R/2 and
   |pT - pT_gen| < 3 sigma pT) is scaled, c = 1 + (SF - 1)(pT - pT_gen)/pT; otherwise it is
   smeared stochastically, c = 1 + N(0, sigma) sqrt(max(SF^2 - 1, 0)). The normal numbers
   come from a counter-based hash of (run, lumi, event, jet index): reproducible and
   independent of chunking. JER up/down reuse the same numbers with SF up/down.
3. JES uncertainty of each source evaluated at the corrected (unsmeared) pT and applied as
   pT * (1 +- unc) to the smeared jets.

Data jets get (1) only. Give the full jet collection of the event (before any selection),
so that the jet index used to seed the random numbers is the NanoAOD index.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from common.exceptions import CorrectionError
from common.kinematics import delta_phi
from corrections.loader import Corrections

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIN_JET_PT = 0.01  # GeV, floor of smeared jet pT (CMSSW SmearedJetProducer MIN_JET_ENERGY)
#: prefixes of the weight-only variations (handled by `analysis.weights.event_weights`)
WEIGHT_PREFIXES = ("btag_", "pileup_", "trigger_", "muRmuF_", "ISR_", "FSR_")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (Steele, Lea, Flood, OOPSLA 2014): a 64-bit bijective hash."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def deterministic_normal(
    run: np.ndarray, lumi: np.ndarray, event: np.ndarray, index: np.ndarray, salt: int
) -> np.ndarray:
    """One standard normal number per (run, lumi, event, index, salt), via Box-Muller.

    Arrays are flat and of equal length; identical keys give identical numbers whatever
    the chunking.
    """
    with np.errstate(over="ignore"):
        h = np.full(len(run), np.uint64(salt), dtype=np.uint64)
        for key in (run, lumi, event, index):
            h = _mix(h ^ np.asarray(key).astype(np.uint64)) + _GOLDEN
        h1, h2 = _mix(h), _mix(h + _GOLDEN)
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)
    u2 = (h2 >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def flat_values(x: Any) -> np.ndarray:
    """All values of an (optionally jagged) awkward array as a flat numpy array."""
    return np.asarray(ak.to_numpy(ak.flatten(x, axis=None) if x.ndim > 1 else x))


def _per_jet(values: Any, counts: np.ndarray) -> np.ndarray:
    """Broadcast a per-event array to the flat jet list."""
    return np.repeat(np.asarray(ak.to_numpy(values)), counts)


def jet_variation_names(corrections: Corrections) -> list[str]:
    """All jet variation names the settings enable (JES_<source>_up/down, JER_up/down)."""
    s = corrections.settings.jets
    names = [f"JES_{src.removeprefix('Regrouped_')}_{d}" for src in s.jes_sources
             for d in ("up", "down")]
    return names + (["JER_up", "JER_down"] if s.jer else [])


def _gen_match_pt(jets: ak.Array, events: ak.Array, pt: np.ndarray, res: np.ndarray,
                  counts: np.ndarray, max_dr: float, max_dpt_sigma: float) -> np.ndarray:
    """pT of the matched generator jet per jet, NaN where there is no valid match."""
    out = np.full(len(pt), np.nan)
    if "genJetIdx" not in jets.fields or "GenJet" not in events.fields:
        return out
    gen = events.GenJet
    ngen = np.asarray(ak.to_numpy(ak.num(gen)))
    idx = flat_values(jets.genJetIdx).astype(np.int64)
    valid = (idx >= 0) & (idx < np.repeat(ngen, counts))
    gidx = idx + np.repeat(np.cumsum(ngen) - ngen, counts)
    gidx = np.where(valid, gidx, 0)
    if len(gidx) == 0 or ngen.sum() == 0:
        return out
    gpt, geta, gphi = (flat_values(gen[f])[gidx] for f in ("pt", "eta", "phi"))
    dphi = delta_phi(flat_values(jets.phi), gphi)
    dr = np.hypot(flat_values(jets.eta) - geta, dphi)
    ok = valid & (dr < max_dr) & (np.abs(pt - gpt) < max_dpt_sigma * res * pt)
    out[ok] = gpt[ok]
    return out


def with_pt_mass(jets: ak.Array, counts: np.ndarray, pt: np.ndarray, mass: np.ndarray,
                 ) -> ak.Array:
    """``jets`` with flat ``pt`` and ``mass`` (``counts`` jets per event) put in their place."""
    out = ak.with_field(jets, ak.unflatten(pt, counts), "pt")
    return ak.with_field(out, ak.unflatten(mass, counts), "mass")


def jet_variations(
    jets: ak.Array,
    events: ak.Array,
    corrections: Corrections,
    names: list[str] | None = None,
    *,
    is_data: bool = False,
    rho: np.ndarray | None = None,
) -> dict[str, ak.Array]:
    """Nominal and varied jet collections.

    Args:
        jets: jagged jets with pt, eta, phi, mass (+ rawFactor, area for JEC re-application;
            + genJetIdx for gen matching), all jets of the event.
        events: the events (run, luminosityBlock, event, Rho.fixedGridRhoFastjetAll,
            optionally GenJet).
        corrections: loaded payloads.
        names: variations wanted (default: all enabled); weight-variation names are ignored.
        is_data: data jets get only the JEC re-application, and only ``"nominal"`` is returned.
        rho: fixedGridRhoFastjetAll per event (default: ``events.Rho``, the Run 3 name).

    Returns:
        ``{"nominal": jets, "JES_Total_up": jets, ..., "JER_down": jets}``.
    """
    counts, varied = varied_pt_mass(jets, events, corrections, names, is_data=is_data, rho=rho)
    return {name: with_pt_mass(jets, counts, pt, mass) for name, (pt, mass) in varied.items()}


def varied_pt_mass(
    jets: ak.Array,
    events: ak.Array,
    corrections: Corrections,
    names: list[str] | None = None,
    *,
    is_data: bool = False,
    rho: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """What :func:`jet_variations` changes, as flat arrays: jets per event and, per variation,
    the flat (pt, mass) of every jet in the dtype of ``jets.pt``. Arguments as there."""
    s = corrections.settings.jets
    counts = np.asarray(ak.to_numpy(ak.num(jets)))
    eta = flat_values(jets.eta).astype(np.float64)
    pt_in = flat_values(jets.pt)
    dtype = pt_in.dtype if len(pt_in) else np.dtype(np.float32)
    pt = pt_in.astype(np.float64)
    mass = flat_values(jets.mass).astype(np.float64)

    def cast(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (pt * c).astype(dtype), (mass * c).astype(dtype)

    rho = _per_jet(events.Rho.fixedGridRhoFastjetAll if rho is None else rho,
                   counts).astype(np.float64)
    if s.reapply_jec:
        raw = 1.0 - flat_values(jets.rawFactor)
        jec = corrections.evaluate("jets", corrections.jec_name(is_data),
                                   JetA=flat_values(jets.area), JetEta=eta, JetPt=pt * raw,
                                   Rho=rho)
        pt, mass = pt * raw * jec, mass * raw * jec
    if is_data:
        return counts, {"nominal": cast(np.ones_like(pt))}

    known = jet_variation_names(corrections)
    wanted = known if names is None else [n for n in names if n in known]
    unknown = [n for n in (names or []) if n not in known and not _is_weight_name(n)]
    if unknown:
        raise CorrectionError(f"unknown variation(s) {unknown}; jet variations enabled: {known}")

    smear: dict[str, np.ndarray] = {"nom": np.ones_like(pt)}
    if s.jer:
        res_name, sf_name = corrections.jer_names()
        res = corrections.evaluate("jets", res_name, JetEta=eta, JetPt=pt, Rho=rho)
        gen_pt = _gen_match_pt(jets, events, pt, res, counts, s.jer_max_dr, s.jer_max_dpt_sigma)
        idx = np.arange(len(pt)) - np.repeat(np.cumsum(counts) - counts, counts)  # jet index
        z = deterministic_normal(_per_jet(events.run, counts),
                                 _per_jet(events.luminosityBlock, counts),
                                 _per_jet(events.event, counts), idx, s.seed)
        matched = np.isfinite(gen_pt)
        for syst in ("nom", "up", "down") if any(n.startswith("JER") for n in wanted) else ("nom",):
            sf = corrections.evaluate("jets", sf_name, JetEta=eta, JetPt=pt, systematic=syst)
            c_gen = 1.0 + (sf - 1.0) * (pt - np.where(matched, gen_pt, pt)) / pt
            c_rand = 1.0 + res * z * np.sqrt(np.maximum(sf**2 - 1.0, 0.0))
            # CMSSW SmearedJetProducer keeps at least 10 MeV rather than a non-positive pT
            floor = MIN_JET_PT / np.maximum(pt, MIN_JET_PT)
            smear[syst] = np.maximum(np.where(matched, c_gen, c_rand), floor)

    out = {"nominal": cast(smear["nom"])}
    uncertainty: dict[str, np.ndarray] = {}  # per source, shared by up and down
    for name in wanted:
        if name.startswith("JER_"):
            c = smear[name.removeprefix("JER_")]
        else:
            label, direction = name.removeprefix("JES_").rsplit("_", 1)
            if label not in uncertainty:
                src = next(x for x in s.jes_sources if x.removeprefix("Regrouped_") == label)
                uncertainty[label] = corrections.evaluate(
                    "jets", corrections.jes_name(src), JetEta=eta, JetPt=pt)
            unc = uncertainty[label]
            c = smear["nom"] * (1.0 + unc if direction == "up" else 1.0 - unc)
        out[name] = cast(c)
    return counts, out


def _is_weight_name(name: str) -> bool:
    return name.startswith(WEIGHT_PREFIXES)
