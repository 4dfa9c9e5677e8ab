"""Generator-level selection and event-DNN efficiency: the bundle's worked example.

Standalone on purpose (numpy, onnx and onnxruntime only): the export copies this file into
the bundle as ``example/generator_level.py`` so a user applies the published event DNN to
events of their own generator without this package.

Recipe (generator level): jets are GenJets with pT > 30 GeV and |eta| < 2.4, pT-ordered; a
jet counts as b-tagged when its hadron flavour is 5 (b-tag score 1, else 0); the top-tagger
inputs are 0 (no reconstructed trijets or fat jets at this level). Selected events have at
least 6 jets, at least 2 b jets and HT >= 700 GeV; an event passes when it is selected and
its DNN score (the fold model of its event-number parity) exceeds the cut. The efficiency
is passing / generated events with its binomial uncertainty.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

MIN_PT, MAX_ABS_ETA = 30.0, 2.4
MIN_JETS, MIN_B, MIN_HT = 6, 2, 700.0
DNN_CUT = 0.5


def _padded(values: np.ndarray, counts: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(counts), width))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for k in range(width):
        has = counts > k
        out[has, k] = values[starts[has] + k]
    return out


def dnn_inputs(counts: np.ndarray, pt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
               mass: np.ndarray, flavour: np.ndarray) -> dict[str, np.ndarray]:
    """The event-DNN inputs (by name) of events given as flat GenJet arrays + counts."""
    counts = np.asarray(counts, np.int64)
    event_of = np.repeat(np.arange(len(counts)), counts)
    keep = (pt > MIN_PT) & (np.abs(eta) < MAX_ABS_ETA)
    order = np.lexsort((-pt[keep], event_of[keep]))  # by event, then descending pT
    idx = np.flatnonzero(keep)[order]
    n = np.bincount(event_of[idx], minlength=len(counts))
    jpt, jeta, jphi, jm = pt[idx], eta[idx], phi[idx], mass[idx]
    b = (flavour[idx] == 5).astype(np.float64)
    width = max(int(n.max(initial=0)), 6)
    p = {k: _padded(v, n, width) for k, v in
         (("pt", jpt), ("eta", jeta), ("phi", jphi), ("mass", jm), ("b", b))}
    valid = np.arange(width)[None, :] < n[:, None]
    cols = {"ht": p["pt"].sum(1), "n_jets": n.astype(np.float64), "n_b": p["b"].sum(1)}
    for i in range(6):
        cols[f"jet{i + 1}_pt"] = p["pt"][:, i]
    ranked = -np.sort(-p["b"], axis=1)
    for i in range(4):
        cols[f"btag_rank{i + 1}"] = ranked[:, i] if width > i else np.zeros(len(n))
    cols["ht_b"] = (p["pt"] * p["b"]).sum(1)
    px, py = p["pt"] * np.cos(p["phi"]), p["pt"] * np.sin(p["phi"])
    pz = p["pt"] * np.sinh(p["eta"])
    e = np.sqrt(px**2 + py**2 + pz**2 + p["mass"] ** 2) * valid
    mom = np.stack([px, py, pz], axis=2) * valid[:, :, None]
    norm = (mom**2).sum(axis=(1, 2))
    lam = np.linalg.eigvalsh(np.einsum("nja,njb->nab", mom, mom)
                             / np.where(norm > 0, norm, 1.0)[:, None, None])
    cols["sphericity"] = 1.5 * (lam[:, 0] + lam[:, 1])
    cols["aplanarity"] = 1.5 * lam[:, 0]
    cols["centrality"] = np.where(e.sum(1) > 0, cols["ht"] / np.where(e.sum(1) > 0,
                                                                      e.sum(1), 1.0), 0.0)
    for name in ("n_resolved_tops", "resolved_top_score_1", "resolved_top_score_2",
                 "boosted_top_score_max", "n_boosted_tops"):
        cols[name] = np.zeros(len(n))
    return cols


def selected(cols: dict[str, np.ndarray]) -> np.ndarray:
    """The generator-level preselection."""
    return (cols["n_jets"] >= MIN_JETS) & (cols["n_b"] >= MIN_B) & (cols["ht"] >= MIN_HT)


def dnn_scores(model_paths: list[Path], cols: dict[str, np.ndarray],
               event: np.ndarray) -> np.ndarray:
    """Scores of the event-DNN folds, each on the events of its ``apply_to_event_parity``,
    preprocessed as the models' flat metadata say."""
    scores = np.full(len(event), np.nan)
    for path in model_paths:
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        parity = 1 if meta["apply_to_event_parity"] == "odd" else 0
        rows = np.asarray(event) % 2 == parity
        names = meta["features.var_names"].split(",")
        x = np.stack([cols[v][rows] for v in names], axis=1)
        if meta["features.preprocessing_in_model"] == "0":
            vec = {k: np.array(meta[f"features.{k}"].split(","), float)
                   for k in ("median", "norm_factor", "lower_bound", "upper_bound")}
            x = np.clip((x - vec["median"]) * vec["norm_factor"], vec["lower_bound"],
                        vec["upper_bound"])
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        scores[rows] = session.run(["score"], {"features": x.astype(np.float32)})[0].ravel()
    return scores


def efficiency(model_paths: list[Path], counts: np.ndarray, pt: np.ndarray, eta: np.ndarray,
               phi: np.ndarray, mass: np.ndarray, flavour: np.ndarray,
               event: np.ndarray) -> dict[str, float]:
    """Selection and selection-plus-DNN efficiencies (binomial uncertainties) of events."""
    cols = dnn_inputs(counts, pt, eta, phi, mass, flavour)
    sel = selected(cols)
    passed = sel & (dnn_scores(model_paths, cols, event) > DNN_CUT)
    n = len(counts)
    out = {"events": n, "dnn_cut": DNN_CUT}
    for key, mask in (("selection", sel), ("selection_and_dnn", passed)):
        eff = mask.sum() / n
        out[key] = float(eff)
        out[f"{key}_stat"] = float(np.sqrt(eff * (1 - eff) / n))
    return out


def main() -> None:
    """``python generator_level.py events.npz``: the efficiencies of your events.

    ``events.npz`` holds ``counts`` (GenJets per event), flat ``pt``, ``eta``, ``phi``,
    ``mass``, ``hadronFlavour`` and ``event`` (event numbers).
    """
    import sys

    here = Path(__file__).resolve().parent.parent
    data = np.load(sys.argv[1])
    models = sorted((here / "models").glob("event_dnn_fold*.onnx"))
    print(json.dumps(efficiency(models, data["counts"], data["pt"], data["eta"], data["phi"],
                                data["mass"], data["hadronFlavour"], data["event"]), indent=1))


if __name__ == "__main__":
    main()
