"""Schema compatibility: one place that knows how NanoAOD versions differ.

Each input file's flavour (Run 2 / Run 3, version where it can be told, PFNano or not,
TTree or RNTuple, which optional inputs it lacks) is detected once, from its branch names,
when the fileset is checked (:func:`detect_flavour`). The processor then reads its columns
through this module under one name, whatever the file:

* rho: ``Rho_fixedGridRhoFastjetAll`` (Run 3) or ``fixedGridRhoFastjetAll`` (Run 2);
* tight jet ID: the stored ``Jet_jetId`` bit, or recomputed from energy fractions and
  multiplicities with the JME criteria (v15 has no ``Jet_jetId``);
* the era's b-tag discriminant (``btag.discriminant_by_era``), read as ``btag.discriminant``;
* the boosted-top score: our tagger on PF candidates (PFNano), else NanoAOD's own
  ParticleNet score, else marked missing;
* weights whose inputs are absent (genWeight, Pileup, LHE/PS weights) are not invented:
  the variations are skipped and listed.

What cannot be handled raises :class:`~common.exceptions.SchemaCompatibilityError`, naming
branch, file and flavour. :func:`inputs_summary` is the summary's record of all of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import awkward as ak
import numpy as np

from analysis.config import AnalysisConfig
from common.exceptions import SchemaCompatibilityError
from corrections.jet_id import FRACTIONS as _FRACTIONS
from corrections.jet_id import JetIdCriteria, jet_id_from_fractions

RHO = {"Run 3": "Rho_fixedGridRhoFastjetAll", "Run 2": "fixedGridRhoFastjetAll"}
EVENT_ID = ("run", "luminosityBlock", "event")
#: optional MC inputs -> the variations (by name prefix) that need them
OPTIONAL_INPUTS = {"LHEScaleWeight": ("muRmuF_",), "PSWeight": ("ISR_", "FSR_"),
                   "Pileup_nTrueInt": ("pileup_",), "genWeight": ()}
#: columns that cannot be made without a boosted-top score (the DNN reads it)
NEEDS_BOOSTED = ("boosted_top_score_max", "n_boosted_tops", "dnn_score")


@dataclass(frozen=True)
class FileFlavour:
    """What one input file is, and how the processor reads it."""

    path: str
    run: str                 # "Run 2", "Run 3" or "unknown"
    version: str             # e.g. "v12-v14", "v15 or later", "v9 or older"
    storage: str             # "TTree" or "RNTuple"
    pfnano: bool
    rho: str | None          # branch holding rho, None if absent
    jet_id: str              # "stored" or "recomputed"
    boosted: str | None      # "PFCands", a FatJet branch, or None (missing)
    btag: str                # Jet field read as the b-tag discriminant
    absent: tuple[str, ...]  # optional inputs the file lacks (incl. "Runs")
    notes: tuple[str, ...]   # substitutions made, in words

    @property
    def label(self) -> str:
        """One line: e.g. 'Run 3 NanoAOD v12-v14, TTree, PFNano'."""
        return (f"{self.run} NanoAOD {self.version}, {self.storage}"
                + (", PFNano" if self.pfnano else ""))

    def skipped(self, variations: list[str]) -> list[str]:
        """The variations among ``variations`` whose inputs this file lacks."""
        prefixes = tuple(p for name in self.absent for p in OPTIONAL_INPUTS.get(name, ()))
        return [v for v in variations if prefixes and v.startswith(prefixes)]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record for the run summary."""
        return {**asdict(self), "flavour": self.label}


def branch_names(events: ak.Array) -> set[str]:
    """NanoAOD branch names of NanoEvents (from the form only: nothing is read)."""
    names = set()
    layout = events.layout  # the bare layout: no collection behaviour runs
    for f in layout.fields:
        sub = layout.content(f)
        while not sub.is_record and hasattr(sub, "content"):
            sub = sub.content
        names.update(f"{f}_{s}" for s in sub.fields) if sub.is_record else names.add(f)
    return names


