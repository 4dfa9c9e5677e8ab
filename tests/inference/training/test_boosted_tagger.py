"""Constituent tensors and the EdgeConv tagger (torch vs ONNX, symmetries)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import onnxruntime as ort
import pytest
import torch

from analysis.constituents import (
    JET_FEATURES,
    PARTICLE_FEATURES,
    constituent_tensors,
    select_fatjets,
)
from inference.training.dataset import read_nanoaod
from inference.training.particlenet import ParticleNetLite, export_onnx, predict
from inference.training.preprocessing import fit_jet_preprocessing, fit_preprocessing
from inference.training.settings import BoostedTaggerSettings

NF = len(PARTICLE_FEATURES)
IDX = {f[0]: i for i, f in enumerate(PARTICLE_FEATURES)}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _events():
    """Two events: 2 fat jets (second one low pT), and none."""
    fat = ak.zip(
        {
            "pt": [[500.0, 200.0], []],
            "eta": [[0.0, 1.0], []],
            "phi": [[3.1, 0.0], []],
            "mass": [[170.0, 50.0], []],
            "msoftdrop": [[160.0, 20.0], []],
            "tau1": [[0.4, 0.3], []],
            "tau2": [[0.2, 0.0], []],
            "tau3": [[0.1, 0.0], []],
        }
    )
    pf = ak.zip(
        {
            "pt": [[10.0, 50.0, 5.0, 20.0], []],
            "eta": [[0.1, 0.0, 1.0, -0.2], []],
            "phi": [[-3.1, 3.0, 0.0, 3.1], []],
            "mass": [[0.14, 0.0, 0.14, 0.5], []],
            "charge": [[1, 0, -1, 0], []],
            "pdgId": [[211, 22, -211, 130], []],
            "d0": [[0.05, 0.0, 0.0, 0.0], []],
            "dz": [[0.0, 0.0, 0.0, 0.0], []],
        }
    )
    link = ak.zip({"jetIdx": [[0, 0, 1, 0], []], "pFCandsIdx": [[0, 1, 2, 3], []]})
    return ak.zip(
        {"FatJet": fat, "PFCands": pf, "FatJetPFCands": link, "event": [1, 2]}, depth_limit=1
    )


def test_constituents_sorted_padded_and_relative_to_axis():
    ev = _events()
    t = constituent_tensors(ev, select_fatjets(ev.FatJet, 300, 2.4), pad_length=5)
    assert t["features"].shape == (1, NF, 5)
    assert t["mask"][0, 0].tolist() == [1, 1, 1, 0, 0]
    f = t["features"][0]
    np.testing.assert_allclose(np.exp(f[IDX["log_pt"], :3]), [50, 20, 10], rtol=1e-5)
    # phi -3.1 vs axis 3.1 wraps to +0.083
    np.testing.assert_allclose(t["points"][0, 1, 2], 2 * np.pi - 6.2, atol=1e-5)
    assert f[IDX["is_photon"], 0] == 1 and f[IDX["is_neutral_hadron"], 1] == 1
    assert f[IDX["charge"], 2] == 1 and abs(f[IDX["tanh_d0"], 2] - np.tanh(0.5)) < 1e-6
    assert not f[:, 3:].any()
    jf = dict(zip([n for n, _, _ in JET_FEATURES], t["jet_features"][0], strict=True))
    np.testing.assert_allclose(
        [jf["log_pt"], jf["log_mass"], jf["msoftdrop"], jf["tau21"], jf["tau32"]],
        [np.log(500.0), np.log(171.0), 160.0, 0.5, 0.5],
        rtol=1e-5,
    )


def test_jet_features_default_when_tau_is_zero_and_empty_selection():
    ev = _events()
    t = constituent_tensors(ev, select_fatjets(ev.FatJet, 100, 2.4), pad_length=5)
    assert t["jet_features"].shape == (2, len(JET_FEATURES))
    assert t["jet_features"][1, 4] == 1.0  # tau2 = 0: tau32 set to 1
    none = constituent_tensors(ev, select_fatjets(ev.FatJet, 5000, 2.4), pad_length=5)
    assert none["jet_features"].shape == (0, len(JET_FEATURES))


def test_constituent_counts_match_real_pfnano(nanoaod_dir):
    ev = read_nanoaod(nanoaod_dir / "pfnano.root", ("FatJet", "PFCands", "FatJetPFCands"))
    mask = select_fatjets(ev.FatJet, 0.0, 5.0)
    t = constituent_tensors(ev, mask, pad_length=100)
    link = ev.FatJetPFCands
    expected = [
        int(ak.sum(link.jetIdx[i] == j)) for i in range(len(ev)) for j in range(len(ev.FatJet[i]))
    ]
    assert t["mask"].sum(axis=(1, 2)).astype(int).tolist() == [min(n, 100) for n in expected]


def _model_and_inputs(seed=0, n=7, jet=False):
    rng = np.random.default_rng(seed)
    s = BoostedTaggerSettings(pad_length=30)
    feats = rng.normal(size=(n, NF, 30)).astype(np.float32)
    mask = (np.arange(30)[None, None, :] < rng.integers(3, 30, (n, 1, 1))).astype(np.float32)
    data = {
        "points": rng.normal(0, 0.3, (n, 2, 30)).astype(np.float32) * mask,
        "features": feats * mask,
        "mask": mask,
    }
    jp = None
    if jet:
        data["jet_features"] = rng.normal(size=(n, len(JET_FEATURES))).astype(np.float32)
        jp = fit_jet_preprocessing(data["jet_features"])
    torch.manual_seed(seed)
    pre = fit_preprocessing(data["features"], data["mask"])
    model = ParticleNetLite(
        NF,
        s,
        np.array([p["median"] for p in pre]),
        np.array([p["norm_factor"] for p in pre]),
        jet_median=np.array([p["median"] for p in jp]) if jp else None,
        jet_norm=np.array([p["norm_factor"] for p in jp]) if jp else None,
    ).eval()
    return model, data


@pytest.mark.parametrize("jet", [False, True])
def test_onnx_export_matches_torch_with_dynamic_batch(tmp_path, jet):
    model, data = _model_and_inputs(jet=jet)
    path = tmp_path / "m.onnx"
    export_onnx(model, 30, NF, str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(data)
    ref = predict(model, data)
    for sl in (slice(0, 1), slice(0, 7)):
        got = sess.run(["score"], {k: v[sl] for k, v in data.items()})[0][:, 0]
        np.testing.assert_allclose(got, ref[sl], atol=1e-5)


def test_score_ignores_constituent_order_and_padding_content():
    model, data = _model_and_inputs(seed=1, n=3)
    ref = predict(model, data)
    n_real = int(data["mask"][0, 0].sum())
    perm = np.concatenate([np.random.default_rng(2).permutation(n_real), np.arange(n_real, 30)])
    shuffled = {k: v.copy() for k, v in data.items()}
    for k in shuffled:
        shuffled[k][0] = data[k][0][:, perm]
    garbage = {k: v.copy() for k, v in data.items()}
    pad = data["mask"] == 0
    garbage["features"] = np.where(pad, 7.0, data["features"]).astype(np.float32)
    garbage["points"] = np.where(pad, 0.01, data["points"]).astype(np.float32)
    np.testing.assert_allclose(predict(model, shuffled), ref, atol=1e-5)
    np.testing.assert_allclose(predict(model, garbage), ref, atol=1e-5)
