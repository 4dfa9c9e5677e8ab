"""Training sets from NanoAOD-layout events (generated samples or the toy source).

:func:`read_nanoaod` reads the collections the trainings need from a NanoAOD/PFNano ROOT
file into an awkward record array with the same field names as coffea NanoEvents.
:func:`boosted_jets` labels and tensorises fat jets for the boosted tagger.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from analysis.constituents import constituent_tensors, has_constituents, select_fatjets
from common.exceptions import ConfigError, InputFileError
from inference.training.settings import BoostedTaggerSettings
from inference.training.truth import LABEL_QCD, LABEL_TOP, hadronic_top_decays, label_fatjets

#: collections the trainings read: tagger inputs and truth, and what the analysis
#: preselection needs (trigger bits, leptons to veto, rho and generator jets for the jets)
COLLECTIONS = ("Jet", "FatJet", "PFCands", "FatJetPFCands", "GenPart", "HLT", "Electron", "Muon",
               "Rho", "GenJet")
#: per-event branches (the JER smearing is seeded by run, lumi block and event)
SCALARS = ("event", "run", "luminosityBlock")
#: substructure baseline inputs (NanoAOD FatJet branches)
BASELINE_FEATURES = ("pt", "msoftdrop", "tau21", "tau32")
#: soft-drop mass window of the cut-based top tag (CMS, JINST 15 (2020) P06005: 105-210 GeV)
MSD_WINDOW = (105.0, 210.0)


def read_nanoaod(path: str | Path, collections: tuple[str, ...] = COLLECTIONS) -> ak.Array:
    """Read ``collections`` and :data:`SCALARS` (those present) from the ``Events`` tree.

    ``event`` counts from 0 where the file has none.
    """
    try:
        tree = uproot.open(path)["Events"]
    except (OSError, KeyError, ValueError) as err:
        raise InputFileError(str(path), f"cannot read the Events tree ({err})") from err
    keys = set(tree.keys())
    out = {}
    for coll in collections:
        names = [k for k in keys if k.startswith(coll + "_")]
        if not names:
            continue
        arr = tree.arrays(names)
        out[coll] = ak.zip({k[len(coll) + 1 :]: arr[k] for k in names})
    for name in SCALARS:
        if name in keys:
            out[name] = tree[name].array()
    if "event" not in out:
        out["event"] = ak.Array(np.arange(tree.num_entries))
    return ak.zip(out, depth_limit=1)


def baseline_features(fatjets: ak.Array) -> np.ndarray:
    """(n, 4) array of pt, msoftdrop, tau21, tau32 for flat fat jets."""
    t1, t2, t3 = (ak.to_numpy(fatjets[f"tau{i}"]).astype(np.float64) for i in (1, 2, 3))
    return np.stack(
        [
            ak.to_numpy(fatjets.pt).astype(np.float64),
            ak.to_numpy(fatjets.msoftdrop).astype(np.float64),
            np.where(t1 > 0, t2 / np.where(t1 > 0, t1, 1), 1.0),
            np.where(t2 > 0, t3 / np.where(t2 > 0, t2, 1), 1.0),
        ],
        axis=1,
    ).astype(np.float32)


def substructure_baseline_score(baseline: np.ndarray) -> np.ndarray:
    """Cut-based top tag as a score: jets inside the soft-drop mass window rank above all
    others, then by low tau32; a threshold on it is "msd in window and tau32 < cut"."""
    msd, tau32 = baseline[:, 1], baseline[:, 3]
    inside = (msd > MSD_WINDOW[0]) & (msd < MSD_WINDOW[1])
    return np.where(inside, 1.0 - tau32, -1.0 - tau32).astype(np.float32)


def boosted_jets(
    events: ak.Array, settings: BoostedTaggerSettings, keep_label: int
) -> dict[str, np.ndarray]:
    """Tensors, baseline features and event numbers of fat jets with truth label ``keep_label``.

    Use ``LABEL_TOP`` on top-rich samples (signal) and ``LABEL_QCD`` on QCD (background).
    """
    if keep_label not in (LABEL_TOP, LABEL_QCD):
        raise ConfigError(
            f"boosted_jets: keep_label must be LABEL_TOP ({LABEL_TOP}) or LABEL_QCD "
            f"({LABEL_QCD}), got {keep_label}; the caller passed a wrong label"
        )
    if not has_constituents(events):
        raise InputFileError("<events>", "no FatJetPFCands/PFCands collections (need PFNano)")
    labels = label_fatjets(
        events.FatJet, hadronic_top_decays(events.GenPart), settings.matching_radius
    )
    mask = select_fatjets(events.FatJet, settings.min_fatjet_pt, settings.max_abs_eta)
    mask = mask & (labels == keep_label)
    out = constituent_tensors(events, mask, settings.pad_length)
    out["baseline"] = baseline_features(ak.flatten(events.FatJet[mask]))
    out["event"] = ak.to_numpy(
        ak.flatten(ak.broadcast_arrays(events.event, events.FatJet.pt)[0][mask])
    )
    out["label"] = np.full(len(out["mask"]), 1 if keep_label == LABEL_TOP else 0, np.int32)
    return out


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate dicts of arrays key by key."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def split_by_event(data: dict[str, np.ndarray], test_fraction: float, seed: int):
    """Deterministic train/test split by a hash of the event number (jets of an event together)."""
    h = (data["event"].astype(np.uint64) * np.uint64(2654435761) + np.uint64(seed)) % np.uint64(
        1000
    )
    test = h < int(test_fraction * 1000)
    return ({k: v[~test] for k, v in data.items()}, {k: v[test] for k, v in data.items()})