def detect_flavour(path: str, names: set[str], config: AnalysisConfig, era: str, is_mc: bool,
                   storage: str = "TTree", ps_lengths: set[int] | None = None,
                   has_runs: bool = True) -> FileFlavour:
    """The flavour of a file with branches ``names``; raise if the processor cannot read it.

    ``ps_lengths``: the PSWeight lengths found in the file (a length of 1 is NanoAOD's
    placeholder for "no parton-shower weights").
    """
    run = next((r for r, b in RHO.items() if b in names), "unknown")
    if run == "Run 3":
        version = "v12-v14" if "Jet_jetId" in names else "v15 or later"
    else:
        version = "v9 or older" if run == "Run 2" else "unknown version"
    pfnano = {"PFCands_pt", "FatJetPFCands_pFCandsIdx"} <= names
    label = f"{run} NanoAOD {version}, {storage}" + (", PFNano" if pfnano else "")
    notes: list[str] = []

    def gap(branch: str, detail: str) -> SchemaCompatibilityError:
        return SchemaCompatibilityError(path, label, branch, detail)

    rho = RHO.get(run)
    if rho is not None and run == "Run 2":
        notes.append(f"rho read from {rho} (Run 2 name)")
    if rho is None and config.corrections is not None:
        raise gap(RHO["Run 3"], f"jet corrections need rho, and neither {list(RHO.values())} "
                  "is in the file")

    mode = config.inputs.jet_id
    stored = "Jet_jetId" in names
    if mode == "stored" and not stored:
        raise gap("Jet_jetId", "inputs.jet_id is 'stored' but the file has no Jet_jetId; "
                  "set it to 'auto' to recompute the ID")
    jet_id = "stored" if (stored and mode != "recompute") else "recomputed"
    if jet_id == "recomputed":
        lacking = [f"Jet_{v}" for v in _FRACTIONS if f"Jet_{v}" not in names]
        if not ({"Jet_chMultiplicity", "Jet_neMultiplicity"} <= names
                or "Jet_nConstituents" in names):
            lacking.append("Jet_nConstituents")
        if lacking:
            raise gap(lacking[0], "the tight jet ID must be recomputed (no Jet_jetId) and "
                      f"needs {lacking}")
        why = "no Jet_jetId" if not stored else "inputs.jet_id is 'recompute'"
        notes.append(f"tight jet ID recomputed from energy fractions ({why})")
        if "Jet_chMultiplicity" not in names:
            notes.append("jet charged multiplicity not stored: 'chMultiplicity > 0' taken as "
                         "charged energy > 0, multiplicities from Jet_nConstituents")

    btag = config.btag.discriminant_by_era.get(era, config.btag.discriminant)
    if f"Jet_{btag}" not in names:
        raise gap(f"Jet_{btag}", f"the b-tag discriminant of era {era!r} is not in the file; "
                  "set btag.discriminant_by_era for this era to a tagger it has "
                  f"({sorted(n for n in names if n.startswith('Jet_btag'))[:6]})")
    if btag != config.btag.discriminant:
        notes.append(f"b-tag discriminant Jet_{btag} (era {era})")

    boosted = "PFCands" if pfnano else next(
        (f"FatJet_{b}" for b in config.inputs.boosted_fallbacks if f"FatJet_{b}" in names), None)
    if config.ml is not None and config.ml.enabled:
        if boosted is None:
            notes.append(f"no PF candidates and no {config.inputs.boosted_fallbacks}: "
                         f"{list(NEEDS_BOOSTED)} marked missing, their histograms not filled")
        elif boosted != "PFCands":
            notes.append(f"boosted-top score from NanoAOD's {boosted} (no PF candidates)")

    absent = []
    if is_mc:
        absent = [b for b in OPTIONAL_INPUTS if b not in names]
        if "PSWeight" in names and ps_lengths and not ps_lengths - {0, 1}:
            absent.append("PSWeight")  # only NanoAOD's one-entry placeholder
        if not has_runs:
            absent.append("Runs")
        if "genWeight" in absent:
            notes.append("no genWeight: every event weighs 1")
        if "Pileup_nTrueInt" in absent and config.corrections is not None:
            notes.append("no Pileup_nTrueInt: pileup weight 1")
        if not has_runs:
            notes.append("no Runs tree: normalized with the sum of genWeight of its events")
    return FileFlavour(path, run, version, storage, pfnano, rho, jet_id, boosted, btag,
                       tuple(absent), tuple(notes))


def flavour_of(events: ak.Array, config: AnalysisConfig, era: str, is_mc: bool,
               known: dict[str, FileFlavour]) -> FileFlavour:
    """The flavour of a chunk's file: as checked with the fileset, else detected from
    the chunk's own fields (a processor run outside the pipeline, e.g. in a notebook)."""
    path = events.metadata["filename"]
    if path in known:
        return known[path]
    return detect_flavour(path, branch_names(events), config, era, is_mc)


