"""Per-event weight corrections and their variations (selections are left unchanged).

`event_weights` returns a `WeightSet`: the nominal product of the MC corrections (b-tagging
SF, pileup, trigger SF) and, per variation name, the total weight with one component varied.
The generator weight, cross section and luminosity are not included: the processor
multiplies them in. Theory variations (muR/muF envelope, ISR/FSR) have nominal factor one.

b-tagging uses the fixed working-point method "1a" of CMS BTV: per event
w = prod_tagged SF_i * prod_untagged (1 - SF_i eff_i) / (1 - eff_i), with SF for b/c jets
from the ``comb`` correction and for light jets from ``incl``. Since the weight depends on
the selected jets, call `event_weights` again on the selected jets of each jet variation.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np

from analysis.flat import FlatCollection
from common.exceptions import CorrectionError
from corrections.loader import Corrections

# LHEScaleWeight index -> (muR, muF); NanoAOD doc: with 9 entries [4] is the nominal,
# with 8 entries the nominal is left out. (0.5, 2) and (2, 0.5) are the anomalous pairs.
_SCALE_KEEP = {9: [0, 1, 3, 5, 7, 8], 8: [0, 1, 3, 4, 6, 7]}
# PSWeight (NanoAOD doc): [0] ISR=2 FSR=1, [1] ISR=1 FSR=2, [2] ISR=0.5 FSR=1, [3] ISR=1 FSR=0.5
_PS_INDEX = {"ISR_up": 0, "FSR_up": 1, "ISR_down": 2, "FSR_down": 3}
# variation-name prefix -> the NanoAOD input it needs (absent input: variation not made)
_NEEDS_INPUT = {"muRmuF_": "LHEScaleWeight", "ISR_": "PSWeight", "FSR_": "PSWeight",
                "pileup_": "Pileup_nTrueInt"}


@dataclass(frozen=True)
class WeightSet:
    """Nominal correction weight per event, its components, and varied totals."""

    nominal: np.ndarray
    factors: dict[str, np.ndarray] = field(default_factory=dict)
    variations: dict[str, np.ndarray] = field(default_factory=dict)

    def weight(self, name: str = "nominal") -> np.ndarray:
        """Total correction weight for ``name`` ("nominal" or a variation)."""
        if name == "nominal":
            return self.nominal
        if name not in self.variations:
            raise CorrectionError(f"weight variation {name!r} was not computed; "
                                  f"available: {sorted(self.variations)}")
        return self.variations[name]


def weight_variation_names(corrections: Corrections) -> list[str]:
    """All weight-variation names the settings enable."""
    s = corrections.settings
    names: list[str] = []
    if s.btag.enabled:
        names += [f"btag_{g}{k}_{d}" for g in ("hf", "light")
                  for k in ("", "_correlated", "_uncorrelated") for d in ("up", "down")]
    for kind in ("pileup", "trigger"):
        if getattr(s, kind).enabled:
            names += [f"{kind}_up", f"{kind}_down"]
    if s.theory:
        names += ["muRmuF_up", "muRmuF_down", *_PS_INDEX]
    return names


def _btag(jets: FlatCollection, corr: Corrections, systs: set[tuple[str, str]],
          threshold: float) -> dict[tuple[str, str], np.ndarray]:
    """Method-1a event weights for each (heavy systematic, light systematic) pair."""
    b = corr.settings.btag
    pt = jets["pt"].astype(np.float64)
    abseta = np.abs(jets["eta"].astype(np.float64))
    flav = jets["hadronFlavour"].astype(np.int64)
    tagged = jets[b.discriminant] > threshold
    heavy = (flav == 4) | (flav == 5)
    eff = corr.evaluate("btag", b.efficiency_correction, working_point=b.working_point,
                        flavor=flav, abseta=abseta, pt=pt)
    eff = np.clip(eff, 1e-6, 1.0 - 1e-6)

    # scale factors of the heavy-flavour jets and of the light ones, per systematic
    light = ~heavy
    parts = {"heavy": (heavy, b.heavy_correction), "light": (light, b.light_correction)}
    inputs = {k: (flav[m], abseta[m], pt[m]) for k, (m, _) in parts.items()}

    def sf(part: str, syst: str) -> np.ndarray:
        f, a, p = inputs[part]
        if len(f) == 0:
            return f.astype(np.float64)
        return corr.evaluate("btag", parts[part][1], systematic=syst,
                             working_point=b.working_point, flavor=f, abseta=a, pt=p)

    # each systematic once (the pairs repeat "central" on one side)
    heavy_sf = {h: sf("heavy", h) for h in dict.fromkeys(h for h, _ in systs)}
    light_sf = {lt: sf("light", lt) for lt in dict.fromkeys(lt for _, lt in systs)}
    result = {}
    s = np.ones_like(pt)
    for h, lt in systs:
        s[heavy], s[light] = heavy_sf[h], light_sf[lt]
        per_jet = np.where(tagged, s, (1.0 - np.minimum(s * eff, 1.0)) / (1.0 - eff))
        result[(h, lt)] = jets.event_prod(per_jet)
    return result


def _btag_pair(name: str) -> tuple[str, str]:
    """btag_hf_correlated_up -> ("up_correlated", "central"): (heavy, light) systematics."""
    group, rest = name.removeprefix("btag_").split("_", 1)
    syst = "_".join(reversed(rest.split("_")))
    return (syst, "central") if group == "hf" else ("central", syst)


def _theory(events: ak.Array, names: list[str]) -> dict[str, np.ndarray]:
    """muR/muF envelope (anomalous pairs excluded) and ISR/FSR factors per event."""
    n_ev = len(events)
    out: dict[str, np.ndarray] = {}
    if any(n.startswith("muRmuF") for n in names):
        up = down = np.ones(n_ev)
        if "LHEScaleWeight" in events.fields and n_ev:
            lengths = set(np.unique(ak.to_numpy(ak.num(events.LHEScaleWeight))).tolist())
            if lengths - {0} and not (len(lengths) == 1 and lengths <= set(_SCALE_KEEP)):
                raise CorrectionError(f"LHEScaleWeight has lengths {sorted(lengths)}; expected all "
                                      "9 or all 8 (NanoAOD muR x muF grid)")
            if lengths <= set(_SCALE_KEEP):
                w = ak.to_numpy(ak.to_regular(events.LHEScaleWeight, axis=1))
                keep = w[:, _SCALE_KEEP[lengths.pop()]].astype(np.float64)
                up, down = keep.max(axis=1), keep.min(axis=1)
        out["muRmuF_up"], out["muRmuF_down"] = up, down
    ps_names = [n for n in names if n in _PS_INDEX]
    if ps_names:
        ps = None
        if "PSWeight" in events.fields and n_ev:
            lengths = set(np.unique(ak.to_numpy(ak.num(events.PSWeight))).tolist())
            if lengths == {4}:
                ps = ak.to_numpy(ak.to_regular(events.PSWeight, axis=1)).astype(np.float64)
            elif not lengths <= {0, 1}:  # length 1 is NanoAOD's placeholder for "no PS weights"
                raise CorrectionError(f"PSWeight has lengths {sorted(lengths)}; expected 4")
        for n in ps_names:
            out[n] = ps[:, _PS_INDEX[n]] if ps is not None else np.ones(n_ev)
    return out


def event_weights(
    events: ak.Array,
    selected_jets: ak.Array | FlatCollection,
    corrections: Corrections,
    names: list[str] | None = None,
    *,
    is_data: bool = False,
    btag_threshold: float | None = None,
    absent: Collection[str] = (),
) -> WeightSet:
    """Nominal correction weight and weight variations per event.

    Args:
        events: events with Pileup.nTrueInt, LHEScaleWeight, PSWeight (as enabled).
        selected_jets: jets after the analysis selection (pt, eta, hadronFlavour, b-tag score),
            jagged or flat.
        corrections: loaded payloads.
        names: variations wanted (default: all enabled); jet-variation names are ignored.
        is_data: data gets no MC corrections: nominal ones, no variations.
        btag_threshold: discriminant cut; default the payload's value for the configured WP.
        absent: optional inputs the file lacks (e.g. ``Pileup_nTrueInt``): their factor is 1;
            the caller leaves out (and reports) the variations that need them.
    """
    n_ev = len(events)
    if is_data:
        return WeightSet(nominal=np.ones(n_ev))
    s = corrections.settings
    known = weight_variation_names(corrections)
    wanted = known if names is None else [n for n in names if n in known]
    wanted = [n for n in wanted
              if not any(n.startswith(p) and i in absent for p, i in _NEEDS_INPUT.items())]
    factors: dict[str, np.ndarray] = {}
    varied: dict[str, tuple[str, np.ndarray]] = {}  # name -> (component, varied factor)
    jets = _flat(selected_jets, s)

    if s.btag.enabled:
        thr = corrections.btag_threshold() if btag_threshold is None else btag_threshold
        pairs = {n: _btag_pair(n) for n in wanted if n.startswith("btag_")}
        bw = _btag(jets, corrections, {("central", "central"), *pairs.values()}, thr)
        factors["btag"] = bw[("central", "central")]
        varied.update({n: ("btag", bw[pair]) for n, pair in pairs.items()})
    if s.pileup.enabled and "Pileup_nTrueInt" not in absent:
        ntrue = np.asarray(ak.to_numpy(events.Pileup.nTrueInt), dtype=np.float64)
        for syst in ("nominal", "up", "down"):
            if syst == "nominal" or f"pileup_{syst}" in wanted:
                w = corrections.evaluate("pileup", s.pileup.correction,
                                         NumTrueInteractions=ntrue, weights=syst)
                if syst == "nominal":
                    factors["pileup"] = w
                else:
                    varied[f"pileup_{syst}"] = ("pileup", w)
    if s.trigger.enabled:
        ht = jets.event_sum(jets["pt"]).astype(np.float64)
        thr = corrections.btag_threshold() if btag_threshold is None else btag_threshold
        nb = jets.event_count(jets[s.btag.discriminant] > thr).astype(np.float64)
        for syst in ("nominal", "up", "down"):
            if syst == "nominal" or f"trigger_{syst}" in wanted:
                w = corrections.evaluate("trigger", s.trigger.correction, systematic=syst,
                                         HT=ht, NBJets=nb)
                if syst == "nominal":
                    factors["trigger"] = w
                else:
                    varied[f"trigger_{syst}"] = ("trigger", w)
    for n, w in _theory(events, wanted).items():
        varied[n] = ("theory", w)

    nominal = _product(factors.values(), n_ev)
    totals = {n: _product([f for k, f in factors.items() if k != comp], n_ev) * w
              for n, (comp, w) in varied.items()}
    return WeightSet(nominal=nominal, factors=factors, variations=totals)


def _flat(jets: ak.Array | FlatCollection, s: Any) -> FlatCollection:
    """The selected jets as flat arrays, with the fields the enabled weights read."""
    if isinstance(jets, FlatCollection):
        return jets
    names = ["pt", s.btag.discriminant] if s.btag.enabled or s.trigger.enabled else []
    names += ["eta", "hadronFlavour"] if s.btag.enabled else []
    return FlatCollection.from_awkward(jets, names)


def _product(arrays: Any, n: int) -> np.ndarray:
    out = np.ones(n)
    for a in arrays:
        out = out * np.asarray(a, dtype=np.float64)
    return out
