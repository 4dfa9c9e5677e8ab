"""Resolved top tagger: xgboost on trijet candidates, exported to ONNX with onnxmltools."""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
import onnx
import xgboost as xgb
from onnx import helper

from analysis.jets import padded_jets, pt_ordered
from analysis.trijets import TRIJET_FEATURES, combos, trijet_features
from inference.training.settings import ResolvedTaggerSettings
from inference.training.truth import hadronic_top_decays, label_trijets, match_jets_to_quarks


def trijet_dataset(
    events: ak.Array, settings: ResolvedTaggerSettings, jet_mask: ak.Array | None = None
) -> dict[str, np.ndarray]:
    """Features, truth labels (1 = all three jets from one top's b, q, q') and event numbers."""
    jets = events.Jet if jet_mask is None else events.Jet[jet_mask]
    pj, n = padded_jets(pt_ordered(jets), settings.max_jets)
    feats, valid = trijet_features(pj, n, settings.max_jets)
    top_idx, role = match_jets_to_quarks(
        pj["eta"], pj["phi"], hadronic_top_decays(events.GenPart), settings.matching_radius
    )
    role = np.where(np.arange(settings.max_jets)[None, :] < n[:, None], role, -1)
    labels = label_trijets(np.where(role >= 0, top_idx, -1), role, combos(settings.max_jets))
    ev = np.broadcast_to(ak.to_numpy(events.event)[:, None], valid.shape)
    return {"features": feats[valid], "label": labels[valid], "event": ev[valid]}


def train_resolved(
    x: np.ndarray, y: np.ndarray, settings: ResolvedTaggerSettings, seed: int
) -> xgb.XGBClassifier:
    """Fit the trijet classifier (single thread, deterministic for a seed)."""
    model = xgb.XGBClassifier(
        n_estimators=settings.n_estimators,
        max_depth=settings.max_depth,
        learning_rate=settings.learning_rate,
        n_jobs=1,
        random_state=seed,
        tree_method="hist",
        eval_metric="logloss",
    )
    model.fit(x, y)
    return model


def export_resolved_onnx(model: xgb.XGBClassifier) -> onnx.ModelProto:
    """ONNX graph: input ``trijet_features`` (B, F) float32; outputs ``label``,
    ``probabilities`` (B, 2) and ``score`` (B, 1) = P(top)."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = onnxmltools.convert_xgboost(
            model,
            initial_types=[("trijet_features", FloatTensorType([None, len(TRIJET_FEATURES)]))],
            target_opset=15,
        )
    g = proto.graph
    if not any(op.domain in ("", "ai.onnx") for op in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("", 15))  # for the Gather below
    prob = next(o.name for o in g.output if "prob" in o.name)
    g.initializer.append(helper.make_tensor("score_index", onnx.TensorProto.INT64, [1], [1]))
    g.node.append(helper.make_node("Gather", [prob, "score_index"], ["score"], axis=1))
    g.output.append(helper.make_tensor_value_info("score", onnx.TensorProto.FLOAT, [None, 1]))
    onnx.checker.check_model(proto)
    return proto
