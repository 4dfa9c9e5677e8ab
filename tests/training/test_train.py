"""workflows.train on generated samples: determinism, retraining reproduces the shipped
metrics, the shipped models make physical sense on generated events, DNN folds."""

from __future__ import annotations

import awkward as ak
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from analysis.ml_features import DNN_FEATURE_NAMES, MLFeatureSettings, ml_feature_columns
from inference.client import make_client
from inference.metadata import read_metadata
from inference.settings import DEFAULT_REPOSITORY, InferenceSettings
from inference.training.metrics import auc
from inference.training.settings import (
    BoostedTaggerSettings,
    EventDNNSettings,
    SampleSizes,
    TrainingSettings,
)
from workflows.train import (
    _preselect,
    load_sample,
    train_all,
    train_boosted_tagger,
    train_event_dnn,
    train_resolved_tagger,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Generated samples cached for the whole module (generate_dataset's manifest)."""
    return tmp_path_factory.mktemp("generated")


def _onnx_bytes(repo, name):
    return (repo / name / "1" / "model.onnx").read_bytes()


def test_boosted_training_is_deterministic_for_a_seed(tmp_path, data_dir):
    s = TrainingSettings(
        sizes=SampleSizes(
            boosted_signal=300,
            boosted_background=120,
            boosted_eval_signal=150,
            boosted_eval_background=150,
        ),
        boosted=BoostedTaggerSettings(epochs=1, batch_size=32),
    )
    m1 = train_boosted_tagger(tmp_path / "a", s, data_dir=data_dir)
    m2 = train_boosted_tagger(tmp_path / "b", s, data_dir=data_dir)
    assert m1 == m2
    assert m1["n_training_jets"]["top"] > 50 and m1["n_training_jets"]["qcd"] > 50
    card = read_metadata(tmp_path / "a" / "boosted_top_tagger" / "1" / "model.onnx")
    assert '"source": "generated"' in card["training_samples"]
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


def test_retraining_resolved_tagger_reproduces_shipped_metrics(tmp_path, data_dir):
    shipped = read_metadata(DEFAULT_REPOSITORY / "resolved_top_tagger" / "1" / "model.onnx")
    assert '"source": "generated"' in shipped["training_samples"]
    s = TrainingSettings(sizes=SampleSizes(resolved_per_process=700))
    m = train_resolved_tagger(tmp_path, s, data_dir=data_dir)
    assert abs(m["auc"] - shipped["metrics"]["auc"]) < 0.03
    assert m["onnx_max_abs_diff"] <= 1e-5 and shipped["metrics"]["onnx_max_abs_diff"] <= 1e-5


@pytest.fixture(scope="module")
def shipped_on_generated(data_dir):
    """ML columns of the shipped models on fresh preselected generated tt̄tt̄ and tt̄."""
    s, mls = TrainingSettings(), MLFeatureSettings(btag_wp=0.3)
    client = make_client(InferenceSettings(repository=DEFAULT_REPOSITORY))
    out = {}
    try:
        for proc, n, seed in (("tttt", 900, 777), ("ttbar", 4000, 778)):
            ev = load_sample(proc, n, seed, s, data_dir=data_dir)
            ev, jets = _preselect(ev, s.preselection, mls.btag_wp)
            out[proc] = ml_feature_columns(ev, jets, client, mls)
    finally:
        client.close()
    return out


def test_shipped_dnn_makes_physical_sense_on_generated_events(shipped_on_generated):
    tttt, ttbar = shipped_on_generated["tttt"], shipped_on_generated["ttbar"]
    assert len(tttt["ht"]) > 300 and len(ttbar["ht"]) > 500
    assert tttt["dnn_score"].mean() > ttbar["dnn_score"].mean() + 0.2


@pytest.mark.xfail(
    strict=True,
    reason="open problem: the generator-trained resolved tagger still finds fewer tops per "
    "preselected tttt event (~0.3) than per ttbar event (~0.6); see the training report",
)
def test_shipped_resolved_tagger_finds_more_tops_in_tttt_than_ttbar(shipped_on_generated):
    tttt, ttbar = shipped_on_generated["tttt"], shipped_on_generated["ttbar"]
    assert tttt["n_resolved_tops"].mean() > ttbar["n_resolved_tops"].mean()


@pytest.mark.xfail(
    strict=True,
    reason="open problem: highest boosted score per preselected event is lower in tttt "
    "(~0.26) than in ttbar (~0.34); see the training report",
)
def test_shipped_boosted_tagger_scores_tttt_above_ttbar(shipped_on_generated):
    tttt, ttbar = shipped_on_generated["tttt"], shipped_on_generated["ttbar"]
    assert tttt["boosted_top_score_max"].mean() > ttbar["boosted_top_score_max"].mean()


def test_shipped_dnn_auc_reproduced_on_fresh_generated_events(shipped_on_generated):
    shipped = read_metadata(DEFAULT_REPOSITORY / "event_dnn_fold0" / "1" / "model.onnx")
    tttt, ttbar = shipped_on_generated["tttt"], shipped_on_generated["ttbar"]
    y = np.r_[np.ones(len(tttt["dnn_score"])), np.zeros(len(ttbar["dnn_score"]))]
    a = auc(y, np.r_[tttt["dnn_score"], ttbar["dnn_score"]])
    assert abs(a - shipped["metrics"]["auc_out_of_fold"]) < 0.04


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
    assert m["mean_score_by_process"]["tttt"] > m["mean_score_by_process"]["ttbar"]
    for fold, parity in ((0, "even"), (1, "odd")):
        card = read_metadata(tmp_path / f"event_dnn_fold{fold}" / "1" / "model.onnx")
        assert card["inputs"][0]["order"][0]["name"] == DNN_FEATURE_NAMES[0]
        assert f"trained on {parity}" in card["description"]
        assert f'"n_events": {n // 2}' in card["training_samples"]


def test_train_all_rejects_unknown_models_and_sources(tmp_path):
    from analysis.exceptions import ConfigError

    with pytest.raises(ConfigError, match="unknown models"):
        train_all(tmp_path, models=("boosted_top_tagger", "bdt9000"))
    with pytest.raises(ConfigError, match="training source"):
        train_all(tmp_path, source="pythia")


def test_generated_samples_are_cached_per_sample(data_dir):
    s = TrainingSettings()
    a = load_sample("ttbar", 50, 5, s, data_dir=data_dir)
    b = load_sample("ttbar_boosted", 50, 5, s, data_dir=data_dir)
    again = load_sample("ttbar", 50, 5, s, data_dir=data_dir)
    assert ak.to_list(a.Jet.pt) == ak.to_list(again.Jet.pt)
    # the boosted sample is tt̄ with a harder top spectrum, kept in its own folder
    top = abs(a.GenPart.pdgId) == 6
    top_b = abs(b.GenPart.pdgId) == 6
    assert ak.mean(b.GenPart.pt[top_b]) > 1.5 * ak.mean(a.GenPart.pt[top])
    assert len(list(data_dir.glob("ttbar*_seed5_n50"))) == 2
