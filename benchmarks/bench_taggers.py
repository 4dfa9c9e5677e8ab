"""Throughput of the shipped taggers and event DNN on one CPU core, and their outputs on
the real CMS reference files.

Usage: python benchmarks/bench_taggers.py [--repository inference/models] [--jets 2000]

Prints: boosted-tagger jets/s and ms/jet (ONNX Runtime, 1 intra-op thread) per batch size,
resolved-tagger trijets/s, DNN events/s, the same through the in-process client, and the
tagger scores on real fat jets of pfnano.root and real jets of nano_tt_v12.root.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import awkward as ak
import numpy as np
import onnxruntime as ort

from analysis.ml_features import MLFeatureSettings, dnn_input_columns
from analysis.trijets import trijet_features
from inference.settings import DEFAULT_REPOSITORY, InferenceSettings
from inference.training.dataset import read_nanoaod
from inference.training.particles import constituent_tensors, select_fatjets
from inference.training.resolved import padded_jets
from inference.training.toy_events import make_toy_events

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nanoaod"


def _session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _rate(sess, feed: dict[str, np.ndarray], batch: int, repeats: int = 3) -> float:
    n = len(next(iter(feed.values())))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for s in range(0, n, batch):
            sess.run(None, {k: v[s : s + batch] for k, v in feed.items()})
        best = min(best, time.perf_counter() - t)
    return n / best


def _evaluate(repo: Path) -> None:
    from inference.training.evaluate import evaluate_boosted, evaluate_event_dnn
    from inference.training.settings import TrainingSettings

    ts = TrainingSettings()
    print("held-out boosted tagger (fresh toy seeds):")
    for k, v in evaluate_boosted(repo, ts, 6000, 8000, seed=9001).items():
        print(f"  {k}: {v}")
    print("held-out event DNN (fresh toy seeds):")
    print(f"  {evaluate_event_dnn(repo, ts, 3000, 40000, seed=9101)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    ap.add_argument("--events", type=int, default=1500, help="toy ttbar_boosted events")
    ap.add_argument(
        "--evaluate",
        action="store_true",
        help="also measure held-out AUC / rejection / DNN efficiency (minutes)",
    )
    args = ap.parse_args()
    repo = args.repository
    if args.evaluate:
        _evaluate(repo)
    ev = make_toy_events("ttbar_boosted", args.events, seed=77)
    s = MLFeatureSettings()
    tens = constituent_tensors(ev, select_fatjets(ev.FatJet, s.boosted_min_pt, 2.4), 100)
    print(
        f"boosted_top_tagger: {len(tens['mask'])} toy fat jets, "
        f"<n constituents> = {tens['mask'].sum(axis=(1, 2)).mean():.1f}, pad 100"
    )
    sess = _session(repo / "boosted_top_tagger" / "1" / "model.onnx")
    for batch in (1, 64, 512):
        r = _rate(sess, tens, batch)
        print(f"  ORT 1 thread, batch {batch:4d}: {r:9.0f} jets/s  {1e3 / r:.3f} ms/jet")
    pj, n = padded_jets(ev.Jet[(ev.Jet.pt > 30) & (abs(ev.Jet.eta) < 2.4)], 8)
    feats, valid = trijet_features(pj, n, 8)
    x = feats[valid]
    r = _rate(
        _session(repo / "resolved_top_tagger" / "1" / "model.onnx"), {"trijet_features": x}, 4096
    )
    print(f"resolved_top_tagger: {r:.0f} trijets/s (batch 4096, {len(x)} trijets)")

    from inference.client import make_client

    client = make_client(InferenceSettings(repository=repo))
    jets = ev.Jet[(ev.Jet.pt > 30) & (abs(ev.Jet.eta) < 2.4)]
    t = time.perf_counter()
    cols = dnn_input_columns(ev, jets, client, s)
    dt = time.perf_counter() - t
    print(
        f"dnn_input_columns via in-process client: {len(ev) / dt:.0f} events/s "
        f"({len(ev)} events, {len(tens['mask'])} fat jets tagged)"
    )
    xd = np.stack([cols[k] for k in cols], axis=1).astype(np.float32)
    r = _rate(_session(repo / "event_dnn_fold0" / "1" / "model.onnx"), {"features": xd}, 4096)
    print(f"event_dnn_fold0: {r:.0f} events/s")

    if (SHARED / "pfnano.root").is_file():
        real = read_nanoaod(SHARED / "pfnano.root")
        m = select_fatjets(real.FatJet, s.boosted_min_pt, 2.4)
        t = constituent_tensors(real, m, 100)
        out = client.infer("boosted_top_tagger", t, ["score"])["score"][:, 0]
        fj = ak.flatten(real.FatJet[m])
        print(f"pfnano.root: {len(out)} fat jets (pT > {s.boosted_min_pt:g}); scores:")
        for sc, pt, msd, ref in zip(out, fj.pt, fj.msoftdrop, fj.particleNet_TvsQCD, strict=True):
            print(
                f"  pT {pt:7.1f}  msd {msd:6.1f}  ours {sc:.3f}  CMS ParticleNet TvsQCD {ref:.3f}"
            )
    if (SHARED / "nano_tt_v12.root").is_file():
        real = read_nanoaod(SHARED / "nano_tt_v12.root", ("Jet", "GenPart"))
        jets = real.Jet[(real.Jet.pt > 30) & (abs(real.Jet.eta) < 2.4) & (real.Jet.jetId >= 2)]
        cols = dnn_input_columns(real, jets, client, s)
        print(
            f"nano_tt_v12.root: {len(real)} events; n_resolved_tops distribution "
            f"{np.bincount(cols['n_resolved_tops']).tolist()}; mean best trijet score "
            f"{cols['resolved_top_score_1'].mean():.3f}"
        )
    client.close()


if __name__ == "__main__":
    main()
