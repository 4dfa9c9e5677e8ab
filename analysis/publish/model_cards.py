"""Bundle metadata of the published ONNX models: weaver-style preprocessing JSON and flat
key–value entries that a reader with the ``.onnx`` file alone can apply.

The models document themselves already (:mod:`inference.metadata`: JSON ``inputs`` with
the variable order and the standardization). For reuse outside this package two more forms
are added to ``metadata_props``:

* ``preprocess_json``: the ``preprocess.json`` layout of weaver (``input_names``,
  ``input_shapes``, per input ``var_names``, ``var_infos`` with ``median``,
  ``norm_factor``, ``lower_bound``, ``upper_bound``, ``pad``, and ``var_length``), plus
  ``preprocessing_in_model`` per input: whether the graph standardizes itself;
* flat keys with comma-separated vectors, as Rivet's ``RivetONNXrt`` reads them with
  ``retrieve<T>(key)``: ``input_names``, ``output_names``, ``<input>.var_names``,
  ``<input>.median``, ``<input>.norm_factor``, ``<input>.lower_bound``,
  ``<input>.upper_bound``, ``<input>.var_length``, ``<input>.preprocessing_in_model``
  (``1``/``0``) and, where a variable is transformed before the standardization,
  ``<input>.transform`` (``logit`` after clipping to [eps, 1 - eps], ``log``, or ``none``).

The event DNN is published without its first three nodes (x - median, × norm_factor,
clip): a reader applies them from the metadata, as a Rivet analysis would.
"""

from __future__ import annotations

import json
from typing import Any

import onnx
import onnx.utils

from inference.metadata import read_metadata, set_metadata

#: The event DNN graph's standardization ends in this tensor (the exported MLP's first Clip).
DNN_STANDARDIZED = "/Clip_output_0"


def _variables(entry: dict[str, Any]) -> tuple[list[str], list[dict[str, float]], bool]:
    """Variable names, their standardization and whether the graph applies it."""
    pre = entry.get("preprocessing")
    if "features" in entry:  # the ABCDnn map: standardized outside the graph
        variables = entry["features"]
        return [v["name"] for v in variables], variables, False
    order = entry.get("order", [])
    names = [o if isinstance(o, str) else o["name"] for o in order]
    if isinstance(pre, dict) and pre.get("variables"):
        return names, pre["variables"], bool(pre.get("applied_in_model", True))
    return names, [], True  # nothing to standardize (trees, coordinates, masks)


def _transform(name: str) -> str:
    if name.startswith("logit("):
        return "logit"
    if name.startswith("log("):
        return "log"
    return "none"


def _raw_name(name: str) -> str:
    """The variable a transform acts on: ``logit(dnn_score)`` → ``dnn_score``,
    ``log(ht/GeV)`` → ``ht`` (in GeV)."""
    if _transform(name) == "none":
        return name
    return name[name.index("(") + 1 : name.rindex(")")].split("/")[0]


def _input_block(entry: dict[str, Any]) -> dict[str, Any]:
    documented, infos, in_model = _variables(entry)
    names = [_raw_name(n) for n in documented]
    by_name = {_raw_name(v["name"]): v for v in infos}
    identity = {"median": 0.0, "norm_factor": 1.0, "lower_bound": -1e32, "upper_bound": 1e32}
    var_infos = {n: {k: float(by_name.get(n, identity)[k]) for k in identity} | {"pad": 0.0}
                 for n in names}
    block: dict[str, Any] = {"var_names": names, "var_infos": var_infos,
                             "preprocessing_in_model": in_model or not infos}
    shape = entry.get("shape", [])
    if len(shape) == 2:
        block["var_length"] = int(shape[1])
    if any(_transform(n) != "none" for n in documented):
        block["transform"] = [_transform(n) for n in documented]
    if "cells" in entry:  # one-hot conditions of the ABCDnn map
        block["cells"] = entry["cells"]
        block["encoding"] = entry.get("encoding", "")
    return block


def bundle_metadata(card: dict[str, Any], strip_standardization: bool = False,
                    extra: dict[str, str] | None = None) -> dict[str, str]:
    """``preprocess_json`` and the flat keys for a model card (:func:`read_metadata`).

    ``strip_standardization``: the published graph lacks its standardization, so every
    input's ``preprocessing_in_model`` is 0 (the reader standardizes).
    """
    inputs = {e["name"]: _input_block(e) for e in card["inputs"]}
    if strip_standardization:
        for block in inputs.values():
            block["preprocessing_in_model"] = False
    outputs = [o["name"] for o in card["outputs"]]
    pre = {"input_names": list(inputs),
           "input_shapes": {e["name"]: [-1, *e.get("shape", [])] for e in card["inputs"]},
           **inputs, "output_names": outputs}
    flat = {"input_names": ",".join(inputs), "output_names": ",".join(outputs)}
    for name, block in inputs.items():
        flat[f"{name}.var_names"] = ",".join(block["var_names"])
        flat[f"{name}.preprocessing_in_model"] = "1" if block["preprocessing_in_model"] else "0"
        for key in ("median", "norm_factor", "lower_bound", "upper_bound"):
            flat[f"{name}.{key}"] = ",".join(repr(block["var_infos"][v][key])
                                             for v in block["var_names"])
        if "var_length" in block:
            flat[f"{name}.var_length"] = str(block["var_length"])
        if "transform" in block:
            flat[f"{name}.transform"] = ",".join(block["transform"])
        if "cells" in block:
            cells = block["cells"]
            flat[f"{name}.cells"] = ",".join(cells)
            flat[f"{name}.n_jets_bin"] = ",".join(str(c["n_jets_bin"]) for c in cells.values())
            flat[f"{name}.n_b_bin"] = ",".join(str(c["n_b_bin"]) for c in cells.values())
            flat[f"{name}.encoding"] = block["encoding"]
    return {"preprocess_json": json.dumps(pre), **flat, **(extra or {})}


def _strip_dnn_standardization(model: onnx.ModelProto) -> onnx.ModelProto:
    """The event DNN from its standardized inputs on (named ``features`` again)."""
    inferred = onnx.shape_inference.infer_shapes(model)  # the Extractor needs value_info
    extracted = onnx.utils.Extractor(inferred).extract_model([DNN_STANDARDIZED], ["score"])
    for node in extracted.graph.node:
        node.input[:] = ["features" if i == DNN_STANDARDIZED else i for i in node.input]
    extracted.graph.input[0].name = "features"
    for prop in model.metadata_props:
        extracted.metadata_props.add(key=prop.key, value=prop.value)
    return extracted


def _standardizes_first(model: onnx.ModelProto) -> bool:
    """The event-DNN layout: one input ``features`` whose first operations are
    Sub (median), Mul (norm_factor), Clip into :data:`DNN_STANDARDIZED`."""
    graph = model.graph
    ops = [n for n in graph.node if n.op_type != "Constant"][:3]
    return ([i.name for i in graph.input] == ["features"]
            and [n.op_type for n in ops] == ["Sub", "Mul", "Clip"]
            and ops[0].input[0] == "features" and ops[2].output[0] == DNN_STANDARDIZED)


def publishable(path: str, extra: dict[str, str] | None = None) -> onnx.ModelProto:
    """The model at ``path`` with the bundle metadata added (the event DNN without its
    in-graph standardization, see the module docstring)."""
    model = onnx.load(path)
    card = read_metadata(model)
    strip = _standardizes_first(model)
    if strip:
        model = _strip_dnn_standardization(model)
    model = set_metadata(model, **bundle_metadata(card, strip, extra))
    onnx.checker.check_model(model)
    return model
