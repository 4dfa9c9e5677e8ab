"""Assemble full NanoAOD-like events (padded or flat collections) from a parton-level table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulation import eventinfo
from simulation import kinematics as kin
from simulation.detector import (
    by_event_then_hardest,
    cluster_partons,
    genpart_index,
    leptons,
    position_in_event,
    prepare_partons,
    prepared_rows,
    reco_jets,
)
from simulation.fatjets import fatjets
from simulation.partons import PartonTable
from simulation.settings import GeneratorSettings, SkimSettings


@dataclass
class EventBlock:
    """Events ready for writing: per-event arrays and collections.

    ``collections[name]`` maps field -> padded (n, k) array and then contains ``valid``,
    or field -> flat array of all entries and then contains ``counts`` (entries per
    event); ``flat`` maps branch name -> (n,) or (n, k) array (fixed-size jagged, e.g.
    PSWeight).
    """

    flat: dict[str, np.ndarray] = field(default_factory=dict)
    collections: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    kept: np.ndarray | None = None


def _genpart(t: PartonTable) -> dict[str, np.ndarray]:
    """GenPart as a flat collection (``counts`` per event): the written slots only."""
    keep = t.valid & t.genpart
    rows, slots = np.nonzero(keep)
    mother = t.mother[rows, slots]  # a slot index; GenPart wants the written index
    mother_new = np.where(mother >= 0, genpart_index(t)[rows, np.maximum(mother, 0)], -1)
    pt, eta, phi, _ = kin.to_ptetaphim(t.px[rows, slots], t.py[rows, slots],
                                       t.pz[rows, slots], t.e[rows, slots], mass=False)
    # beam-collinear partons cannot occur (pt > 0 always); keep eta finite anyway
    return {"pt": pt, "eta": np.clip(eta, -20, 20), "phi": phi, "mass": t.mass[rows, slots],
            "pdgId": t.pdg[rows, slots], "status": t.status[rows, slots],
            "statusFlags": t.flags[rows, slots], "genPartIdxMother": mother_new,
            "counts": keep.sum(axis=1)}


def _genjets(true_jets: dict, pt_min: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """GenJet as a flat collection (``counts`` per event, pT-ordered within each event)
    from the true (merged-parton) jets, and each slot's GenJet index (-1 for none)."""
    rows, slots = np.nonzero(true_jets["valid"])
    pt, eta, phi, mass = kin.to_ptetaphim(*(true_jets[k][rows, slots]
                                            for k in ("px", "py", "pz", "e")))
    above = pt > pt_min
    rows, slots = rows[above], slots[above]
    order = by_event_then_hardest(rows, pt[above])
    rows, slots = rows[order], slots[order]
    counts, position = position_in_event(rows, true_jets["valid"].shape[0])
    rank = np.full(true_jets["valid"].shape, -1)
    rank.ravel()[rows * rank.shape[1] + slots] = position
    cols = {k: v[above][order] for k, v in (("pt", pt), ("eta", eta), ("phi", phi),
                                             ("mass", mass))}
    cols["partonFlavour"] = true_jets["partonFlavour"][rows, slots]
    cols["hadronFlavour"] = true_jets["hadronFlavour"][rows, slots]
    cols["counts"] = counts
    return cols, rank


def _passes_jet_skim(jets: dict, skim: SkimSettings, btag_wp: float) -> np.ndarray:
    """Events with enough jets, b tags and HT to pass the preselection (see SkimSettings)."""
    good = jets["valid"] & (jets["pt"] > skim.jet_pt_min) & (
        np.abs(jets["eta"]) < skim.jet_abs_eta_max)
    tagged = good & (jets["btagDeepFlavB"] > btag_wp)
    return ((good.sum(axis=1) >= skim.min_jets) & (tagged.sum(axis=1) >= skim.min_btags)
            & ((jets["pt"] * good).sum(axis=1) >= skim.min_ht))


def _take(rows: np.ndarray, t: PartonTable, prep: dict, true_jets: dict, jets: dict) -> tuple:
    """The events ``rows`` (a mask) of the parton table and its jet-level arrays."""
    return (t.take(rows), prepared_rows(prep, rows), {k: v[rows] for k, v in true_jets.items()},
            {k: v[rows] for k, v in jets.items()})


