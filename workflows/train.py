"""Train the taggers and the two-fold event DNN and write them into a model repository.

``train_all`` is what ``python run_analysis.py train`` runs. Samples come from the
synthetic NanoAOD generator (``source="generated"``, the default, used for the shipped
models) or from the small built-in toy source (``source="toy"``, kept for quick unit
tests and benchmarks). Everything is deterministic for ``settings.seed``. Metrics are
measured on held-out events and stored in each model's metadata (and returned).

Generated samples: the boosted-top signal is generator tt̄ with a harder top-pT spectrum
(``GeneratorSettings.processes["ttbar"].top_pt_scale_gev`` raised to
``TrainingSettings.generated.boosted_top_pt_scale_gev``; everything else is the generator's
tt̄), the background QCD training fat jets from the generator's ``qcd`` process with a
harder leading-pair spectrum (``qcd_leading_pt_power`` lowered to
``TrainingSettings.generated.boosted_qcd_pt_power``, ``qcd_boosted``), so that heavy
two-prong QCD jets at high pT, the tail that limits the rejection, are as well populated as
the tops. The held-out QCD jets come from the unmodified ``qcd`` process. The resolved
tagger and the event DNN use the generator's samples unchanged.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import awkward as ak
import numpy as np
import pandas as pd
import torch

from analysis.constituents import PARTICLE_FEATURES
from analysis.ml_features import DNN_FEATURE_NAMES, MLFeatureSettings, dnn_input_columns, dnn_inputs
from common.exceptions import ConfigError
from inference.engine import Engine
from inference.settings import DEFAULT_REPOSITORY, InferenceSettings
from inference.training import cards, event_dnn, particlenet, resolved
from inference.training.dataset import (
    boosted_jets,
    concat,
    read_nanoaod,
    split_by_event,
    substructure_baseline_score,
)
from inference.training.metrics import auc, signal_efficiency_at, tagger_metrics
from inference.training.preprocessing import fit_jet_preprocessing, fit_preprocessing
from inference.training.settings import Preselection, TrainingSettings
from inference.training.truth import LABEL_QCD, LABEL_TOP

log = logging.getLogger(__name__)
Source = Literal["generated", "toy"]
SOURCES = ("generated", "toy")
MODELS = ("boosted_top_tagger", "resolved_top_tagger", "event_dnn")
#: training-sample name -> generator process (``ttbar_boosted`` = tt̄ with harder tops)
_GENERATED_NAME = {"ttbar_boosted": "ttbar", "qcd_boosted": "qcd"}


def generator_settings(process: str, settings: TrainingSettings):
    """``GeneratorSettings`` for a training sample (``ttbar_boosted``: harder top pT;
    ``qcd_boosted``: QCD with a harder leading-pair pT spectrum)."""
    from simulation.settings import GeneratorSettings

    gen = GeneratorSettings()
    if process == "qcd_boosted":
        return gen.model_copy(
            update={"qcd_leading_pt_power": settings.generated.boosted_qcd_pt_power}
        )
    if process != "ttbar_boosted":
        return gen
    procs = dict(gen.processes)
    procs["ttbar"] = procs["ttbar"].model_copy(
        update={"top_pt_scale_gev": settings.generated.boosted_top_pt_scale_gev}
    )
    return gen.model_copy(update={"processes": procs})


@contextmanager
def _sample_dir(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        yield Path(data_dir)
        return
    with tempfile.TemporaryDirectory(prefix="fourtops-train-") as tmp:
        yield Path(tmp)


def generate_sample(
    process: str, n_events: int, seed: int, settings: TrainingSettings, data_dir: Path
) -> tuple[list[Path], dict[str, Any]]:
    """Generate (or reuse, see ``generate_dataset``'s manifest) one training sample.

    Each (sample, seed, size) gets its own folder under ``data_dir``, so samples of the
    same generator process never overwrite each other's cache. Returns the files and the
    generator manifest (``n_generated`` etc.).
    """
    from simulation import generate_dataset
    from simulation.settings import SampleSpec

    proc = _GENERATED_NAME.get(process, process)
    out = Path(data_dir) / f"{process}_seed{seed}_n{n_events}"
    spec = SampleSpec(process=proc, n_events=n_events, seed=seed)
    files = generate_dataset(
        spec,
        out,
        luminosity_fb=settings.generated.luminosity_fb,
        settings=generator_settings(process, settings),
    )
    manifest = json.loads((out / f"{proc}.manifest.json").read_text())
    return files, manifest


def load_sample(
    process: str,
    n_events: int,
    seed: int,
    settings: TrainingSettings,
    source: Source = "generated",
    data_dir: Path | None = None,
) -> ak.Array:
    """Events of ``process`` in the NanoAOD layout from the chosen source.

    Generated samples are written under ``data_dir`` (cached there; a temporary folder,
    removed afterwards, when it is None).
    """
    if source == "toy":
        from inference.training.toy_events import make_toy_events

        return make_toy_events(process, n_events, seed, settings.toy)
    if source != "generated":
        raise ConfigError(f"training source {source!r} is not one of {SOURCES}")
    with _sample_dir(data_dir) as d:
        files, _ = generate_sample(process, n_events, seed, settings, d)
        return ak.concatenate([read_nanoaod(f) for f in files])


def process_weight(process: str, n_generated: int, settings: TrainingSettings) -> float:
    """Per-event weight xsec * lumi / N_generated (generator cross section, pb -> fb)."""
    from simulation.settings import GeneratorSettings

    xsec_fb = GeneratorSettings().processes[process].xsec_pb * 1000.0
    return xsec_fb * settings.generated.luminosity_fb / max(n_generated, 1)


def _samples_card(
    source: str,
    parts: dict[str, tuple[int, int]],
    settings: TrainingSettings,
    held_out: dict[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "source": source,
        "samples": {p: {"n_events": n, "seed": s} for p, (n, s) in parts.items()},
        "split": "held-out events by hash of event number (taggers); parity folds (DNN)",
    }
    if held_out:
        card["held_out_samples"] = {p: {"n_events": n, "seed": s} for p, (n, s) in held_out.items()}
        card["split"] = "independent held-out samples (other seeds)"
    if source == "generated":
        card["generator"] = {
            "package": "simulation.generate_dataset",
            "ttbar_boosted": "generator ttbar with top_pt_scale_gev = "
            f"{settings.generated.boosted_top_pt_scale_gev:g}",
        }
        if "qcd_boosted" in parts:
            card["generator"]["qcd_boosted"] = (
                "generator qcd with qcd_leading_pt_power = "
                f"{settings.generated.boosted_qcd_pt_power:g} (default spectrum for held-out qcd)"
            )
    return card


def _boosted_sample(
    process: str, n_events: int, seed: int, settings: TrainingSettings, source: Source, d: Path
) -> Iterator[dict[str, np.ndarray]]:
    """Labelled fat-jet tensors of one sample, file by file (top jets, or QCD for ``qcd``)."""
    label = LABEL_QCD if process.startswith("qcd") else LABEL_TOP
    if source == "toy":
        yield boosted_jets(
            load_sample(process, n_events, seed, settings, source), settings.boosted, label
        )
        return
    files, _ = generate_sample(process, n_events, seed, settings, d)
    for f in files:
        yield boosted_jets(read_nanoaod(f), settings.boosted, label)


def _boosted_scores(session, data: dict[str, np.ndarray], batch: int = 512) -> np.ndarray:
    names = [i.name for i in session.get_inputs()]
    out = [
        session.run(["score"], {k: data[k][s : s + batch] for k in names})[0][:, 0]
        for s in range(0, len(data["mask"]), batch)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_boosted_tagger(
    repo_dir: Path,
    settings: TrainingSettings,
    source: Source = "generated",
    data_dir: Path | None = None,
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
    with _sample_dir(data_dir) as d:
        train = concat(
            [
                j
                for p, (n, sd) in parts.items()
                for j in _boosted_sample(p, n, sd, settings, source, d)
            ]
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
                for jets in _boosted_sample(p, n, sd, settings, source, d):
                    labels.append(jets["label"])
                    net.append(_boosted_scores(sess, jets))
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
                training_samples=_samples_card(source, parts, settings, held_out),
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
    repo_dir: Path,
    settings: TrainingSettings,
    source: Source = "generated",
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Train the trijet xgboost on tt̄tt̄ + tt̄ events, export with onnxmltools, write.

    Metrics on held-out events (hash of the event number); ``onnx_max_abs_diff`` is the
    largest |P(top)| difference between the ONNX export and xgboost on those trijets.
    """
    import onnxruntime as ort

    s, sz, seed, p = settings.resolved, settings.sizes, settings.seed, settings.preselection
    samples = {
        "tttt": (sz.resolved_per_process, seed + 10),
        "ttbar": (sz.resolved_per_process, seed + 11),
    }
    parts = []
    with _sample_dir(data_dir) as d:
        for proc, (n, sd) in samples.items():
            ev = load_sample(proc, n, sd, settings, source, d)
            jm = (ev.Jet.pt > p.jet_min_pt) & (abs(ev.Jet.eta) < p.jet_max_abs_eta)
            parts.append(resolved.trijet_dataset(ev, s, jm))
    train, test = split_by_event(concat(parts), sz.test_fraction, seed)
    model = resolved.train_resolved(train["features"], train["label"], s, seed)
    proto = resolved.export_resolved_onnx(model)
    ref = model.predict_proba(test["features"])[:, 1]
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(["score"], {"trijet_features": test["features"].astype(np.float32)})[0][:, 0]
    metrics: dict[str, Any] = tagger_metrics(test["label"], ref)
    metrics["onnx_max_abs_diff"] = float(np.max(np.abs(got - ref))) if len(ref) else 0.0
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
        training_samples=_samples_card(source, samples, settings),
        metrics=metrics,
        max_batch_size=65536,
    )
    return metrics


