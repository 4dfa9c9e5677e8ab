"""Train the boosted top tagger on generated fat jets, compare it with substructure
baselines on an independent sample, and write it with its model card."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from analysis.constituents import PARTICLE_FEATURES
from inference.engine import Engine
from inference.training import cards, particlenet
from inference.training.dataset import (
    boosted_jets,
    concat,
    read_nanoaod,
    substructure_baseline_score,
)
from inference.training.metrics import tagger_metrics
from inference.training.preprocessing import fit_jet_preprocessing, fit_preprocessing
from inference.training.samples import generate_sample, sample_dir, samples_card
from inference.training.settings import TrainingSettings
from inference.training.truth import LABEL_QCD, LABEL_TOP


def _jets(process: str, n_events: int, seed: int, settings: TrainingSettings,
          data_dir: Path) -> Iterator[dict[str, np.ndarray]]:
    """Labelled fat-jet tensors of one sample, file by file (top jets, or QCD for ``qcd``)."""
    label = LABEL_QCD if process.startswith("qcd") else LABEL_TOP
    files, _ = generate_sample(process, n_events, seed, settings, data_dir)
    for f in files:
        yield boosted_jets(read_nanoaod(f), settings.boosted, label)


def _scores(session, data: dict[str, np.ndarray], batch: int = 512) -> np.ndarray:
    names = [i.name for i in session.get_inputs()]
    out = [
        session.run(["score"], {k: data[k][s : s + batch] for k in names})[0][:, 0]
        for s in range(0, len(data["mask"]), batch)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_boosted_tagger(
    repo_dir: Path, settings: TrainingSettings, data_dir: Path | None = None
) -> dict[str, Any]:
    """Train, evaluate against the substructure baselines, export and write the tagger.

    Held-out metrics come from an independent sample (other seeds): top jets of
    ``ttbar_boosted`` and QCD jets of the generator's default ``qcd``, evaluated file by
    file with the exported ONNX model. Baselines on the same jets: the cut-based tag
    (soft-drop mass window and tau32) and an xgboost on (pT, msd, tau21, tau32) trained on
    the network's training jets.
    """
    import xgboost as xgb

    s, sz, seed = settings.boosted, settings.sizes, settings.seed
    parts = {
        "ttbar_boosted": (sz.boosted_signal, seed + 1),
        "qcd_boosted": (sz.boosted_background, seed + 2),
    }
    held_out = {
        "ttbar_boosted": (sz.boosted_eval_signal, seed + 3),
        "qcd": (sz.boosted_eval_background, seed + 4),
    }
    with sample_dir(data_dir) as d:
        train = concat(
            [j for p, (n, sd) in parts.items() for j in _jets(p, n, sd, settings, d)]
        )
        pre = fit_preprocessing(train["features"], train["mask"])
        jet_pre = fit_jet_preprocessing(train["jet_features"]) if s.jet_features else None
        model = particlenet.train_particlenet(train, train["label"], pre, s, seed, jet_pre)
        bdt = xgb.XGBClassifier(
            n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=1, random_state=seed
        )
        bdt.fit(train["baseline"], train["label"])
        n_train = {"top": int(train["label"].sum()), "qcd": int((1 - train["label"]).sum())}
        del train
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            particlenet.export_onnx(model, s.pad_length, len(PARTICLE_FEATURES), str(path))
            sess = Engine(path, intra_op_threads=1, inter_op_threads=1).session
            labels, net, base = [], [], []
            for p, (n, sd) in held_out.items():
                for jets in _jets(p, n, sd, settings, d):
                    labels.append(jets["label"])
                    net.append(_scores(sess, jets))
                    base.append(jets["baseline"])
            y, b = np.concatenate(labels), np.concatenate(base)
            metrics = {
                "network": tagger_metrics(y, np.concatenate(net)),
                "baseline_msd_window_tau32": tagger_metrics(y, substructure_baseline_score(b)),
                "baseline_xgboost_pt_msd_tau21_tau32": tagger_metrics(
                    y, bdt.predict_proba(b)[:, 1]
                ),
                "n_parameters": int(sum(p.numel() for p in model.parameters())),
                "n_training_jets": n_train,
                "held_out": "independent generated sample (seeds below), all its jets",
            }
            cards.save_model(
                repo_dir,
                "boosted_top_tagger",
                path,
                description="ParticleNet-style EdgeConv top tagger with Lorentz pooling and "
                f"jet-level substructure inputs for AK8 jets (pT > {s.min_fatjet_pt:g} GeV): "
                "fully merged t->bqq' (all within 0.8) vs QCD",
                inputs=cards.boosted_inputs(pre, s.pad_length, jet_pre),
                outputs=[{"name": "score", "shape": [1], "meaning": "P(top) in [0, 1]"}],
                training_samples=samples_card(parts, settings, held_out),
                metrics=metrics,
                max_batch_size=8192,
            )
    return metrics
