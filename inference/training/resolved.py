"""Resolved top tagger: xgboost on trijet candidates, exported to ONNX with onnxmltools.

Trained on the trijets of generated tt̄tt̄ and tt̄ events built from the analysis' jet
selection (pT, |η|, jet ID of the config), the jets the processor hands the tagger.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import onnx
import xgboost as xgb
from onnx import helper

from analysis.jets import padded_jets, pt_ordered
from analysis.selection import jet_mask
from analysis.trijets import TRIJET_FEATURES, combos, trijet_features
from inference.training import cards
from inference.training.dataset import concat, read_nanoaod, split_by_event
from inference.training.metrics import tagger_metrics
from inference.training.samples import (
    AnalysisSelection,
    generate_sample,
    sample_dir,
    samples_card,
)
from inference.training.settings import ResolvedTaggerSettings, TrainingSettings
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


def train_resolved_tagger(
    repo_dir: Path, settings: TrainingSettings, data_dir: Path | None = None,
    selection: AnalysisSelection | None = None,
) -> dict[str, Any]:
    """Train the trijet xgboost on tt̄tt̄ + tt̄ events, export with onnxmltools, write.

    Metrics on held-out events (hash of the event number); ``onnx_max_abs_diff`` is the
    largest |P(top)| difference between the ONNX export and xgboost on those trijets.
    """
    import onnxruntime as ort

    s, sz, seed = settings.resolved, settings.sizes, settings.seed
    jets_cfg = (selection or AnalysisSelection()).config.jets
    samples = {
        "tttt": (sz.resolved_per_process, seed + 10),
        "ttbar": (sz.resolved_per_process, seed + 11),
    }
    parts = []
    with sample_dir(data_dir) as d:
        for proc, (n, sd) in samples.items():
            files, _ = generate_sample(proc, n, sd, settings, d)
            ev = ak.concatenate([read_nanoaod(f) for f in files])
            parts.append(trijet_dataset(ev, s, jet_mask(ev.Jet, jets_cfg)))
    train, test = split_by_event(concat(parts), sz.test_fraction, seed)
    model = train_resolved(train["features"], train["label"], s, seed)
    proto = export_resolved_onnx(model)
    ref = model.predict_proba(test["features"])[:, 1]
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(["score"], {"trijet_features": test["features"].astype(np.float32)})[0][:, 0]
    metrics: dict[str, Any] = tagger_metrics(test["label"], ref)
    metrics["onnx_max_abs_diff"] = float(np.max(np.abs(got - ref))) if len(ref) else 0.0
    cards.save_model(
        repo_dir,
        "resolved_top_tagger",
        proto,
        description="gradient-boosted trees (xgboost) on AK4 trijet candidates: all three "
        "jets matched (dR < 0.4) to b, q, q' of one hadronic top vs any other trijet",
        inputs=cards.resolved_inputs(),
        outputs=[
            {"name": "label", "meaning": "argmax class"},
            {"name": "probabilities", "meaning": "[P(not top), P(top)]"},
            {"name": "score", "shape": [1], "meaning": "P(top) in [0, 1]"},
        ],
        training_samples=samples_card(samples, settings),
        metrics=metrics,
        max_batch_size=65536,
    )
    return metrics
