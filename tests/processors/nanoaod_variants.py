"""Variants of the real NanoAOD reference files that mimic other NanoAOD versions and skims.

Each builder reads a real file with uproot, drops, renames or adds branches, and writes a new
file (TTree, or RNTuple with :func:`write_rntuple`). Only the first ``N_EVENTS`` events are
kept so that the full configuration runs quickly on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot
import yaml

from analysis.config import AnalysisConfig, default_config_path, parse_config

N_EVENTS = 30
Branches = dict[str, ak.Array]


#: what the analysis reads (writing all ~1800 branches of a PFNano file would take a minute)
KEEP = ("run", "luminosityBlock", "event", "genWeight", "Pileup_nTrueInt", "LHEScaleWeight",
        "nLHEScaleWeight", "PSWeight", "nPSWeight", "Rho_fixedGridRhoFastjetAll",
        "fixedGridRhoFastjetAll", "HLT_PFHT", "Jet_", "nJet", "FatJet_", "nFatJet", "GenJet_",
        "nGenJet", "nElectron", "nMuon", "PFCands_", "nPFCands", "FatJetPFCands_",
        "nFatJetPFCands",
        *(f"{lep}_{v}" for lep in ("Electron", "Muon")
          for v in ("pt", "eta", "phi", "mass", "charge", "cutBased", "tightId",
                    "pfRelIso04_all")))


def read_branches(path: Path, n: int = N_EVENTS) -> Branches:
    """The analysis's branches of ``Events`` (first ``n`` entries) by NanoAOD branch name."""
    tree = uproot.open(path)["Events"]
    names = [k for k in tree.keys() if k.startswith(KEEP) and not k.startswith("GenJetAK8")]
    arrays = tree.arrays(names, entry_stop=n)
    return {name: arrays[name] for name in arrays.fields}


def _collections(branches: Branches) -> dict[str, ak.Array]:
    """Group ``X_*`` jagged branches as records ``X`` (uproot then writes ``nX`` + ``X_*``)."""
    jagged = {name.partition("_")[0] for name, arr in branches.items() if arr.ndim > 1}
    grouped: dict[str, dict[str, ak.Array]] = {}
    out: dict[str, ak.Array] = {}
    for name, arr in branches.items():
        if name.startswith("n") and name[1:] in jagged:
            continue  # a count: uproot writes it with its collection
        prefix, _, rest = name.partition("_")
        if arr.ndim > 1 and rest:
            grouped.setdefault(prefix, {})[rest] = arr
        else:
            out[name] = arr
    out.update({prefix: ak.zip(fields) for prefix, fields in grouped.items()})
    return out


def write_ttree(branches: Branches, path: Path, runs: Branches | None = None) -> Path:
    """Write NanoAOD-style ``Events`` (and optionally ``Runs``) trees."""
    with uproot.recreate(path) as f:
        # mktree + extend: assigning a dict would write an RNTuple in uproot >= 5.7
        for name, data in (("Events", _collections(branches)), ("Runs", runs)):
            if data is not None:
                tree = f.mktree(name, {k: v.type for k, v in data.items()})
                tree.extend(data)
    return path


def write_rntuple(branches: Branches, path: Path, collections: bool = False) -> Path:
    """Write ``Events`` as an RNTuple: NanoAOD's flat field names, or with ``collections``
    each ``X_*`` group as one record field ``X`` (subfields ``X.pt``, ...)."""
    with uproot.recreate(path) as f:
        f.mkrntuple("Events", _collections(branches) if collections else dict(branches))
    return path


def drop(branches: Branches, *prefixes: str) -> Branches:
    """Branches without those whose name starts with any of ``prefixes`` (and their counts)."""
    counts = tuple(f"n{p.rstrip('_')}" for p in prefixes)
    return {k: v for k, v in branches.items()
            if not k.startswith(prefixes) and k not in counts}


def like_run2(branches: Branches) -> Branches:
    """v12 -> Run 2 naming: ``Rho_fixedGridRho*`` become ``fixedGridRho*``."""
    return {k.removeprefix("Rho_"): v for k, v in branches.items()}


def like_v15(branches: Branches) -> Branches:
    """v12 -> v15: no ``Jet_jetId``; ``Jet_chMultiplicity`` / ``Jet_neMultiplicity`` and
    ``Jet_btagUParTAK4B`` are stored. v12 has no multiplicities: a jet's constituents count as
    charged inside the tracker (|η| < 2.5) when it has charged energy, else as neutral."""
    out = drop(branches, "Jet_jetId")
    charged = (branches["Jet_chHEF"] + branches["Jet_chEmEF"] + branches["Jet_muEF"] > 0) & (
        abs(branches["Jet_eta"]) < 2.5)
    n = branches["Jet_nConstituents"]
    out["Jet_chMultiplicity"] = ak.values_astype(ak.where(charged, n, 0), np.uint8)
    out["Jet_neMultiplicity"] = ak.values_astype(ak.where(charged, 0, n), np.uint8)
    out["Jet_btagUParTAK4B"] = branches["Jet_btagRobustParTAK4B"]
    return out


def runs_tree(path: Path) -> Branches | None:
    """The ``Runs`` tree of a file, or None."""
    with uproot.open(path) as f:
        if "Runs" not in f:
            return None
        arrays = f["Runs"].arrays()
        return {k: arrays[k] for k in arrays.fields if arrays[k].ndim == 1}  # scalars only


def default_config_with(datasets: dict[str, tuple[list[Path], str, str]],
                        **sections: Any) -> AnalysisConfig:
    """The shipped default configuration with only ``datasets`` replaced.

    ``datasets``: name -> (files, era, kind); MC datasets get a tt̄ cross section and are
    their own process (so histograms tell them apart). ``sections`` override top-level keys.
    """
    data = yaml.safe_load(default_config_path().read_text())
    data["datasets"] = {
        name: {"process": name, "kind": kind, "era": era, "files": [str(f) for f in files],
               **({"xsec_pb": 833.9} if kind == "mc" else {})}
        for name, (files, era, kind) in datasets.items()
    }
    data.update(sections)
    return parse_config(data)
