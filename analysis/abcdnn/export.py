"""Export of an ABCDnn ensemble to ONNX (model repository layout) and its application.

The exported graph maps standardized inputs ``x`` (batch, 2) and one-hot conditions ``c``
(batch, 5) to ``y`` (batch, n_members, 2): the forward map T(x | c) of every ensemble
member. Everything a reader needs to use it (standardization in the weaver
``preprocess.json`` style, the condition encoding, the grid, training settings, the
extended-ABCD normalization) is stored in ``metadata_props``.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from analysis.abcdnn.ensemble import GridEnsemble
from analysis.abcdnn.flow import MonotoneFlow
from analysis.abcdnn.inputs import FEATURES
from analysis.abcdnn.regions import (
    ALL_CELLS,
    CONTROL_CELLS,
    TARGET,
    cell_label,
    cell_letter,
    condition_dim,
)
from common.exceptions import ModelRepositoryError

MODEL_NAME = "abcdnn_map"
MODEL_VERSION = "1"
OPSET = 17
MAX_BATCH_SIZE = 65536
LICENSE = "BSD-3-Clause"
_ENCODINGS = {
    "factorized": "one-hot N jets bin (3) followed by one-hot N b bin (2)",
    "joint": "one-hot of the cell, index = n_b_bin * 3 + n_jets_bin",
}


class EnsembleMap(nn.Module):
    """All members' forward maps stacked: ``y[:, k]`` = T_k(x | c)."""

    def __init__(self, flows: list[MonotoneFlow]) -> None:
        super().__init__()
        self.flows = nn.ModuleList(flows)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.stack([flow(x, c) for flow in self.flows], dim=1)


def _metadata(ensemble: GridEnsemble) -> dict[str, Any]:
    data, settings = ensemble.data, ensemble.settings
    std = data.standardizer
    grid = data.grid
    inputs = [
        {
            "name": "x", "shape": [2], "dtype": "float32",
            "features": [
                {"name": name, "units": unit, "median": float(m), "norm_factor": float(1 / s),
                 "lower_bound": -settings.clip, "upper_bound": settings.clip}
                for name, unit, m, s in zip(FEATURES, ["", "log GeV"], std.mean, std.std,
                                            strict=True)
            ],
            "preprocessing": "x = clip((feature - median) * norm_factor, lower_bound, "
                             f"upper_bound); dnn_score clipped to [{settings.score_epsilon}, "
                             f"1 - {settings.score_epsilon}] before the logit",
        },
        {
            "name": "c", "shape": [condition_dim(settings.encoding)], "dtype": "float32",
            "encoding": _ENCODINGS[settings.encoding],
            "cells": {cell_label(cell, grid): {"letter": cell_letter(cell),
                                               "n_jets_bin": cell[0], "n_b_bin": cell[1]}
                      for cell in ALL_CELLS},
        },
    ]
    outputs = [{
        "name": "y", "shape": [len(ensemble.members), 2],
        "meaning": "T(x|c) per ensemble member, standardized like x; invert the "
                   "preprocessing (feature = y / norm_factor + median; dnn_score = "
                   "sigmoid) to get the morphed ttbar (DNN score, HT)",
    }]
    return {
        "description": (
            f"ABCDnn background morphing map ({grid.name} grid): conditional monotone "
            "autoregressive flow trained with a Gaussian-mixture MMD to morph "
            f"{settings.morph_process} simulation into data minus "
            f"{'+'.join(settings.subtract_processes)} simulation in the control cells "
            f"{[cell_label(c, grid) for c in CONTROL_CELLS]}; applied in "
            f"{cell_label(TARGET, grid)}. Method: arXiv:2008.03636."
        ),
        "inputs": inputs,
        "outputs": outputs,
        "training_samples": json.dumps({
            "morphed": settings.morph_process, "target": settings.data_process,
            "subtracted": settings.subtract_processes,
            "events": {"simulation": int(len(data.mc.weight)),
                       "target": int(len(data.target.weight))},
        }),
        "version": MODEL_VERSION,
        "metrics": {
            "final_loss_per_member": [float(np.mean(m.losses[-20:])) for m in ensemble.members],
            "extended_abcd": ensemble.abcd.to_dict(),
        },
        "license": LICENSE,
        "grid": grid.model_dump_json(),
        "settings": settings.model_dump_json(),
    }


def to_onnx(ensemble: GridEnsemble) -> onnx.ModelProto:
    """The ensemble's forward maps as an ONNX model with metadata (dynamic batch axis)."""
    if ensemble.settings.encoding == "none":
        raise ModelRepositoryError(
            "an ABCDnn map without conditions is a diagnostic and is not exported; train "
            "with encoding='factorized'"
        )
    module = EnsembleMap([f.cpu() for f in ensemble.flows]).eval()
    example = (torch.zeros(2, 2), torch.zeros(2, condition_dim(ensemble.settings.encoding)))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Without onnxscript only the TorchScript exporter is available; it warns that it
        # is no longer the default, which is not a problem for this small static graph.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export",
                                category=DeprecationWarning)
        torch.onnx.export(
            module, example, buffer, input_names=["x", "c"], output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "c": {0: "batch"}, "y": {0: "batch"}},
            opset_version=OPSET, dynamo=False,
        )
    model = onnx.load_model_from_string(buffer.getvalue())
    from inference.metadata import set_metadata

    return set_metadata(model, **_metadata(ensemble))


def export_ensemble(ensemble: GridEnsemble, repo_dir: Path, name: str = MODEL_NAME) -> Path:
    """Write the ensemble as ``<repo_dir>/<name>/1/model.onnx`` + config.pbtxt; return the file."""
    from inference.repository import write_model

    model_dir = write_model(repo_dir, name, to_onnx(ensemble), max_batch_size=MAX_BATCH_SIZE)
    return model_dir / MODEL_VERSION / "model.onnx"


def apply_map(
    x: np.ndarray, c: np.ndarray, *, repository: Path, name: str = MODEL_NAME, client: Any = None
) -> np.ndarray:
    """Run the exported map on standardized ``x`` and conditions ``c``; returns ``y``.

    Goes through the analysis inference client (in-process ONNX Runtime over
    ``repository`` unless a ``client`` is given, e.g. one talking to a server).
    """
    feeds = {"x": np.asarray(x, dtype=np.float32), "c": np.asarray(c, dtype=np.float32)}
    if client is None:
        from inference.client import make_client
        from inference.settings import InferenceSettings

        client = make_client(InferenceSettings(repository=Path(repository)))
        try:
            return client.infer(name, feeds, ["y"])["y"]
        finally:
            client.close()
    result = client.infer(name, feeds, ["y"])
    if "y" not in result:
        raise ModelRepositoryError(f"model {name!r} returned {sorted(result)}, expected 'y'")
    return result["y"]
