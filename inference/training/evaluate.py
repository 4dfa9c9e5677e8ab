"""Held-out evaluation of the models in a repository on freshly made samples.

Seeds differ from the training seeds, so no event was seen in training. The boosted
tagger is compared with a substructure baseline (xgboost on pT, soft-drop mass, tau21,
tau32) trained on one half of the held-out jets and evaluated with the network on the
other half.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analysis.ml_features import MLFeatureSettings, ml_feature_columns
from inference.settings import InferenceSettings
from inference.training.dataset import boosted_jets, concat, split_by_event
from inference.training.metrics import signal_efficiency_at, tagger_metrics
from inference.training.settings import TrainingSettings
from inference.training.truth import LABEL_QCD, LABEL_TOP


def evaluate_boosted(
    repo_dir: Path,
    settings: TrainingSettings,
    n_signal_events: int,
    n_background_events: int,
    seed: int,
    source: str = "generated",
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """AUC and rejections of the shipped network and of the baseline on held-out jets."""
    import xgboost as xgb

    from inference.client import make_client
    from workflows.train import load_sample

    s = settings.boosted
    sig = load_sample("ttbar_boosted", n_signal_events, seed, settings, source, data_dir)
    bkg = load_sample("qcd", n_background_events, seed + 1, settings, source, data_dir)
    data = concat([boosted_jets(sig, s, LABEL_TOP), boosted_jets(bkg, s, LABEL_QCD)])
    base_train, test = split_by_event(data, 0.5, seed)
    client = make_client(InferenceSettings(repository=repo_dir))
    try:
        feed = {k: test[k] for k in ("points", "features", "mask", "jet_features")}
        net = client.infer("boosted_top_tagger", feed, ["score"])["score"][:, 0]
    finally:
        client.close()
    bdt = xgb.XGBClassifier(
        n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=1, random_state=seed
    )
    bdt.fit(base_train["baseline"], base_train["label"])
    base = bdt.predict_proba(test["baseline"])[:, 1]
    return {
        "network": tagger_metrics(test["label"], net),
        "baseline_xgboost_pt_msd_tau21_tau32": tagger_metrics(test["label"], base),
    }


def evaluate_event_dnn(
    repo_dir: Path,
    settings: TrainingSettings,
    n_signal_events: int,
    n_background_events: int,
    seed: int,
    source: str = "generated",
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """DNN AUC and tt̄tt̄ efficiency at 1 % tt̄ efficiency after preselection (fold logic on)."""
    from inference.client import make_client
    from workflows.train import _preselect, load_sample

    mls = MLFeatureSettings()
    client = make_client(InferenceSettings(repository=repo_dir))
    scores, labels = [], []
    try:
        for k, (proc, n) in enumerate((("tttt", n_signal_events), ("ttbar", n_background_events))):
            ev = load_sample(proc, n, seed + k, settings, source, data_dir)
            ev, jets = _preselect(ev, settings.preselection, mls.btag_wp)
            scores.append(ml_feature_columns(ev, jets, client, mls)["dnn_score"])
            labels.append(np.full(len(ev), 1 if proc == "tttt" else 0))
    finally:
        client.close()
    y, p = np.concatenate(labels), np.concatenate(scores)
    return {
        "auc": tagger_metrics(y, p)["auc"],
        "tttt_efficiency_at_1pct_ttbar": signal_efficiency_at(y, p, 0.01),
        "n_tttt": int(y.sum()),
        "n_ttbar": int((1 - y).sum()),
        "preselection_events": {"tttt": n_signal_events, "ttbar": n_background_events},
        "note": "unweighted events",
    }
