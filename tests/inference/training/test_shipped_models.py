"""The models shipped in inference/models: validity, model cards, size, behaviour on real data."""

from __future__ import annotations

import awkward as ak
import numpy as np
import onnx
import pytest

from analysis.config import JetSelection
from analysis.constituents import constituent_tensors, select_fatjets
from analysis.selection import jet_mask
from inference.client import make_client
from inference.metadata import read_metadata, validate_metadata
from inference.repository import load_repository
from inference.settings import DEFAULT_REPOSITORY, InferenceSettings
from inference.training.dataset import read_nanoaod
from inference.training.metrics import auc
from inference.training.resolved import ResolvedTaggerSettings, trijet_dataset

NAMES = ("boosted_top_tagger", "resolved_top_tagger", "event_dnn_fold0", "event_dnn_fold1")


@pytest.fixture(scope="module")
def client():
    c = make_client(InferenceSettings(repository=DEFAULT_REPOSITORY))
    yield c
    c.close()


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_is_valid_small_and_documented(name):
    path = DEFAULT_REPOSITORY / name / "1" / "model.onnx"
    assert path.stat().st_size < 200_000
    onnx.checker.check_model(onnx.load(str(path)))
    meta = read_metadata(path)
    validate_metadata(meta, name)
    for entry in meta["inputs"]:
        assert entry["order"] and entry["dtype"] == "float32"
    assert meta["license"] and meta["training_samples"]
    assert name in load_repository(DEFAULT_REPOSITORY).names()


def test_boosted_card_reports_network_and_baselines_on_generated_jets():
    # Held-out generated jets (independent seeds, generator-default QCD), the same jets for
    # the network and both baselines. Goal: the network rejects at least twice as much QCD
    # as the cut-based tag (soft-drop window + tau32) at 50 % top efficiency. Enough QCD
    # jets that a rejection of ~2000 is measured from tens of passing jets, not a bound.
    m = read_metadata(DEFAULT_REPOSITORY / "boosted_top_tagger" / "1" / "model.onnx")["metrics"]
    net, cut = m["network"], m["baseline_msd_window_tau32"]
    xgb = m["baseline_xgboost_pt_msd_tau21_tau32"]
    assert net["n_background"] == cut["n_background"] == xgb["n_background"] > 60_000
    assert net["n_signal"] == cut["n_signal"] > 2000
    assert net["auc"] > cut["auc"] > 0.95
    assert net["rejection_at_50"] >= 2 * cut["rejection_at_50"]
    assert net["rejection_at_30"] > cut["rejection_at_30"]
    assert not net["rejection_at_50_is_lower_bound"]
    assert net["n_background"] / net["rejection_at_50"] >= 20  # passing QCD jets measured


def test_dnn_cards_state_their_training_parity():
    for fold, parity in ((0, "even"), (1, "odd")):
        meta = read_metadata(DEFAULT_REPOSITORY / f"event_dnn_fold{fold}" / "1" / "model.onnx")
        assert f"trained on {parity}" in meta["description"]


def test_boosted_tagger_runs_on_real_pfnano(nanoaod_dir, client):
    ev = read_nanoaod(nanoaod_dir / "pfnano.root")
    mask = select_fatjets(ev.FatJet, 300.0, 2.4)
    scores = client.infer("boosted_top_tagger", constituent_tensors(ev, mask, 100))["score"]
    assert scores.shape == (int(ak.sum(mask)), 1) and len(scores) > 5
    assert np.all((scores >= 0) & (scores <= 1))


def test_resolved_tagger_prefers_true_tops_in_real_ttbar(nanoaod_dir, client):
    """On real NanoAOD tt̄, trijets matched to a top's b q q' score above the others."""
    ev = read_nanoaod(nanoaod_dir / "nano_tt_v12.root", ("Jet", "GenPart"))
    jm = jet_mask(ev.Jet, JetSelection())
    d = trijet_dataset(ev, ResolvedTaggerSettings(), jm)
    scores = client.infer("resolved_top_tagger", {"trijet_features": d["features"]})["score"]
    assert d["label"].sum() >= 20
    assert auc(d["label"], scores[:, 0]) > 0.75
