"""The two-fold event DNN: its training table from preselected generated events, the
training of both parity folds, and their model cards."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pandas as pd

from analysis.ml_features import DNN_FEATURE_NAMES, dnn_input_columns, dnn_inputs
from common.exceptions import ConfigError
from inference.settings import InferenceSettings
from inference.training import cards, event_dnn
from inference.training.metrics import auc, signal_efficiency_at
from inference.training.samples import AnalysisSelection, preselected_sample, sample_dir
from inference.training.settings import TrainingSettings

#: processes of the event-DNN training (signal first)
DNN_SIGNAL, DNN_BACKGROUNDS = "tttt", ("ttbar", "ttW", "ttZ", "ttH")


def dnn_samples(settings: TrainingSettings) -> dict[str, tuple[int, int]]:
    """Event-DNN samples: process -> (events generated, seed)."""
    sz, seed = settings.sizes, settings.seed
    out = {"tttt": (sz.dnn_signal, seed + 20), "ttbar": (sz.dnn_background, seed + 21)}
    for k, proc in enumerate(DNN_BACKGROUNDS[1:]):
        out[proc] = (sz.dnn_ttx_per_process, seed + 22 + k)
    return out


def dnn_training_table(
    repo_dir: Path,
    settings: TrainingSettings,
    data_dir: Path | None = None,
    selection: AnalysisSelection | None = None,
) -> pd.DataFrame:
    """Preselected tt̄tt̄, tt̄ and tt̄X events with the DNN inputs (taggers from ``repo_dir``).

    Events pass the analysis preselection and get their inputs exactly as in processing
    (``selection``: the default config's, era ``synthetic``). ``weight`` is the generator's
    xsec * lumi / N_generated of the event's sample (|genWeight| is 1 and its sign is drawn
    independently of the kinematics, so it is left out).
    """
    from inference.client import make_client

    selection = selection or AnalysisSelection()
    features = selection.features
    client = make_client(InferenceSettings(repository=repo_dir))
    frames = []
    try:
        with sample_dir(data_dir) as d:
            for proc, (n, sd) in dnn_samples(settings).items():
                ev, jets, weight = preselected_sample(proc, n, sd, settings, selection, d)
                df = pd.DataFrame(dnn_input_columns(ev, jets, client, features))
                df["event"] = ak.to_numpy(ev.event).astype(np.int64)
                df["process"], df["weight"] = proc, weight
                frames.append(df)
    finally:
        client.close()
    return pd.concat(frames, ignore_index=True)


def train_event_dnn(
    repo_dir: Path, settings: TrainingSettings, table: pd.DataFrame, source: str = "generated"
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
    proc = table["process"].to_numpy()
    is_tt = (y == 1) | (proc == "ttbar")
    metrics = {
        "auc_out_of_fold": auc(y, oof, w),
        "tttt_efficiency_at_1pct_ttbar": signal_efficiency_at(y[is_tt], oof[is_tt], 0.01, w[is_tt]),
        "tttt_efficiency_at_1pct_background": signal_efficiency_at(y, oof, 0.01, w),
        "n_tttt": int(y.sum()),
        "n_background": int((1 - y).sum()),
        "n_by_process": {p: int((proc == p).sum()) for p in sorted(set(proc))},
        "mean_score_by_process": {p: float(oof[proc == p].mean()) for p in sorted(set(proc))},
        "weights": "xsec * lumi / N_generated per sample (AUC and efficiencies weighted)",
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