def rho(events: ak.Array, flavour: FileFlavour) -> np.ndarray:
    """fixedGridRhoFastjetAll per event, whatever the version calls it."""
    if flavour.rho is None:
        raise SchemaCompatibilityError(flavour.path, flavour.label, RHO["Run 3"],
                                       "rho is needed and absent")
    if flavour.rho == RHO["Run 3"]:
        return ak.to_numpy(events.Rho.fixedGridRhoFastjetAll).astype(np.float64)
    return ak.to_numpy(events[flavour.rho]).astype(np.float64)


def gen_weight(events: ak.Array, flavour: FileFlavour) -> np.ndarray:
    """genWeight per event (ones where the file has none; noted in its flavour)."""
    if "genWeight" in flavour.absent:
        return np.ones(len(events))
    return ak.to_numpy(events.genWeight).astype(np.float64)


def adapt_jets(jets: ak.Array, flavour: FileFlavour, config: AnalysisConfig,
               criteria: JetIdCriteria) -> ak.Array:
    """Jets with ``passJetIdTight`` and the era's discriminant under ``btag.discriminant``."""
    if flavour.jet_id == "stored":
        tight = (jets.jetId & config.jets.jet_id_bit) != 0
    else:
        tight = jet_id_from_fractions(jets, criteria)
    jets = ak.with_field(jets, tight, "passJetIdTight")
    if flavour.btag != config.btag.discriminant:
        jets = ak.with_field(jets, jets[flavour.btag], config.btag.discriminant)
    return jets


def boosted_columns(events: ak.Array, flavour: FileFlavour, ml_columns: Any,
                    config: AnalysisConfig) -> dict[str, np.ndarray]:
    """The boosted-top columns from the best source the file has (zeros if none: the
    processor drops :data:`NEEDS_BOOSTED` from the outputs of such a file)."""
    if flavour.boosted == "PFCands":
        return ml_columns.boosted(events)
    n = len(events)
    out = {"boosted_top_score_max": np.zeros(n, np.float32),
           "n_boosted_tops": np.zeros(n, np.int32)}
    if flavour.boosted is None or n == 0:
        return out
    s = config.ml.features if config.ml is not None else None
    fat = events.FatJet
    score = fat[flavour.boosted.removeprefix("FatJet_")]
    score = score[(fat.pt > s.boosted_min_pt) & (abs(fat.eta) < s.boosted_max_abs_eta)]
    out["boosted_top_score_max"] = ak.to_numpy(
        ak.fill_none(ak.max(score, axis=1), 0.0)).astype(np.float32)
    out["n_boosted_tops"] = ak.to_numpy(ak.sum(score > s.boosted_threshold, axis=1)).astype(
        np.int32)
    return out


def inputs_summary(flavours: dict[str, dict[str, FileFlavour]],
                   skipped: dict[str, dict[str, set[str]]], processed: dict[str, dict[str, int]],
                   lost: dict[str, int]) -> dict[str, Any]:
    """The summary's record of the inputs, per dataset: each file's flavour, substitutions
    and skipped variations, and the event count (total = processed + skipped files)."""
    out: dict[str, Any] = {}
    for dataset in sorted(set(flavours) | set(lost)):
        done = sum(processed.get(dataset, {}).values())
        out[dataset] = {
            "events": {"processed": done, "in_skipped_files": lost.get(dataset, 0),
                       "total": done + lost.get(dataset, 0)},
            "files": {path: {**fl.as_dict(), "skipped_variations":
                             sorted(skipped.get(dataset, {}).get(path, set()))}
                      for path, fl in flavours.get(dataset, {}).items()},
        }
    return out


def format_inputs(summary: dict[str, Any]) -> list[str]:
    """Lines for the printed summary: flavour, substitutions, skipped variations per file."""
    lines = []
    for dataset, rec in summary.items():
        ev = rec["events"]
        lines.append(f"inputs of {dataset}: {ev['total']} events, {ev['processed']} processed, "
                     f"{ev['in_skipped_files']} in skipped files")
        for path, fl in rec["files"].items():
            lines.append(f"  {path}: {fl['flavour']}")
            lines.extend(f"    substitution: {note}" for note in fl["notes"])
            if fl["skipped_variations"]:
                lines.append(f"    skipped variations (inputs absent): "
                             f"{fl['skipped_variations']}")
    return lines
