"""Object and event selection on NanoEvents collections (pure functions, no state)."""

from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.config import JetSelection, LeptonVeto
from common.exceptions import InputFileError


def select_jets(jets: ak.Array, cfg: JetSelection) -> ak.Array:
    """AK4 jets passing pT, |η| and tight-ID requirements (keeps the input pT ordering).

    The tight ID is ``passJetIdTight`` where the compatibility layer set it (stored bit or
    recomputed, processors/compat.py), else the ``jetId`` bit of the config.
    """
    tight = (jets.passJetIdTight if "passJetIdTight" in jets.fields
             else (jets.jetId & cfg.jet_id_bit) != 0)
    mask = (jets.pt > cfg.pt_min) & (abs(jets.eta) < cfg.abs_eta_max) & tight
    return jets[mask]


def has_veto_lepton(electrons: ak.Array, muons: ak.Array, cfg: LeptonVeto) -> np.ndarray:
    """True for events with an isolated tight electron or muon above the veto threshold."""
    ele = (
        (electrons.pt > cfg.pt_min)
        & (abs(electrons.eta) < cfg.electron_abs_eta_max)
        & (electrons.cutBased >= cfg.electron_cut_based_min)
    )
    mu = (
        (muons.pt > cfg.pt_min)
        & (abs(muons.eta) < cfg.muon_abs_eta_max)
        & muons.tightId
        & (muons.pfRelIso04_all < cfg.muon_iso_max)
    )
    return ak.to_numpy(ak.any(ele, axis=1) | ak.any(mu, axis=1))


def trigger_decision(events: ak.Array, paths: list[str], filename: str) -> tuple[np.ndarray,
                                                                                 list[str]]:
    """Logical OR of the trigger paths present in the file, and the list of absent paths.

    A path absent from a file did not run there, so it counts as not fired. If none of the
    paths exists the file cannot be used with this era's trigger and an error is raised.
    """
    hlt = events.HLT
    present = [p for p in paths if p.removeprefix("HLT_") in hlt.fields]
    missing = [p for p in paths if p not in present]
    if not present:
        raise InputFileError(
            filename,
            f"none of the trigger paths {paths} is in the file; check the dataset's era "
            "and the trigger.paths section of the config",
        )
    fired = np.zeros(len(events), dtype=bool)
    for p in present:
        fired |= ak.to_numpy(hlt[p.removeprefix("HLT_")])
    return fired, missing


def count_b_tags(jets: ak.Array, discriminant: str, working_point: float) -> np.ndarray:
    """Number of jets per event with discriminant above the working point."""
    return ak.to_numpy(ak.sum(jets[discriminant] > working_point, axis=1))
