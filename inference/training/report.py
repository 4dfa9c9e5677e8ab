"""Measurements of the shipped models: CPU cost, real-file outputs, physics sense on
generated events. ``python -m inference.training.report [--repository DIR]``.

Prints: the model-card metrics; the boosted tagger's jets/s and ms/jet with ONNX Runtime
on one thread (generated boosted-tt̄ fat jets, batch 1 / 64 / 512); the taggers on the real
CMS files ``pfnano.root`` (fat jets pT > 300 GeV: mean score, fraction above 0.5) and
``nano_tt_v12.root`` (AK4 trijets: truth-matched vs other trijets, and resolved-top
counts per event); and on fresh preselected generated tt̄tt̄ / tt̄ events the mean
``n_resolved_tops``, highest boosted score and DNN score.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np

from analysis.config import JetSelection
from analysis.constituents import constituent_tensors, select_fatjets
from analysis.ml_features import MLFeatureSettings, dnn_input_columns, ml_feature_columns
from analysis.selection import jet_mask
from inference.engine import Engine
from inference.metadata import read_metadata
from inference.settings import DEFAULT_REPOSITORY, InferenceSettings
from inference.training.dataset import boosted_jets, read_nanoaod
from inference.training.metrics import auc
from inference.training.resolved import trijet_dataset
from inference.training.samples import AnalysisSelection, load_sample
from inference.training.settings import ResolvedTaggerSettings, TrainingSettings
from inference.training.truth import LABEL_TOP

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "nanoaod"
NAMES = ("boosted_top_tagger", "resolved_top_tagger", "event_dnn_fold0", "event_dnn_fold1")


def boosted_speed(repo: Path, data_dir: Path, n_jets: int = 2000) -> dict[str, float]:
    """Jets/s of the boosted tagger, ONNX Runtime, one thread, per batch size."""
    ev = load_sample("ttbar_boosted", 6000, 4242, TrainingSettings(), data_dir=data_dir)
    jets = boosted_jets(ev, TrainingSettings().boosted, LABEL_TOP)
    path = repo / "boosted_top_tagger" / "1" / "model.onnx"
    sess = Engine(path, intra_op_threads=1, inter_op_threads=1).session
    feed = {i.name: jets[i.name][:n_jets] for i in sess.get_inputs()}
    n = len(feed["mask"])
    out = {"n_jets": n, "mean_constituents": float(feed["mask"].sum(axis=(1, 2)).mean())}
    for batch in (1, 64, 512):
        m = n if batch > 1 else min(n, 500)
        best = np.inf
        for _ in range(3):
            t = time.perf_counter()
            for s in range(0, m, batch):
                sess.run(None, {k: v[s : min(s + batch, m)] for k, v in feed.items()})
            best = min(best, time.perf_counter() - t)
        out[f"jets_per_s_batch{batch}"] = m / best
        out[f"ms_per_jet_batch{batch}"] = 1e3 * best / m
    return out


def real_files(repo: Path) -> dict[str, object]:
    """Tagger outputs on the real CMS reference files (where present)."""
    from inference.client import make_client

    out: dict[str, object] = {}
    client = make_client(InferenceSettings(repository=repo))
    s = MLFeatureSettings()
    try:
        if (SHARED / "pfnano.root").is_file():
            ev = read_nanoaod(SHARED / "pfnano.root")
            m = select_fatjets(ev.FatJet, s.boosted_min_pt, s.boosted_max_abs_eta)
            sc = client.infer("boosted_top_tagger", constituent_tensors(ev, m, 100))["score"][:, 0]
            fj = ak.flatten(ev.FatJet[m])
            ref = (
                ak.to_numpy(fj.particleNet_TvsQCD)
                if "particleNet_TvsQCD" in ak.fields(fj)
                else None
            )
            out["pfnano"] = {
                "n_fatjets_pt300": len(sc),
                "mean_score": float(sc.mean()),
                "fraction_above_0.5": float((sc > 0.5).mean()),
                "corr_with_cms_particlenet_TvsQCD": (
                    float(np.corrcoef(sc, ref)[0, 1]) if ref is not None and len(sc) > 2 else None
                ),
                "mean_msoftdrop": float(ak.mean(fj.msoftdrop)),
            }
        if (SHARED / "nano_tt_v12.root").is_file():
            ev = read_nanoaod(SHARED / "nano_tt_v12.root", ("Jet", "GenPart"))
            jm = jet_mask(ev.Jet, JetSelection())
            d = trijet_dataset(ev, ResolvedTaggerSettings(), jm)
            sc = client.infer("resolved_top_tagger", {"trijet_features": d["features"]})["score"]
            sc = sc[:, 0]
            cols = dnn_input_columns(ev, ev.Jet[jm], client, s)
            out["nano_tt_v12"] = {
                "n_events": len(ev),
                "n_trijets": len(sc),
                "n_truth_matched_trijets": int(d["label"].sum()),
                "mean_score_matched": float(sc[d["label"] == 1].mean()),
                "mean_score_other": float(sc[d["label"] == 0].mean()),
                "auc_matched_vs_other": auc(d["label"], sc),
                "mean_n_resolved_tops": float(cols["n_resolved_tops"].mean()),
                "n_resolved_tops_histogram": np.bincount(cols["n_resolved_tops"]).tolist(),
                "mean_best_trijet_score": float(cols["resolved_top_score_1"].mean()),
            }
    finally:
        client.close()
    return out


def generated_sense(repo: Path, data_dir: Path, n_tttt: int = 3000, n_ttbar: int = 15000):
    """Mean tagger / DNN outputs on fresh preselected generated tt̄tt̄ and tt̄ events."""
    from inference.client import make_client

    ts, selection = TrainingSettings(), AnalysisSelection()
    mls = selection.features
    client = make_client(InferenceSettings(repository=repo))
    out = {}
    try:
        for proc, n, seed in (("tttt", n_tttt, 5151), ("ttbar", n_ttbar, 5152)):
            ev = load_sample(proc, n, seed, ts, data_dir=data_dir)
            ev, jets = selection.preselect(ev)
            c = ml_feature_columns(ev, jets, client, mls)
            out[proc] = {
                "n_preselected": len(ev),
                "mean_n_resolved_tops": float(c["n_resolved_tops"].mean()),
                "mean_boosted_top_score_max": float(c["boosted_top_score_max"].mean()),
                "mean_n_boosted_tops": float(c["n_boosted_tops"].mean()),
                "mean_dnn_score": float(c["dnn_score"].mean()),
            }
    finally:
        client.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    args = ap.parse_args(argv)
    repo = args.repository
    result: dict[str, object] = {
        "cards": {n: read_metadata(repo / n / "1" / "model.onnx")["metrics"] for n in NAMES[:3]}
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["boosted_speed_1_thread"] = boosted_speed(repo, Path(tmp))
        result["real_files"] = real_files(repo)
        result["generated_preselected"] = generated_sense(repo, Path(tmp))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
