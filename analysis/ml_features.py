"""Per-event ML features: top taggers, event shapes and the two-fold event DNN score.

:func:`ml_feature_columns` is called by the processor on preselected events. All models
run through an ``InferenceClient`` (in-process ONNX Runtime or a remote KServe v2 server).

Two-fold scheme: ``event_dnn_fold0`` is trained on events with even event number and
applied to odd ones; ``event_dnn_fold1`` is trained on odd and applied to even ones. So
every event is scored by the model that did not see it in training.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from analysis.constituents import constituent_tensors, has_constituents, select_fatjets
from analysis.event_shapes import event_shapes
from analysis.jets import PADDED_FIELDS
from analysis.trijets import TRIJET_FEATURES, candidate_features, candidates, combos, select_tops

#: Boosted-tagger inputs with a constituent axis (the last), which may be trimmed.
CONSTITUENT_INPUTS = ("points", "features", "mask")
#: Event-DNN inputs in order: (name, meaning, units).
DNN_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("ht", "scalar sum of selected-jet pT", "GeV"),
    ("n_jets", "number of selected jets", ""),
    ("n_b", "number of b-tagged selected jets", ""),
    *(
        (f"jet{i}_pt", f"pT of the {i}th selected jet (pT order), 0 if absent", "GeV")
        for i in range(1, 7)
    ),
    *(
        (f"btag_rank{i}", f"{i}th highest b-tag score among selected jets, 0 if absent", "")
        for i in range(1, 5)
    ),
    ("ht_b", "scalar sum of b-tagged jet pT", "GeV"),
    ("sphericity", "3/2 (l2 + l3) of the jet sphericity tensor", ""),
    ("aplanarity", "3/2 l3 of the jet sphericity tensor", ""),
    ("centrality", "sum pT / sum E of selected jets", ""),
    ("n_resolved_tops", "greedy non-overlapping trijets with score > threshold", ""),
    ("resolved_top_score_1", "score of the best trijet (0 if none)", ""),
    ("resolved_top_score_2", "score of the best trijet disjoint from the first (0 if none)", ""),
    ("boosted_top_score_max", "highest boosted-tagger score among fat jets (0 if none)", ""),
    ("n_boosted_tops", "fat jets with boosted-tagger score > threshold", ""),
)
DNN_FEATURE_NAMES: tuple[str, ...] = tuple(f[0] for f in DNN_FEATURES)
#: (events, their selected AK4 jets, their :func:`boosted_columns` or None): one jet set.
JetSet = tuple[ak.Array, ak.Array, "dict[str, np.ndarray] | None"]
#: Every column :func:`ml_feature_columns` returns.
ML_COLUMNS: tuple[str, ...] = ("dnn_score", *DNN_FEATURE_NAMES)
#: Per-event lists of the candidates each tagger scored (jagged records: pt, eta, score and
#: what the truth matching needs), returned only where asked for (``candidates``,
#: ``candidates_of``): the inputs of the top-tagger efficiency tables.
BOOSTED_CANDIDATES, RESOLVED_CANDIDATES = "boosted_candidates", "resolved_candidates"


class MLFeatureSettings(BaseModel):
    """What :func:`ml_feature_columns` needs besides the data (build it from the config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    btag_field: str = "btagDeepFlavB"
    # DeepJet medium WP ~0.3 (Run 3 BTV recommendation, 2022: 0.3086); pass the era's value
    btag_wp: float = 0.3086
    resolved_max_jets: int = 8
    resolved_threshold: float = Field(0.5, description="score to count a resolved top")
    resolved_mass_window: tuple[float, float] | None = Field(
        None, description="(low, high) trijet mass in GeV a candidate needs to be scored; "
        "None scores every trijet")
    boosted_min_pt: float = Field(300.0, description="fat-jet pT to run the tagger, GeV")
    boosted_max_abs_eta: float = 2.4
    boosted_threshold: float = Field(0.5, description="score to count a boosted top")
    pad_length: int = 100
    # CPU memory of the graph network grows with the batch (EdgeConv keeps k neighbours
    # per constituent); jets are batched by constituent count and each batch padded to its
    # longest jet: 128 per call was ~20 % faster than 512 full-length ones (bench_taggers)
    boosted_batch_jets: int = Field(128, gt=0, description="fat jets per boosted-tagger call")
    boosted_min_slots: int = Field(
        16, gt=0, description="fewest constituent slots per call; above the shipped tagger's "
        "k + 1 = 9 nearest-neighbour slots")
    boosted_model: str = "boosted_top_tagger"
    resolved_model: str = "resolved_top_tagger"
    dnn_fold_models: tuple[str, str] = ("event_dnn_fold0", "event_dnn_fold1")

    @field_validator("resolved_mass_window")
    @classmethod
    def _ordered_window(cls, window: tuple[float, float] | None) -> tuple[float, float] | None:
        if window is not None and not 0 <= window[0] < window[1]:
            raise ValueError(f"resolved_mass_window {list(window)} needs 0 <= low < high (GeV)")
        return window


def dnn_fold(event: np.ndarray) -> np.ndarray:
    """Index of the fold model that scores each event: trained on the other parity.

    Fold 0 trained on even events scores odd events (returns 0 for odd event numbers).
    """
    return np.where(np.asarray(event) % 2 == 1, 0, 1)


def _trijet_candidates(pj: dict[str, np.ndarray], event: np.ndarray, combination: np.ndarray,
                       scores: np.ndarray, n_events: int, max_jets: int) -> ak.Array:
    """The scored trijets per event: trijet pt and eta, score, and eta/phi of the three jets
    (``jet_eta``, ``jet_phi``: 3 per candidate, for the truth matching)."""
    c = combos(max_jets)[combination]
    g = {k: pj[k][event[:, None], c] for k in ("pt", "eta", "phi")}  # (n_cand, 3)
    px = (g["pt"] * np.cos(g["phi"])).sum(axis=1)
    py = (g["pt"] * np.sin(g["phi"])).sum(axis=1)
    pz = (g["pt"] * np.sinh(g["eta"])).sum(axis=1)
    pt = np.hypot(px, py)
    flat = ak.zip({"pt": pt, "eta": np.arcsinh(pz / np.maximum(pt, 1e-9)),
                   "score": np.asarray(scores, np.float64),
                   "jet_eta": g["eta"], "jet_phi": g["phi"]}, depth_limit=1)
    return ak.unflatten(flat, np.bincount(event, minlength=n_events))


def _resolved_columns(
    parts: Sequence[tuple[dict[str, np.ndarray], np.ndarray]], client: Any, s: MLFeatureSettings,
    candidates_for: Sequence[bool] | None = None,
) -> list[dict[str, Any]]:
    """Resolved-tagger columns of several jet sets (padded jets, jets per event): the
    candidates of all sets go to the tagger in one call, then the scores are split.
    ``candidates_for``: per set, whether to add :data:`RESOLVED_CANDIDATES`."""
    width = s.resolved_max_jets
    picked = [candidates(pj, n, width, s.resolved_mass_window) for pj, n in parts]
    rows = [candidate_features(pj, ev, ci, width) for (pj, _), (ev, ci) in zip(parts, picked,
                                                                                strict=True)]
    flat = np.concatenate(rows) if rows else np.zeros((0, len(TRIJET_FEATURES)), np.float32)
    scores = np.zeros(0, np.float32)
    if len(flat):
        out = client.infer(s.resolved_model, {"trijet_features": flat}, ["score"])
        scores = np.asarray(out["score"], np.float32).reshape(-1)
    n_combos = len(combos(width))
    columns: list[dict[str, Any]] = []
    keep = list(candidates_for) if candidates_for is not None else [False] * len(parts)
    for (pj, n_jets), (ev, ci), part, wanted in zip(parts, picked, np.split(scores, np.cumsum(
            [len(r) for r in rows])[:-1]) if rows else [], keep, strict=True):
        dense = np.zeros((len(n_jets), n_combos), np.float32)
        kept = np.zeros((len(n_jets), n_combos), bool)
        dense[ev, ci], kept[ev, ci] = part, True
        best = select_tops(dense, kept, width)
        columns.append({
            "n_resolved_tops": (best > s.resolved_threshold).sum(axis=1).astype(np.int32),
            "resolved_top_score_1": np.maximum(best[:, 0], 0.0).astype(np.float32),
            "resolved_top_score_2": np.maximum(best[:, 1], 0.0).astype(np.float32),
        })
        if wanted:
            columns[-1][RESOLVED_CANDIDATES] = _trijet_candidates(pj, ev, ci, part,
                                                                  len(n_jets), width)
    return columns


def boosted_columns(
    events: ak.Array, client: Any, settings: MLFeatureSettings | None = None,
    candidates: bool = False,
) -> dict[str, Any]:
    """``boosted_top_score_max`` and ``n_boosted_tops`` per event (0 without PFNano).

    Depends on the fat jets only, not on AK4 jet variations: the processor computes it
    once per chunk and passes it to :func:`ml_feature_columns`. With ``candidates``, also
    :data:`BOOSTED_CANDIDATES`: the scored fat jets (pt, eta, phi, score) of each event,
    present where any fat jet was scored.
    """
    s = settings or MLFeatureSettings()
    n = len(events)
    out = {
        "boosted_top_score_max": np.zeros(n, np.float32),
        "n_boosted_tops": np.zeros(n, np.int32),
    }
    if n == 0 or not has_constituents(events):
        return out  # plain NanoAOD without PF candidates: no boosted tagging
    mask = select_fatjets(events.FatJet, s.boosted_min_pt, s.boosted_max_abs_eta)
    counts = ak.to_numpy(ak.sum(mask, axis=1)).astype(np.int64)
    if counts.sum() == 0:
        return out
    tensors = constituent_tensors(events, mask, s.pad_length)
    n_jets = int(counts.sum())
    # batches of jets with similar constituent counts, each padded only to its longest jet
    # (at least boosted_min_slots): the graph network's cost grows with the padding, its
    # scores do not (padded slots are masked and nobody's neighbour)
    n_constituents = tensors["mask"].sum(axis=(1, 2)).astype(np.int64)
    order = np.argsort(n_constituents, kind="stable")
    scores = np.empty(n_jets, np.float32)
    for start in range(0, n_jets, s.boosted_batch_jets):
        jets = order[start : start + s.boosted_batch_jets]
        width = min(s.pad_length, max(int(n_constituents[jets].max()), s.boosted_min_slots))
        feed = {k: v[jets][..., :width] if k in CONSTITUENT_INPUTS else v[jets]
                for k, v in tensors.items()}
        result = client.infer(s.boosted_model, feed, ["score"])
        scores[jets] = np.asarray(result["score"]).reshape(-1)
    per_event = ak.unflatten(scores, counts)
    if candidates:
        fat = events.FatJet[mask]
        flat = {k: ak.to_numpy(ak.flatten(fat[k])).astype(np.float64)
                for k in ("pt", "eta", "phi")}
        out[BOOSTED_CANDIDATES] = ak.unflatten(
            ak.zip({**flat, "score": scores.astype(np.float64)}), counts)
    out["boosted_top_score_max"] = ak.to_numpy(ak.fill_none(ak.max(per_event, axis=1), 0.0)).astype(
        np.float32
    )
    out["n_boosted_tops"] = ak.to_numpy(ak.sum(per_event > s.boosted_threshold, axis=1)).astype(
        np.int32
    )
    return out


def dnn_inputs(columns: dict[str, np.ndarray]) -> np.ndarray:
    """(n, len(DNN_FEATURES)) float32 matrix in :data:`DNN_FEATURE_NAMES` order."""
    return np.stack([np.asarray(columns[k], np.float32) for k in DNN_FEATURE_NAMES], axis=1)


def _ordered_flat(jets: ak.Array, btag_field: str) -> tuple[dict[str, np.ndarray], np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """The jets as flat numpy arrays in event order, pT-descending within each event (as
    :func:`~analysis.jets.pt_ordered`, stable for equal pT), with each jet's event index, its
    position in the event and the jets per event. Numpy instead of awkward: the same layout
    as ``padded_jets(pt_ordered(jets))`` without a dozen awkward calls per jet set."""
    counts = ak.to_numpy(ak.num(jets.pt)).astype(np.int64)
    event = np.repeat(np.arange(len(counts)), counts)
    flat = {k: ak.to_numpy(ak.flatten(jets[btag_field if k == "btag" else k]))
            for k in PADDED_FIELDS}
    order = np.lexsort((-flat["pt"], event))
    position = np.arange(len(event)) - np.repeat(np.cumsum(counts) - counts, counts)
    return {k: v[order] for k, v in flat.items()}, event, position, counts


def _jet_columns(
    events: ak.Array, selected_jets: ak.Array, s: MLFeatureSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The DNN inputs from the jets alone (kinematics, b tags, event shapes), and the padded
    leading ``resolved_max_jets`` jets with the jets per event for the resolved tagger."""
    n = len(events)
    flat, event, position, n_jets = _ordered_flat(selected_jets, s.btag_field)
    width = max(s.resolved_max_jets, 6)
    lead = position < width
    pj = {k: np.zeros((n, width)) for k in flat}
    for k, v in flat.items():
        pj[k][event[lead], position[lead]] = v[lead]
    valid = np.arange(width)[None, :] < n_jets[:, None]
    tagged = flat["btag"] > s.btag_wp
    cols: dict[str, np.ndarray] = {
        "ht": np.bincount(event, flat["pt"], minlength=n).astype(np.float32),
        "n_jets": n_jets.astype(np.int32),
        "n_b": np.bincount(event[tagged], minlength=n).astype(np.int32),
        "ht_b": np.bincount(event[tagged], flat["pt"][tagged], minlength=n).astype(np.float32),
    }
    for i in range(6):
        cols[f"jet{i + 1}_pt"] = pj["pt"][:, i].astype(np.float32)
    btags = np.full((n, max(int(n_jets.max(initial=0)), 4)), -np.inf)
    btags[event, position] = flat["btag"]
    ranked = -np.sort(-btags, axis=1)[:, :4]
    ranked = np.where(np.isfinite(ranked), ranked, 0.0).astype(np.float32)
    for i in range(4):
        cols[f"btag_rank{i + 1}"] = ranked[:, i]
    cols.update(event_shapes(pj["pt"], pj["eta"], pj["phi"], pj["mass"], valid))
    small = {k: v[:, : s.resolved_max_jets] for k, v in pj.items()}
    return cols, small, n_jets


def _dnn_input_columns_of(
    jet_sets: Mapping[str, JetSet], client: Any, s: MLFeatureSettings,
    candidates_of: Collection[str] = (),
) -> dict[str, dict[str, Any]]:
    """:data:`DNN_FEATURE_NAMES` columns per jet set; one resolved-tagger call for all.
    The sets named in ``candidates_of`` also get :data:`RESOLVED_CANDIDATES`."""
    parts = {key: _jet_columns(events, jets, s) for key, (events, jets, _) in jet_sets.items()}
    resolved = _resolved_columns([(pj, n) for _, pj, n in parts.values()], client, s,
                                 [key in candidates_of for key in parts])
    out = {}
    for (key, (cols, _, _)), res in zip(parts.items(), resolved, strict=True):
        events, _, boosted = jet_sets[key]
        cols.update(res)
        cols.update(boosted if boosted is not None else boosted_columns(events, client, s))
        out[key] = {k: cols[k] for k in (*DNN_FEATURE_NAMES, RESOLVED_CANDIDATES) if k in cols}
    return out


def dnn_input_columns(
    events: ak.Array,
    selected_jets: ak.Array,
    client: Any,
    settings: MLFeatureSettings | None = None,
    boosted: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The event-DNN inputs (:data:`DNN_FEATURE_NAMES`): kinematics, taggers, shapes.

    ``boosted``: :func:`boosted_columns` of ``events`` if already computed.
    """
    s = settings or MLFeatureSettings()
    return _dnn_input_columns_of({"": (events, selected_jets, boosted)}, client, s)[""]


def ml_feature_columns_by_set(
    jet_sets: Mapping[str, JetSet], client: Any, settings: MLFeatureSettings | None = None,
    candidates_of: Collection[str] = (),
) -> dict[str, dict[str, Any]]:
    """:func:`ml_feature_columns` of several jet sets (e.g. the jet variations of a chunk).

    ``jet_sets`` maps a name to (events, their selected jets, their :func:`boosted_columns`
    or None). Each model is called once for all sets together (the client still splits a
    call into requests of at most its ``batch_size`` rows), so per-call costs are paid once
    per chunk, not once per variation; the columns equal those of separate calls.
    The sets named in ``candidates_of`` also get :data:`RESOLVED_CANDIDATES` (the scores of
    the same call, no extra inference).
    """
    s = settings or MLFeatureSettings()
    cols = _dnn_input_columns_of(jet_sets, client, s, candidates_of)
    x = {key: dnn_inputs(c) for key, c in cols.items()}
    events = [ak.to_numpy(ev.event) for ev, _, _ in jet_sets.values()]
    fold = dnn_fold(np.concatenate(events)) if events else np.zeros(0, np.int64)
    flat = np.concatenate(list(x.values())) if x else np.zeros((0, len(DNN_FEATURES)), np.float32)
    score = np.zeros(len(flat), np.float32)
    for k, model in enumerate(s.dnn_fold_models):
        sel = fold == k
        if sel.any():
            out = client.infer(model, {"features": flat[sel]}, ["score"])
            score[sel] = np.asarray(out["score"]).reshape(-1)
    splits = np.split(score, np.cumsum([len(v) for v in x.values()])[:-1]) if x else []
    for c, part in zip(cols.values(), splits, strict=True):
        c["dnn_score"] = part
    return {key: {k: c[k] for k in (*ML_COLUMNS, RESOLVED_CANDIDATES) if k in c}
            for key, c in cols.items()}


def ml_feature_columns(
    events: ak.Array,
    selected_jets: ak.Array,
    client: Any,
    settings: MLFeatureSettings | None = None,
    boosted: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Per-event ML columns (:data:`ML_COLUMNS`) for ``events`` and their selected AK4 jets.

    ``selected_jets`` (jagged, aligned with ``events``) needs pt, eta, phi, mass and the
    b-tag field; ``events`` needs ``event`` and, for boosted tagging, the PFNano
    collections (without them the boosted columns are 0). ``dnn_score`` of each event
    comes from the fold model that was not trained on it (see :func:`dnn_fold`).
    ``boosted``: :func:`boosted_columns` of ``events`` if already computed.
    """
    return ml_feature_columns_by_set({"": (events, selected_jets, boosted)}, client, settings)[""]
