"""Every ONNX model of the bundle runs from its own metadata alone.

This module imports only numpy, onnx and onnxruntime (and the standard library): it reads
the flat key-value metadata, preprocesses the raw inputs of ``validation/<model>.npz`` as
the metadata say, runs the model and reproduces the pipeline's outputs to 1e-5.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime


def _vector(meta: dict[str, str], key: str) -> np.ndarray:
    return np.array([float(v) for v in meta[key].split(",")])


def _transformed(values: np.ndarray, transform: str, eps: float) -> np.ndarray:
    if transform == "logit":
        s = np.clip(values, eps, 1 - eps)
        return np.log(s) - np.log1p(-s)
    if transform == "log":
        return np.log(values)
    return values


def _feed(meta: dict[str, str], name: str, ref) -> np.ndarray:
    if f"input:{name}" in ref:  # a whole raw tensor
        x = ref[f"input:{name}"].astype(np.float64)
    elif f"{name}.cells" in meta:  # one-hot N-jets block, then one-hot N-b block
        cells = meta[f"{name}.cells"].split(",")
        nj = dict(zip(cells, map(int, meta[f"{name}.n_jets_bin"].split(",")), strict=True))
        nb = dict(zip(cells, map(int, meta[f"{name}.n_b_bin"].split(",")), strict=True))
        n_nj, n_nb = max(nj.values()) + 1, max(nb.values()) + 1
        x = np.zeros((len(ref["cell"]), n_nj + n_nb))
        for i, cell in enumerate(ref["cell"]):
            x[i, nj[cell]] = x[i, n_nj + nb[cell]] = 1.0
    else:
        names = meta[f"{name}.var_names"].split(",")
        transforms = meta.get(f"{name}.transform", ",".join(["none"] * len(names))).split(",")
        eps = float(meta.get(f"{name}.logit_epsilon", "0"))
        x = np.stack([_transformed(ref[f"input:{name}:{v}"].astype(np.float64), t, eps)
                      for v, t in zip(names, transforms, strict=True)], axis=1)
    if meta[f"{name}.preprocessing_in_model"] == "0":
        x = np.clip((x - _vector(meta, f"{name}.median")) * _vector(meta, f"{name}.norm_factor"),
                    _vector(meta, f"{name}.lower_bound"), _vector(meta, f"{name}.upper_bound"))
    return x.astype(np.float32)


def test_every_bundle_model_reproduces_the_pipeline_from_its_metadata(small_run):
    bundle = small_run / "export" / "bundle"
    index = json.loads((bundle / "index.json").read_text())
    assert {"event_dnn_fold0", "event_dnn_fold1", "resolved_top_tagger", "boosted_top_tagger",
            "abcdnn_map"} <= set(index["models"])
    models = sorted((bundle / "models").glob("*.onnx"))
    assert {m.stem for m in models} == set(index["models"])
    for path in models:
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        ref = np.load(bundle / "validation" / f"{path.stem}.npz")
        if "apply_to_event_parity" in meta:
            parity = 1 if meta["apply_to_event_parity"] == "odd" else 0
            assert np.all(ref["event"] % 2 == parity), path.stem
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {n: _feed(meta, n, ref) for n in meta["input_names"].split(",")}
        output = meta["output_names"].split(",")[-1]
        got = session.run([output], feeds)[0]
        expected = ref[f"output:{output}"]
        assert len(expected) > 10, path.stem
        np.testing.assert_allclose(got.reshape(expected.shape), expected, atol=1e-5, rtol=0,
                                   err_msg=path.stem)


def test_weaver_json_agrees_with_the_flat_keys(small_run):
    for path in sorted((small_run / "export" / "bundle" / "models").glob("*.onnx")):
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        pre = json.loads(meta["preprocess_json"])
        assert ",".join(pre["input_names"]) == meta["input_names"]
        for name in pre["input_names"]:
            names = pre[name]["var_names"]
            assert ",".join(names) == meta[f"{name}.var_names"]
            medians = [pre[name]["var_infos"][v]["median"] for v in names]
            if names:
                np.testing.assert_array_equal(medians, _vector(meta, f"{name}.median"))
