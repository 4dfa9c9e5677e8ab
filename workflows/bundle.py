"""The reinterpretation bundle's models: each published ONNX file with its bundle metadata
(:mod:`analysis.publish.model_cards`) and a validation file of raw inputs and the pipeline's
outputs on them, so a reader checks that the metadata alone reproduce the pipeline.

``validation/<model>.npz`` holds ``input:<input>:<variable>`` (raw per-row columns, in any
order: the metadata give the order), ``input:<input>`` (a whole raw tensor), ``cell`` (the
ABCDnn cell label of each row), ``event`` (event numbers) and ``output:<output>`` (what the
pipeline computed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from analysis.ml_features import DNN_FEATURE_NAMES, dnn_fold
from analysis.publish.model_cards import publishable

MAX_ROWS = 2000  # rows per validation file: enough for a 1e-5 check, small enough to ship


def _write(model: onnx.ModelProto, reference: dict[str, np.ndarray], name: str,
           folder: Path) -> dict[str, str]:
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / "validation").mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "models" / f"{name}.onnx"))
    np.savez_compressed(folder / "validation" / f"{name}.npz", **reference)
    return {"model": f"models/{name}.onnx", "validation": f"validation/{name}.npz",
            "rows": str(len(next(iter(reference.values()))))}


def dnn_models(repository: Path, fold_models: tuple[str, str], features: pd.DataFrame,
               folder: Path) -> dict[str, dict[str, str]]:
    """The two event-DNN folds; validation rows: simulated events of the fold's parity with
    the ``dnn_score`` the processor wrote into the feature table."""
    written = {}
    mc = features[features["kind"] == "mc"]
    fold = dnn_fold(mc["event"].to_numpy())
    for k, name in enumerate(fold_models):
        rows = mc[fold == k].head(MAX_ROWS)
        parity = "odd" if int(rows["event"].iloc[0]) % 2 else "even"
        model = publishable(str(repository / name / "1" / "model.onnx"),
                            {"apply_to_event_parity": parity})
        reference = {f"input:features:{v}": rows[v].to_numpy(np.float32)
                     for v in DNN_FEATURE_NAMES}
        reference |= {"event": rows["event"].to_numpy(np.int64),
                      "output:score": rows["dnn_score"].to_numpy(np.float32)}
        written[name] = _write(model, reference, name, folder)
    return written


def resolved_model(repository: Path, name: str, features: pd.DataFrame, client: Any,
                   max_jets: int, folder: Path) -> dict[str, str]:
    """The resolved top tagger; validation rows: trijet candidates of the feature table's
    jets (the processor's trijet features) scored by the pipeline's inference client."""
    from analysis.trijets import trijet_features

    rows = features[features["kind"] == "mc"].head(MAX_ROWS // 10)
    jets = {key: np.stack([rows[f"jet{i + 1}_{key}"].to_numpy(np.float64)
                           for i in range(max_jets)], axis=1)
            for key in ("pt", "eta", "phi", "mass", "btag")}
    feats, valid = trijet_features(jets, rows["n_jets"].to_numpy(np.int64), max_jets)
    x = feats[valid].astype(np.float32)[:MAX_ROWS]
    score = np.asarray(client.infer(name, {"trijet_features": x}, ["score"])["score"])
    model = publishable(str(repository / name / "1" / "model.onnx"))
    return _write(model, {"input:trijet_features": x,
                          "output:score": score.reshape(-1).astype(np.float32)}, name, folder)


def constituent_events(path: Path, entries: int) -> Any:
    """The first ``entries`` events of a PFNano file: FatJet, FatJetPFCands, PFCands."""
    import awkward as ak
    import uproot

    with uproot.open(path) as f:
        tree = f["Events"]
        out = {}
        for coll in ("FatJet", "FatJetPFCands", "PFCands"):
            names = [k for k in tree.keys() if k.startswith(coll + "_")]
            arrays = tree.arrays(names, entry_stop=entries)
            out[coll] = ak.zip({k[len(coll) + 1:]: arrays[k] for k in names})
    return ak.zip(out, depth_limit=1)


def boosted_model(repository: Path, settings: Any, source: Path, client: Any,
                  folder: Path, entries: int = 500) -> dict[str, str] | None:
    """The boosted top tagger; validation rows: fat jets of the first ``entries`` events of
    a PFNano input file (the processor's constituent tensors), scored by the pipeline's
    inference client. None when those events have no fat jet to tag."""
    from analysis.constituents import constituent_tensors, select_fatjets

    events = constituent_events(source, entries)
    mask = select_fatjets(events.FatJet, settings.boosted_min_pt, settings.boosted_max_abs_eta)
    tensors = constituent_tensors(events, mask, settings.pad_length)
    if len(tensors["mask"]) == 0:
        return None
    tensors = {k: v[:MAX_ROWS // 4] for k, v in tensors.items()}
    name = settings.boosted_model
    score = np.asarray(client.infer(name, tensors, ["score"])["score"])
    model = publishable(str(repository / name / "1" / "model.onnx"))
    reference = {f"input:{k}": v for k, v in tensors.items()}
    reference["output:score"] = score.reshape(-1).astype(np.float32)
    return _write(model, reference, name, folder)


def abcdnn_model(model_path: Path, features: pd.DataFrame, folder: Path) -> dict[str, str]:
    """The ABCDnn map; validation rows: ttbar events of the grid's cells, standardized and
    encoded by the morphing code and run through the pipeline's inference client."""
    from analysis.abcdnn.export import apply_map
    from analysis.abcdnn.inputs import Standardizer
    from analysis.abcdnn.regions import assign_cells, cell_label, encode_conditions
    from analysis.abcdnn.settings import GridSpec
    from inference.metadata import read_metadata

    card = read_metadata(model_path)
    grid = GridSpec(**json.loads(card["grid"]))
    settings = json.loads(card["settings"])
    x_info = card["inputs"][0]["features"]
    standardizer = Standardizer(np.array([v["median"] for v in x_info]),
                                1.0 / np.array([v["norm_factor"] for v in x_info]),
                                settings["clip"], settings["score_epsilon"])
    ttbar = features[features["process"] == settings["morph_process"]]
    cells = assign_cells(ttbar["n_jets"].to_numpy(), ttbar["n_b"].to_numpy(), grid)
    inside = cells[:, 0] >= 0
    rows, cells = ttbar[inside].head(MAX_ROWS), cells[inside][:MAX_ROWS]
    x = standardizer.forward(rows["dnn_score"].to_numpy(), rows["ht"].to_numpy())
    y = apply_map(x, encode_conditions(cells, settings["encoding"]),
                  repository=model_path.parent.parent.parent, name=model_path.parent.parent.name)
    model = publishable(str(model_path), {"x.logit_epsilon": repr(settings["score_epsilon"])})
    reference = {"input:x:dnn_score": rows["dnn_score"].to_numpy(np.float64),
                 "input:x:ht": rows["ht"].to_numpy(np.float64),
                 "cell": np.array([cell_label(tuple(c), grid) for c in cells]),
                 "output:y": np.asarray(y, np.float32)}
    return _write(model, reference, model_path.parent.parent.name, folder)
