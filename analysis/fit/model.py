"""The pyhf statistical model of the signal-region cell, built from checked fit inputs.

One channel (the fitted cell, binned in the event-DNN score with the ABCDnn fit binning);
samples and modifiers:

* signal: normfactor μ (the POI), luminosity, experimental/theory variations;
* the ABCDnn background: extended-ABCD normalization (a normsys from its statistical
  uncertainty, or a free normfactor), ensemble spread, validation non-closure and
  extrapolation (histosys), template statistics (staterror);
* the signal that leaks into the extended-ABCD estimate (``signal_leakage``): a sample of
  -dN_D/dμ in the template's shape with the normfactor μ; the background is then the
  prediction with no signal subtracted (standard "signal contamination" treatment of
  data-driven backgrounds: the effective signal is the signal-region yield minus what the
  control regions' share of it adds to the prediction);
* minor backgrounds (ttW, ttZ, ttH): cross-section normsys, luminosity, variations;
* every ``<name>_up``/``<name>_down`` variation of the simulated samples: a normsys (yield
  effect) and a shape-only histosys (unit-area shape) sharing one nuisance parameter
  ``<name>``; a variation with only one side is symmetrized about the nominal. A modifier
  whose effect is below ``prune_threshold`` is dropped and listed in the pruning report;
* MC statistics: one staterror per bin (Barlow-Beeston lite over all samples).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyhf

from analysis.fit.inputs import FitInputs, SampleHistograms
from analysis.fit.settings import FitSettings
from common.exceptions import FitError

LUMI = "lumi"
#: HEPData reference required by pyhf's patchset schema; replace it with the analysis'
#: INSPIRE record when the likelihood is submitted.
HEPDATA_PLACEHOLDER = "ins0000000"


@dataclass
class ModelReport:
    """What the builder did with the variations: kept and pruned modifiers per sample."""

    kept: dict[str, list[str]] = field(default_factory=dict)
    pruned: list[dict[str, Any]] = field(default_factory=list)
    symmetrized: list[dict[str, str]] = field(default_factory=list)
    #: dN_D/dμ modelled as the '<signal>_leakage' sample (0: none)
    signal_leakage: float = 0.0


def variation_pairs(names: list[str] | set[str]) -> dict[str, tuple[str | None, str | None]]:
    """``{"JES_Total": ("JES_Total_up", "JES_Total_down"), ...}``; a missing side is None."""
    pairs: dict[str, list[str | None]] = {}
    for name in sorted(names):
        for suffix, side in (("_up", 0), ("_down", 1)):
            if name.endswith(suffix):
                pairs.setdefault(name[: -len(suffix)], [None, None])[side] = name
                break
        else:
            raise FitError(f"variation {name!r} is neither <name>_up nor <name>_down; the fit "
                           "cannot tell which side it is")
    return {base: (up, down) for base, (up, down) in pairs.items()}


def _variation_modifiers(sample: SampleHistograms, threshold: float,
                         report: ModelReport) -> list[dict[str, Any]]:
    nominal = sample.nominal
    total = nominal.sum()
    if not total > 0:
        return []  # no yield in this cell: nothing for a variation to change
    modifiers = []
    for base, (up_name, down_name) in variation_pairs(sample.variations).items():
        up = sample.variations[up_name] if up_name else None
        down = sample.variations[down_name] if down_name else None
        if up is None or down is None:
            given = up if up is not None else down
            mirrored = np.clip(2.0 * nominal - given, 0.0, None)
            up, down = (given, mirrored) if up is not None else (mirrored, given)
            report.symmetrized.append({"sample": sample.name, "systematic": base})
        hi, lo = up.sum() / total, down.sum() / total
        norm_effect = max(abs(hi - 1.0), abs(lo - 1.0))
        if norm_effect >= threshold and lo > 0 and hi > 0:
            modifiers.append({"name": base, "type": "normsys", "data": {"hi": hi, "lo": lo}})
        else:
            report.pruned.append({"sample": sample.name, "systematic": base, "type": "normsys",
                                  "effect": float(norm_effect)})
        shape_up = up / up.sum() * total if up.sum() > 0 else nominal
        shape_down = down / down.sum() * total if down.sum() > 0 else nominal
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(nominal > 0, np.maximum(abs(shape_up - nominal),
                                                   abs(shape_down - nominal)) / nominal, 0.0)
        shape_effect = float(rel.max())
        if shape_effect >= threshold:
            modifiers.append({"name": base, "type": "histosys",
                              "data": {"hi_data": shape_up.tolist(),
                                       "lo_data": shape_down.tolist()}})
        else:
            report.pruned.append({"sample": sample.name, "systematic": base,
                                  "type": "histosys", "effect": shape_effect})
    return modifiers


def _staterror(region: str, sample: SampleHistograms) -> dict[str, Any]:
    return {"name": f"staterror_{region}", "type": "staterror",
            "data": np.sqrt(sample.variance).tolist()}


def _lumi_modifiers(settings: FitSettings) -> list[dict[str, Any]]:
    """The luminosity normsys of a simulated sample (none if its uncertainty is 0)."""
    lumi = settings.luminosity_uncertainty
    if lumi > 0:
        return [{"name": LUMI, "type": "normsys", "data": {"hi": 1.0 + lumi, "lo": 1.0 - lumi}}]
    return []


def _simulated_sample(sample: SampleHistograms, inputs: FitInputs, settings: FitSettings,
                      report: ModelReport) -> dict[str, Any]:
    mods: list[dict[str, Any]] = []
    if sample.name == settings.signal:
        mods.append({"name": settings.poi, "type": "normfactor", "data": None})
        xsec = settings.signal_xsec_uncertainty
    else:
        xsec = settings.minor_backgrounds[sample.name]
    if xsec > 0:
        mods.append({"name": f"xsec_{sample.name}", "type": "normsys",
                     "data": {"hi": 1.0 + xsec, "lo": max(1.0 - xsec, 1e-3)}})
    mods += _lumi_modifiers(settings)
    mods.append(_staterror(inputs.region, sample))
    variations = _variation_modifiers(sample, settings.prune_threshold, report)
    report.kept[sample.name] = sorted({f"{m['name']}:{m['type']}" for m in variations})
    return {"name": sample.name, "data": sample.nominal.tolist(), "modifiers": mods + variations}


def _leakage(inputs: FitInputs, settings: FitSettings) -> tuple[float, float]:
    """(dN_D/dμ, the μ the template already subtracted) if the leakage is modelled."""
    norm = inputs.background.normalization
    leakage = float(norm.get("signal_leakage", 0.0)) if settings.signal_leakage else 0.0
    if not np.isfinite(leakage):
        raise FitError(f"the ABCDnn template's signal_leakage {leakage} is not finite")
    return leakage, float(norm.get("subtracted_signal_strength", 0.0))


def _leakage_sample(inputs: FitInputs, settings: FitSettings, leakage: float
                    ) -> dict[str, Any]:
    shape = np.asarray(inputs.background.nominal, dtype=np.float64)
    shape = shape / shape.sum()
    # the leaked events are signal simulation scaled to the luminosity
    mods = [{"name": settings.poi, "type": "normfactor", "data": None},
            *_lumi_modifiers(settings)]
    return {"name": f"{settings.signal}_leakage", "data": (-leakage * shape).tolist(),
            "modifiers": mods}


def _background_sample(inputs: FitInputs, settings: FitSettings,
                       scale: float = 1.0) -> dict[str, Any]:
    """The ABCDnn sample; ``scale`` multiplies every yield of the template (its variations,
    statistics) alike, e.g. to add back the signal subtracted in its control cells."""
    t = inputs.background
    name = settings.background_name
    nominal = scale * np.asarray(t.nominal, dtype=np.float64)
    mods: list[dict[str, Any]] = []
    if settings.background_normalization == "free":
        mods.append({"name": f"{name}_norm", "type": "normfactor", "data": None})
    else:
        value, unc = t.normalization.get("value", 0.0), t.normalization.get("uncertainty", 0.0)
        if not value > 0:
            raise FitError(f"the ABCDnn template's normalization {t.normalization} has no "
                           "positive value; the extended-ABCD estimate failed")
        rel = unc / value
        mods.append({"name": f"{name}_norm", "type": "normsys",
                     "data": {"hi": 1.0 + rel, "lo": max(1.0 - rel, 1e-3)}})
        # the extended-ABCD formula's bias, sized in the validation cell (a free
        # normalization absorbs it)
        nc = t.normalization_nonclosure
        if nc > 0:
            mods.append({"name": f"{name}_norm_nonclosure", "type": "normsys",
                         "data": {"hi": 1.0 + nc, "lo": max(1.0 - nc, 1e-3)}})
    def scaled(values: list[float]) -> list[float]:
        return (scale * np.asarray(values, dtype=np.float64)).tolist()

    mods.append({"name": f"{name}_ensemble", "type": "histosys",
                 "data": {"hi_data": scaled(t.ensemble_up), "lo_data": scaled(t.ensemble_down)}})
    if t.nonclosure_up and t.nonclosure_down:
        mods.append({"name": f"{name}_nonclosure", "type": "histosys",
                     "data": {"hi_data": scaled(t.nonclosure_up),
                              "lo_data": scaled(t.nonclosure_down)}})
    if t.extrapolation_up and t.extrapolation_down:
        mods.append({"name": f"{name}_extrapolation", "type": "histosys",
                     "data": {"hi_data": scaled(t.extrapolation_up),
                              "lo_data": scaled(t.extrapolation_down)}})
    mods.append({"name": f"staterror_{inputs.region}", "type": "staterror",
                 "data": scaled(t.stat_unc)})
    return {"name": name, "data": nominal.tolist(), "modifiers": mods}


def build_workspace(inputs: FitInputs, settings: FitSettings) -> tuple[dict[str, Any],
                                                                        ModelReport]:
    """The pyhf workspace specification (validated against pyhf's schema) and the report."""
    report = ModelReport()
    leakage, subtracted = _leakage(inputs, settings)
    # the template subtracted the signal at μ = ``subtracted``: add it back, so that the
    # background is the prediction with no signal subtracted and μ·leakage is taken away
    scale = 1.0
    if leakage != 0.0:
        scale += subtracted * leakage / float(np.sum(inputs.background.nominal))
    samples = [_background_sample(inputs, settings, scale)]
    for name in sorted([settings.signal, *settings.minor_backgrounds]):
        samples.append(_simulated_sample(inputs.samples[name], inputs, settings, report))
    if leakage != 0.0:
        samples.append(_leakage_sample(inputs, settings, leakage))
    report.signal_leakage = leakage
    parameters = [{"name": settings.poi, "bounds": [list(settings.poi_bounds)], "inits": [1.0]}]
    if settings.background_normalization == "free":
        parameters.append({"name": f"{settings.background_name}_norm", "bounds": [[0.0, 10.0]],
                           "inits": [1.0]})
    spec = {
        "channels": [{"name": inputs.region, "samples": samples}],
        "observations": [{"name": inputs.region, "data": inputs.data.tolist()}],
        "measurements": [{"name": "fourtops", "config": {"poi": settings.poi,
                                                         "parameters": parameters}}],
        "version": "1.0.0",
    }
    pyhf.Workspace(spec)  # raises pyhf's schema error on anything malformed
    return spec, report


def background_only(spec: dict[str, Any], signal: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The HEPData pair: background-only workspace and a patchset that adds the signal.

    ``pyhf patchset apply BkgOnly.json patchset.json --name <signal>`` gives back ``spec``.
    The patch holds every sample scaled by the POI (the signal and its leakage into the
    background estimate).
    """
    bkg = copy.deepcopy(spec)
    poi = spec["measurements"][0]["config"]["poi"]

    def scaled_by_poi(sample: dict[str, Any]) -> bool:
        return sample["name"] == signal or any(
            m["type"] == "normfactor" and m["name"] == poi for m in sample["modifiers"])

    patch_ops = []
    for c, channel in enumerate(bkg["channels"]):
        for s, sample in enumerate(channel["samples"]):  # ascending: the adds restore order
            if scaled_by_poi(sample):
                patch_ops.append({"op": "add", "path": f"/channels/{c}/samples/{s}",
                                  "value": sample})
        channel["samples"] = [s for s in channel["samples"] if not scaled_by_poi(s)]
    if not any(op["value"]["name"] == signal for op in patch_ops):
        raise FitError(f"signal sample {signal!r} is not in the workspace")
    bkg_ws = pyhf.Workspace(bkg)
    patchset = {
        "metadata": {
            "description": f"signal {signal} for the fourtops background-only likelihood",
            "digests": {"sha256": pyhf.utils.digest(bkg_ws)},
            "labels": ["signal_strength"],
            "references": {"hepdata": HEPDATA_PLACEHOLDER},
        },
        "patches": [{"metadata": {"name": signal, "values": [1.0]}, "patch": patch_ops}],
        "version": "1.0.0",
    }
    pyhf.PatchSet(patchset).verify(bkg_ws)
    return bkg, patchset
