"""workflows.train: determinism, retraining reproduces the shipped metrics, DNN folds."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from analysis.ml_features import DNN_FEATURE_NAMES
from inference.metadata import read_metadata
from inference.settings import DEFAULT_REPOSITORY
from inference.training.settings import (
    BoostedTaggerSettings,
    EventDNNSettings,
    SampleSizes,
    TrainingSettings,
)
from workflows.train import train_all, train_boosted_tagger, train_event_dnn, train_resolved_tagger


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _onnx_bytes(repo, name):
    return (repo / name / "1" / "model.onnx").read_bytes()


def test_boosted_training_is_deterministic_for_a_seed(tmp_path):
    s = TrainingSettings(
        sizes=SampleSizes(boosted_signal=120, boosted_background=60),
        boosted=BoostedTaggerSettings(epochs=1, batch_size=32),
    )
    m1 = train_boosted_tagger(tmp_path / "a", s)
    m2 = train_boosted_tagger(tmp_path / "b", s)
    assert m1 == m2
    # same weights: run both on the same input
    feed = {
        "points": np.zeros((1, 2, 100), np.float32),
        "features": np.random.default_rng(0).normal(size=(1, 15, 100)).astype(np.float32),
        "mask": np.ones((1, 1, 100), np.float32),
    }
    out = [
        ort.InferenceSession(
            _onnx_bytes(tmp_path / r, "boosted_top_tagger"), providers=["CPUExecutionProvider"]
        ).run(None, feed)[0]
        for r in ("a", "b")
    ]
    assert out[0] == out[1]


def test_retraining_resolved_tagger_reproduces_shipped_metrics(tmp_path):
    shipped = read_metadata(DEFAULT_REPOSITORY / "resolved_top_tagger" / "1" / "model.onnx")
    s = TrainingSettings(sizes=SampleSizes(resolved_per_process=700))
    m = train_resolved_tagger(tmp_path, s)
    assert abs(m["auc"] - shipped["metrics"]["auc"]) < 0.04


def test_event_dnn_folds_train_on_their_parity(tmp_path):
    rng = np.random.default_rng(4)
    n = 1200
    table = pd.DataFrame({k: rng.normal(size=n) for k in DNN_FEATURE_NAMES})
    y = rng.integers(0, 2, n)
    table["ht"] = 800 + 150 * y + rng.normal(0, 60, n)  # separable on HT
    table["event"] = np.arange(n)
    table["process"] = np.where(y == 1, "tttt", "ttbar")
    table["weight"] = 1.0
    s = TrainingSettings(event_dnn=EventDNNSettings(epochs=15))
    m = train_event_dnn(tmp_path, s, table)
    assert m["auc_out_of_fold"] > 0.85  # Bayes AUC for this separation is ~0.96
    for fold, parity in ((0, "even"), (1, "odd")):
        card = read_metadata(tmp_path / f"event_dnn_fold{fold}" / "1" / "model.onnx")
        assert card["inputs"][0]["order"][0]["name"] == DNN_FEATURE_NAMES[0]
        assert f"trained on {parity}" in card["description"]
        assert f'"n_events": {n // 2}' in card["training_samples"]


def test_train_all_rejects_unknown_models(tmp_path):
    from analysis.exceptions import ConfigError

    with pytest.raises(ConfigError, match="unknown models"):
        train_all(tmp_path, models=("boosted_top_tagger", "bdt9000"))