def build_events(rng: np.random.Generator, t: PartonTable, process: str, s: GeneratorSettings,
                 *, is_data: bool, gen_weight: np.ndarray | None = None,
                 skim: tuple[float, int] | None = None) -> EventBlock:
    """Detector simulation and event information for parton-level events ``t``.

    ``gen_weight`` (MC only) are the weights drawn at parton level, so the file's
    genEventSumw over all generated events is consistent with the events kept.
    ``skim = (min_ht, min_jets)`` keeps only events with reco HT and jet count (pT > 30,
    |eta| < 2.4) above these, and ``s.skim`` (:class:`SkimSettings`) only events that can
    pass the preselection; ``EventBlock.kept`` then tells which input events remain.
    """
    det = s.detector
    prep = prepare_partons(t)  # shared by the AK4 and AK8 clustering
    true_jets = cluster_partons(t, det.jet_cone_dr, prep)
    jets = reco_jets(rng, true_jets, det)
    # drawn for every event before any skim: an event's trigger bits and jets do not depend
    # on which other events are kept
    trig = eventinfo.triggers(rng, jets, det)
    kept = np.ones(t.n_events, bool)
    if skim is not None:
        good = jets["valid"] & (jets["pt"] > 30.0) & (np.abs(jets["eta"]) < 2.4)
        kept = ((jets["pt"] * good).sum(axis=1) >= skim[0]) & (good.sum(axis=1) >= skim[1])
    if s.skim is not None:
        kept &= _passes_jet_skim(jets, s.skim, det.btag_wp)
        if s.skim.require_trigger:
            kept &= np.logical_or.reduce(list(trig.values()))
    if not kept.all():  # the rest is simulated for the kept events only
        t, prep, true_jets, jets = _take(kept, t, prep, true_jets, jets)
        trig = {k: v[kept] for k, v in trig.items()}
        if gen_weight is not None:
            gen_weight = gen_weight[kept]
    n = t.n_events
    ele = leptons(rng, t, jets, det, 11)
    mu = leptons(rng, t, jets, det, 13)
    out = EventBlock(kept=kept)
    out.flat.update(trig)
    pu = eventinfo.pileup(rng, n, det)
    out.flat.update({k: v for k, v in pu.items() if not (is_data and k.startswith("Pileup"))})
    jet_fields = ["pt", "eta", "phi", "mass", "rawFactor", "area", "btagDeepFlavB", "jetId",
                  "valid"]
    if not is_data:
        jet_fields += ["hadronFlavour", "partonFlavour"]
    out.collections["Jet"] = {k: jets[k] for k in jet_fields}
    # lepton-jet links are not modelled (leptons are not clustered into jets): -1 = none
    for k in ("electronIdx1", "electronIdx2", "muonIdx1", "muonIdx2"):
        out.collections["Jet"][k] = np.full(jets["pt"].shape, -1)
    e_sel = {"pt": ele["pt"], "eta": ele["eta"], "phi": ele["phi"], "mass": ele["mass"],
             "charge": ele["charge"], "pdgId": ele["pdgId"],
             "cutBased": np.where(ele["tight"], 4, 1), "pfRelIso03_all": ele["iso"],
             "miniPFRelIso_all": ele["miniiso"], "dxy": ele["dxy"], "dz": ele["dz"],
             "jetIdx": np.full(ele["pt"].shape, -1), "valid": ele["valid"]}
    m_sel = {"pt": mu["pt"], "eta": mu["eta"], "phi": mu["phi"], "mass": mu["mass"],
             "charge": mu["charge"], "pdgId": mu["pdgId"], "tightId": mu["tight"],
             "mediumId": mu["tight"], "looseId": np.ones_like(mu["tight"]),
             "pfRelIso04_all": mu["iso"], "pfRelIso03_all": mu["iso"] * 0.8,
             "miniPFRelIso_all": mu["miniiso"], "dxy": mu["dxy"], "dz": mu["dz"],
             "jetIdx": np.full(mu["pt"].shape, -1), "valid": mu["valid"]}
    if not is_data:
        e_sel["genPartIdx"] = ele["genPartIdx"]
        m_sel["genPartIdx"] = mu["genPartIdx"]
        out.collections["GenPart"] = _genpart(t)
        out.collections["GenJet"], gen_rank = _genjets(true_jets, s.detector.genjet_pt_min)
        out.collections["Jet"]["genJetIdx"] = np.take_along_axis(gen_rank, jets["slot"], axis=1)
        ps = s.processes[process]
        out.flat["genWeight"] = gen_weight if gen_weight is not None else \
            eventinfo.gen_weights(rng, n, ps)
        out.flat["LHEScaleWeight"] = eventinfo.scale_weights(rng, t.n_rad)
        merged = np.where(true_jets["valid"], true_jets["n_partons"], 1).max(axis=1,
                                                                             initial=1)
        out.flat["PSWeight"] = eventinfo.ps_weights(rng, t.n_rad, ps.radiation_mean, merged)
    out.collections["Electron"] = e_sel
    out.collections["Muon"] = m_sel
    fj = fatjets(rng, t, s, prep)
    fat = dict(fj["FatJet"], counts=fj["fat_counts"])
    if is_data:
        fat.pop("hadronFlavour")
        fat.pop("nBHadrons")
    out.collections["FatJet"] = fat
    out.collections["PFCands"] = fj["PFCands"]
    out.collections["FatJetPFCands"] = fj["FatJetPFCands"]
    return out
