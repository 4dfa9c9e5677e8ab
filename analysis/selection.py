"""Object and event selection on NanoEvents collections (pure functions, no state).

:func:`preselect` is the jet part of the preselection (jets with ID, N jets, N b, HT) that
the processor runs on every jet variation; :func:`preselect_events` is the whole
preselection of simulated events (trigger, lepton veto, nominal jets, :func:`preselect`)
with which the training makes its samples, so the models are trained on the phase space
they are applied to.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import awkward as ak
import numpy as np

from analysis.config import AnalysisConfig, JetSelection, LeptonVeto
from analysis.flat import FlatCollection
from analysis.variations import jet_variations
from common.exceptions import ConfigError, InputFileError
from corrections.loader import Corrections


class Preselected(NamedTuple):
    """One jet variation's selected jets, counts and preselection masks."""

    jets: ak.Array | FlatCollection
    n_jets: np.ndarray
    n_b: np.ndarray
    ht: np.ndarray
    sel: np.ndarray    # full preselection
    sel_j: np.ndarray  # N jets only
    sel_b: np.ndarray  # N jets and N b


def jet_mask(jets: ak.Array, cfg: JetSelection) -> ak.Array:
    """Which AK4 jets pass pT, |η| and tight-ID requirements (jagged like ``jets``).

    The tight ID is ``passJetIdTight`` where the compatibility layer set it (stored bit or
    recomputed, processors/compat.py), else the ``jetId`` bit of the config.
    """
    tight = (jets.passJetIdTight if "passJetIdTight" in jets.fields
             else (jets.jetId & cfg.jet_id_bit) != 0)
    return jet_cuts(jets.pt, jets.eta, tight, cfg)


def jet_cuts(pt: Any, eta: Any, tight: Any, cfg: JetSelection) -> Any:
    """pT, |η| and ID requirements on per-jet arrays (jagged awkward or flat numpy)."""
    return (pt > cfg.pt_min) & (abs(eta) < cfg.abs_eta_max) & tight


def select_jets(jets: ak.Array, cfg: JetSelection) -> ak.Array:
    """AK4 jets passing :func:`jet_mask` (keeps the input pT ordering)."""
    return jets[jet_mask(jets, cfg)]


def has_veto_lepton(electrons: ak.Array, muons: ak.Array, cfg: LeptonVeto) -> np.ndarray:
    """True for events with an isolated tight electron or muon above the veto threshold."""
    ele = FlatCollection.from_awkward(electrons, ("pt", "eta", "cutBased"))
    mu = FlatCollection.from_awkward(muons, ("pt", "eta", "tightId", "pfRelIso04_all"))
    ele_veto = (
        (ele["pt"] > cfg.pt_min)
        & (abs(ele["eta"]) < cfg.electron_abs_eta_max)
        & (ele["cutBased"] >= cfg.electron_cut_based_min)
    )
    mu_veto = (
        (mu["pt"] > cfg.pt_min)
        & (abs(mu["eta"]) < cfg.muon_abs_eta_max)
        & mu["tightId"]
        & (mu["pfRelIso04_all"] < cfg.muon_iso_max)
    )
    return (ele.event_count(ele_veto) > 0) | (mu.event_count(mu_veto) > 0)


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


def preselect(all_jets: ak.Array, config: AnalysisConfig, btag_wp: float,
              reorder: bool = False) -> Preselected:
    """Selected jets, N jets, N b, HT and the preselection masks (all, jets, jets + b).

    ``all_jets``: the event's full jet collection (one jet variation); ``reorder``: sort the
    selected jets by pT again (a varied pT can change the ordering).
    """
    pre = config.preselection
    jets = select_jets(all_jets, config.jets)
    if reorder:
        jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]
    n_jets = ak.to_numpy(ak.num(jets))
    n_b = count_b_tags(jets, config.btag.discriminant, btag_wp)
    ht = ak.to_numpy(ak.sum(jets.pt, axis=1)).astype(np.float64)
    sel_j = n_jets >= pre.n_jets_min
    sel_b = sel_j & (n_b >= pre.n_b_min)
    return Preselected(jets, n_jets, n_b, ht, sel_b & (ht >= pre.ht_min), sel_j, sel_b)


def preselect_flat(all_jets: FlatCollection, config: AnalysisConfig, btag_wp: float,
                   reorder: bool = False) -> Preselected:
    """:func:`preselect` on flat jets (fields pt, eta, passJetIdTight and the b-tag
    discriminant): the same selection and numbers, without the jagged-array machinery."""
    pre = config.preselection
    jets = all_jets.select(jet_cuts(all_jets["pt"], all_jets["eta"],
                                    all_jets["passJetIdTight"], config.jets))
    if reorder:
        jets = jets.pt_ordered()
    n_jets = jets.counts
    n_b = jets.event_count(jets[config.btag.discriminant] > btag_wp)
    ht = jets.event_sum(jets["pt"]).astype(np.float64)
    sel_j = n_jets >= pre.n_jets_min
    sel_b = sel_j & (n_b >= pre.n_b_min)
    return Preselected(jets, n_jets, n_b, ht, sel_b & (ht >= pre.ht_min), sel_j, sel_b)


def preselect_events(events: ak.Array, config: AnalysisConfig, era: str,
                     corrections: Corrections | None = None,
                     filename: str = "<events>") -> tuple[ak.Array, ak.Array]:
    """Simulated events that pass the processor's nominal preselection, and their jets.

    Trigger OR of the era's paths, lepton veto, then :func:`preselect` on the nominal jets
    (with ``corrections``: re-corrected and JER-smeared as the processor does; without:
    the jets as stored). Returns the kept events and their selected, pT-ordered jets.
    """
    if era not in config.trigger.paths or era not in config.btag.working_points:
        raise ConfigError(
            f"era {era!r} has no trigger paths or b-tag working point in the config "
            f"(trigger eras {sorted(config.trigger.paths)}, b-tag eras "
            f"{sorted(config.btag.working_points)}); pass one of those"
        )
    fired, _ = trigger_decision(events, config.trigger.paths[era], filename)
    base = events[fired & ~has_veto_lepton(events.Electron, events.Muon, config.leptons)]
    jets = base.Jet
    if corrections is not None:
        jets = jet_variations(base.Jet, base, corrections, [], is_data=False)["nominal"]
    p = preselect(jets, config, config.btag.working_points[era])
    return base[p.sel], p.jets[p.sel]