def dnn_training_table(
    repo_dir: Path,
    settings: TrainingSettings,
    source: Source = "generated",
    data_dir: Path | None = None,
    ml_settings: MLFeatureSettings | None = None,
) -> pd.DataFrame:
    """Preselected tt̄tt̄, tt̄ and tt̄X events with the DNN inputs (taggers from ``repo_dir``).

    ``weight`` is the generator's xsec * lumi / N_generated of the event's sample (|genWeight|
    is 1 and its sign is drawn independently of the kinematics, so it is left out); toy
    events get weight 1.
    """
    from inference.client import make_client

    mls = ml_settings or MLFeatureSettings()
    client = make_client(InferenceSettings(repository=repo_dir))
    frames = []
    try:
        with _sample_dir(data_dir) as d:
            for proc, (n, sd) in dnn_samples(settings, source).items():
                if source == "generated":
                    files, manifest = generate_sample(proc, n, sd, settings, d)
                    ev = ak.concatenate([read_nanoaod(f) for f in files])
                    weight = process_weight(proc, manifest["n_generated"], settings)
                else:
                    ev, weight = load_sample(proc, n, sd, settings, source), 1.0
                ev, jets = _preselect(ev, settings.preselection, mls.btag_wp)
                df = pd.DataFrame(dnn_input_columns(ev, jets, client, mls))
                df["event"] = ak.to_numpy(ev.event).astype(np.int64)
                df["process"], df["weight"] = proc, weight
                frames.append(df)
    finally:
        client.close()
    return pd.concat(frames, ignore_index=True)


