"""Train the taggers and the two-fold event DNN and write them into a model repository.

``train_all`` is what ``python run_analysis.py train`` runs. Samples come from the
synthetic NanoAOD generator (``source="generated"``) or from the built-in toy source
(``source="toy"``, the default, used for the shipped models). Everything is deterministic
for ``settings.seed``. Metrics are measured on held-out events and stored in each model's
metadata (and returned).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Literal

import awkward as ak
import numpy as np
import pandas as pd
import torch

from analysis.exceptions import ConfigError
from analysis.ml_features import DNN_FEATURE_NAMES, MLFeatureSettings, dnn_input_columns, dnn_inputs
from inference.settings import DEFAULT_REPOSITORY, InferenceSettings
from inference.training import cards, event_dnn, particlenet, resolved
from inference.training.dataset import boosted_jets, concat, read_nanoaod, split_by_event
from inference.training.metrics import signal_efficiency_at, tagger_metrics
from inference.training.particles import PARTICLE_FEATURES, fit_preprocessing
from inference.training.settings import Preselection, TrainingSettings
from inference.training.toy_events import make_toy_events
from inference.training.truth import LABEL_QCD, LABEL_TOP

log = logging.getLogger(__name__)
Source = Literal["toy", "generated"]
MODELS = ("boosted_top_tagger", "resolved_top_tagger", "event_dnn")
_GENERATED_NAME = {"ttbar_boosted": "ttbar"}  # the generator has no boosted-only sample


def load_sample(
    process: str,
    n_events: int,
    seed: int,
    settings: TrainingSettings,
    source: Source = "toy",
    data_dir: Path | None = None,
) -> ak.Array:
    """Events of ``process`` in the NanoAOD layout from the chosen source."""
    if source == "toy":
        return make_toy_events(process, n_events, seed, settings.toy)
    if source != "generated":
        raise ConfigError(f"training source {source!r} is not one of ('toy', 'generated')")
    from simulation import generate_dataset
    from simulation.settings import SampleSpec

    out = Path(data_dir or tempfile.mkdtemp(prefix="fourtops-train-"))
    spec = SampleSpec(process=_GENERATED_NAME.get(process, process), n_events=n_events, seed=seed)
    files = generate_dataset(spec, out, luminosity_fb=138.0)
    return ak.concatenate([read_nanoaod(f) for f in files])


def _samples_card(source: str, parts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        "source": source,
        "samples": {p: {"n_events": n, "seed": s} for p, (n, s) in parts.items()},
        "split": "held-out events by hash of event number (taggers); parity folds (DNN)",
    }


def train_boosted_tagger(
    repo_dir: Path, settings: TrainingSettings, source: Source = "toy", data_dir: Path | None = None
) -> dict[str, Any]:
    """Train, evaluate against the substructure baseline, export and write the tagger."""
    import xgboost as xgb

    s, sz, seed = settings.boosted, settings.sizes, settings.seed
    sig_ev = load_sample("ttbar_boosted", sz.boosted_signal, seed + 1, settings, source, data_dir)
    bkg_ev = load_sample("qcd", sz.boosted_background, seed + 2, settings, source, data_dir)
    data = concat([boosted_jets(sig_ev, s, LABEL_TOP), boosted_jets(bkg_ev, s, LABEL_QCD)])
    train, test = split_by_event(data, sz.test_fraction, seed)
    pre = fit_preprocessing(train["features"], train["mask"])
    model = particlenet.train_particlenet(train, train["label"], pre, s, seed)
    net = tagger_metrics(test["label"], particlenet.predict(model, test))
    bdt = xgb.XGBClassifier(
        n_estimators=200, max_depth=4, learning_rate=0.1, n_jobs=1, random_state=seed
    )
    bdt.fit(train["baseline"], train["label"])
    base = tagger_metrics(test["label"], bdt.predict_proba(test["baseline"])[:, 1])
    metrics = {
        "network": net,
        "baseline_xgboost_pt_msd_tau21_tau32": base,
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        particlenet.export_onnx(model, s.pad_length, len(PARTICLE_FEATURES), str(path))
        cards.save_model(
            repo_dir,
            "boosted_top_tagger",
            path,
            description="ParticleNet-style EdgeConv top tagger for AK8 jets (pT > "
            f"{s.min_fatjet_pt:g} GeV): fully merged t->bqq' (all within 0.8) vs QCD",
            inputs=cards.boosted_inputs(pre, s.pad_length),
            outputs=[{"name": "score", "shape": [1], "meaning": "P(top) in [0, 1]"}],
            training_samples=_samples_card(
                source,
                {
                    "ttbar_boosted": (sz.boosted_signal, seed + 1),
                    "qcd": (sz.boosted_background, seed + 2),
                },
            ),
            metrics=metrics,
            max_batch_size=8192,
        )
    return metrics


def _preselect(events: ak.Array, p: Preselection, btag_wp: float):
    jets = events.Jet[(events.Jet.pt > p.jet_min_pt) & (abs(events.Jet.eta) < p.jet_max_abs_eta)]
    keep = (
        (ak.num(jets) >= p.min_jets)
        & (ak.sum(jets.btagDeepFlavB > btag_wp, axis=1) >= p.min_b)
        & (ak.sum(jets.pt, axis=1) >= p.min_ht)
    )
    return events[keep], jets[keep]


def train_resolved_tagger(
    repo_dir: Path, settings: TrainingSettings, source: Source = "toy", data_dir: Path | None = None
) -> dict[str, Any]:
    """Train the trijet xgboost on tt̄tt̄ + tt̄ events, export with onnxmltools, write."""
    s, sz, seed, p = settings.resolved, settings.sizes, settings.seed, settings.preselection
    parts = []
    for k, proc in enumerate(("tttt", "ttbar")):
        ev = load_sample(proc, sz.resolved_per_process, seed + 10 + k, settings, source, data_dir)
        jm = (ev.Jet.pt > p.jet_min_pt) & (abs(ev.Jet.eta) < p.jet_max_abs_eta)
        parts.append(resolved.trijet_dataset(ev, s, jm))
    train, test = split_by_event(concat(parts), sz.test_fraction, seed)
    model = resolved.train_resolved(train["features"], train["label"], s, seed)
    proto = resolved.export_resolved_onnx(model)
    metrics = tagger_metrics(test["label"], model.predict_proba(test["features"])[:, 1])
    cards.save_model(
        repo_dir,
        "resolved_top_tagger",
        proto,
        description="gradient-boosted trees (xgboost) on AK4 trijet candidates: all three jets "
        "matched (dR < 0.4) to b, q, q' of one hadronic top vs any other trijet",
        inputs=cards.resolved_inputs(),
        outputs=[
            {"name": "label", "meaning": "argmax class"},
            {"name": "probabilities", "meaning": "[P(not top), P(top)]"},
            {"name": "score", "shape": [1], "meaning": "P(top) in [0, 1]"},
        ],
        training_samples=_samples_card(
            source,
            {
                "tttt": (sz.resolved_per_process, seed + 10),
                "ttbar": (sz.resolved_per_process, seed + 11),
            },
        ),
        metrics=metrics,
        max_batch_size=65536,
    )
    return metrics


def dnn_training_table(
    repo_dir: Path,
    settings: TrainingSettings,
    source: Source = "toy",
    data_dir: Path | None = None,
    ml_settings: MLFeatureSettings | None = None,
) -> pd.DataFrame:
    """Preselected tt̄tt̄ and tt̄ events with the DNN inputs (taggers from ``repo_dir``)."""
    from inference.client import make_client

    sz, seed = settings.sizes, settings.seed
    mls = ml_settings or MLFeatureSettings()
    client = make_client(InferenceSettings(repository=repo_dir))
    frames = []
    try:
        for k, (proc, n) in enumerate((("tttt", sz.dnn_signal), ("ttbar", sz.dnn_background))):
            ev = load_sample(proc, n, seed + 20 + k, settings, source, data_dir)
            ev, jets = _preselect(ev, settings.preselection, mls.btag_wp)
            cols = dnn_input_columns(ev, jets, client, mls)
            df = pd.DataFrame(cols)
            df["event"] = ak.to_numpy(ev.event).astype(np.int64)
            df["process"], df["weight"] = proc, 1.0
            frames.append(df)
    finally:
        client.close()
    return pd.concat(frames, ignore_index=True)


#: processes used to train the event DNN from processor feature tables (signal first)
DNN_SIGNAL, DNN_BACKGROUNDS = "tttt", ("ttbar", "ttW", "ttZ", "ttH")


def read_feature_tables(paths: list[Path]) -> pd.DataFrame:
    """Concatenate processor feature tables (parquet) and keep tt̄tt̄ and tt̄(+X) MC rows."""
    if not paths:
        raise ConfigError("no feature tables given; run the processor first (features/*.parquet)")
    table = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    keep = table["process"].isin((DNN_SIGNAL, *DNN_BACKGROUNDS))
    if "kind" in table:
        keep &= table["kind"] == "mc"
    return table[keep].reset_index(drop=True)


def train_event_dnn(
    repo_dir: Path, settings: TrainingSettings, table: pd.DataFrame, source: str = "toy"
) -> dict[str, Any]:
    """Train both parity folds on ``table`` (DNN inputs, event, process, weight), write them.

    Metrics are out-of-fold: each fold is evaluated on the parity it did not train on.
    """
    missing = [c for c in (*DNN_FEATURE_NAMES, "event", "process", "weight") if c not in table]
    if missing:
        raise ConfigError(f"event-DNN training table lacks columns {missing}")
    x = dnn_inputs({c: table[c].to_numpy() for c in DNN_FEATURE_NAMES})
    y = (table["process"].to_numpy() == DNN_SIGNAL).astype(np.int32)
    w = table["weight"].to_numpy(np.float64)
    odd = table["event"].to_numpy() % 2 == 1
    oof = np.zeros(len(y), np.float32)
    results = {}
    for fold, train_mask in ((0, ~odd), (1, odd)):  # fold 0 trains on even events
        model = event_dnn.train_event_dnn(
            x[train_mask], y[train_mask], w[train_mask], settings.event_dnn, settings.seed + fold
        )
        oof[~train_mask] = event_dnn.predict(model, x[~train_mask])
        results[fold] = model
    metrics = {
        "auc_out_of_fold": tagger_metrics(y, oof)["auc"],
        "tttt_efficiency_at_1pct_ttbar": signal_efficiency_at(y, oof, 0.01, w),
        "n_tttt": int(y.sum()),
        "n_background": int((1 - y).sum()),
    }
    for fold, model in results.items():
        parity = "even" if fold == 0 else "odd"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            event_dnn.export_onnx(model, x.shape[1], str(path))
            cards.save_model(
                repo_dir,
                f"event_dnn_fold{fold}",
                path,
                description=f"event MLP, tttt vs ttbar(+ttX), fold {fold}: trained on {parity} "
                f"event numbers; apply ONLY to {'odd' if fold == 0 else 'even'} ones",
                inputs=cards.dnn_inputs(
                    model.median.view(-1).tolist(), model.norm.view(-1).tolist(), event_dnn.CLIP
                ),
                outputs=[{"name": "score", "shape": [1], "meaning": "P(tttt) in [0, 1]"}],
                training_samples={
                    "source": source,
                    "fold": fold,
                    "trained_on": f"{parity} event",
                    "n_events": int((~odd if fold == 0 else odd).sum()),
                },
                metrics=metrics,
                max_batch_size=65536,
            )
    return metrics


def train_all(
    repo_dir: Path = DEFAULT_REPOSITORY,
    settings: TrainingSettings | None = None,
    *,
    source: Source = "toy",
    data_dir: Path | None = None,
    models: tuple[str, ...] = MODELS,
) -> dict[str, dict[str, Any]]:
    """Train ``models`` (taggers before the DNN, which uses them) into ``repo_dir``."""
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ConfigError(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    settings = settings or TrainingSettings()
    torch.set_num_threads(1)
    repo_dir = Path(repo_dir)
    out: dict[str, dict[str, Any]] = {}
    if "boosted_top_tagger" in models:
        out["boosted_top_tagger"] = train_boosted_tagger(repo_dir, settings, source, data_dir)
        log.info("boosted tagger: %s", out["boosted_top_tagger"])
    if "resolved_top_tagger" in models:
        out["resolved_top_tagger"] = train_resolved_tagger(repo_dir, settings, source, data_dir)
        log.info("resolved tagger: %s", out["resolved_top_tagger"])
    if "event_dnn" in models:
        table = dnn_training_table(repo_dir, settings, source, data_dir)
        out["event_dnn"] = train_event_dnn(repo_dir, settings, table, source)
        log.info("event DNN: %s", out["event_dnn"])
    return out
