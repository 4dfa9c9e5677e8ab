"""Resolved top tagger: trijet truth sample, xgboost vs its ONNX export."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from analysis.trijets import TRIJET_FEATURES
from inference.training.resolved import export_resolved_onnx, train_resolved, trijet_dataset
from inference.training.settings import ResolvedTaggerSettings
from inference.training.toy_events import make_toy_events

SETTINGS = ResolvedTaggerSettings(n_estimators=40)


def _data():
    ev = make_toy_events("tttt", 150, seed=5)
    jm = (ev.Jet.pt > 30) & (abs(ev.Jet.eta) < 2.4)
    return trijet_dataset(ev, SETTINGS, jm)


def test_true_trijets_sit_at_the_top_mass():
    d = _data()
    names = [f[0] for f in TRIJET_FEATURES]
    m = d["features"][:, names.index("trijet_mass")]
    mw = d["features"][:, names.index("w_mass")]
    true = d["label"] == 1
    assert 20 <= true.sum() < 0.2 * len(true)
    assert 150 < np.median(m[true]) < 190 and 70 < np.median(mw[true]) < 90
    # wrong combinations are spread far wider than the matched ones
    assert np.std(m[~true]) > 2 * np.std(m[true])


def test_onnx_agrees_with_xgboost():
    d = _data()
    model = train_resolved(d["features"], d["label"], SETTINGS, seed=1)
    proto = export_resolved_onnx(model)
    onnx.checker.check_model(proto)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = d["features"]
    got = sess.run(["score", "probabilities"], {"trijet_features": x})
    ref = model.predict_proba(x)
    np.testing.assert_allclose(got[0][:, 0], ref[:, 1], atol=1e-5)
    np.testing.assert_allclose(got[1], ref, atol=1e-5)