def dnn_samples(settings: TrainingSettings, source: Source) -> dict[str, tuple[int, int]]:
    """Event-DNN samples: process -> (events generated, seed); tt̄X only when generated."""
    sz, seed = settings.sizes, settings.seed
    out = {"tttt": (sz.dnn_signal, seed + 20), "ttbar": (sz.dnn_background, seed + 21)}
    if source == "generated":
        for k, proc in enumerate(DNN_BACKGROUNDS[1:]):
            out[proc] = (sz.dnn_ttx_per_process, seed + 22 + k)
    return out


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


def train_all(
    repo_dir: Path = DEFAULT_REPOSITORY,
    settings: TrainingSettings | None = None,
    *,
    source: Source = "generated",
    data_dir: Path | None = None,
    models: tuple[str, ...] = MODELS,
) -> dict[str, dict[str, Any]]:
    """Train ``models`` (taggers before the DNN, which uses them) into ``repo_dir``.

    Generated samples are cached under ``data_dir`` (a temporary folder when None).
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ConfigError(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    if source not in SOURCES:
        raise ConfigError(f"training source {source!r} is not one of {SOURCES}")
    settings = settings or TrainingSettings()
    torch.set_num_threads(1)
    repo_dir = Path(repo_dir)
    out: dict[str, dict[str, Any]] = {}
    with _sample_dir(data_dir) as d:
        if "boosted_top_tagger" in models:
            out["boosted_top_tagger"] = train_boosted_tagger(repo_dir, settings, source, d)
            log.info("boosted tagger: %s", out["boosted_top_tagger"])
        if "resolved_top_tagger" in models:
            out["resolved_top_tagger"] = train_resolved_tagger(repo_dir, settings, source, d)
            log.info("resolved tagger: %s", out["resolved_top_tagger"])
        if "event_dnn" in models:
            table = dnn_training_table(repo_dir, settings, source, d)
            out["event_dnn"] = train_event_dnn(repo_dir, settings, table, source)
            log.info("event DNN: %s", out["event_dnn"])
    return out


def main(argv: list[str] | None = None) -> int:
    """``python run_analysis.py train``: retrain the shipped models (generated samples)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(
        prog="run_analysis.py train",
        description="Train the boosted and resolved top taggers and the two-fold event DNN "
        "on generated samples and write them (with model cards) into a model repository.",
    )
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    parser.add_argument("--source", choices=SOURCES, default="generated")
    parser.add_argument("--data-dir", type=Path, default=None, help="cache of generated samples")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    settings = TrainingSettings() if args.seed is None else TrainingSettings(seed=args.seed)
    start = time.perf_counter()
    metrics = train_all(
        args.repository,
        settings,
        source=args.source,
        data_dir=args.data_dir,
        models=tuple(args.models),
    )
    print(json.dumps(metrics, indent=1))
    print(
        f"trained {', '.join(args.models)} into {args.repository} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
