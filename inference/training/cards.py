"""Model cards: the ``metadata_props`` every shipped model carries; writing to the repo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from analysis.constituents import JET_FEATURES, PARTICLE_FEATURES, POINT_FEATURES
from analysis.ml_features import DNN_FEATURES
from analysis.trijets import TRIJET_FEATURES
from inference.metadata import set_metadata
from inference.repository import write_model

LICENSE = "BSD-3-Clause"
MODEL_VERSION = "1"


def _features(spec: tuple[tuple[str, str, str], ...]) -> list[dict[str, str]]:
    return [{"name": n, "meaning": m, "units": u} for n, m, u in spec]


def boosted_inputs(
    preprocessing: list[dict], pad_length: int, jet_preprocessing: list[dict] | None = None
) -> list[dict[str, Any]]:
    """``inputs`` metadata of the boosted top tagger (``jet_features`` when it has them)."""
    nf = len(PARTICLE_FEATURES)
    jet = (
        [
            {
                "name": "jet_features",
                "shape": [len(JET_FEATURES)],
                "dtype": "float32",
                "order": _features(JET_FEATURES),
                "preprocessing": {
                    "applied_in_model": True,
                    "formula": "clip((x - median) * norm_factor, lower_bound, upper_bound)",
                    "variables": jet_preprocessing,
                },
                "meaning": "raw fat-jet substructure from NanoAOD FatJet branches, fed to the "
                "classifier head (analysis.constituents.jet_level_features)",
            }
        ]
        if jet_preprocessing
        else []
    )
    return [
        {
            "name": "points",
            "shape": [2, pad_length],
            "dtype": "float32",
            "order": list(POINT_FEATURES),
            "units": "",
            "pad_length": pad_length,
            "meaning": "constituent coordinates relative to the fat-jet axis, pT-ordered, "
            "zero-padded; used to find k nearest neighbours",
        },
        {
            "name": "features",
            "shape": [nf, pad_length],
            "dtype": "float32",
            "order": _features(PARTICLE_FEATURES),
            "pad_length": pad_length,
            "preprocessing": {
                "applied_in_model": True,
                "formula": "clip((x - median) * norm_factor, lower_bound, upper_bound) * mask",
                "variables": preprocessing,
            },
            "meaning": "raw per-constituent features (feed raw values; the graph standardises)",
        },
        {
            "name": "mask",
            "shape": [1, pad_length],
            "dtype": "float32",
            "order": ["is_real"],
            "pad_length": pad_length,
            "meaning": "1 for real constituents, 0 for padding",
        },
        *jet,
    ]


def resolved_inputs() -> list[dict[str, Any]]:
    """``inputs`` metadata of the resolved top tagger."""
    return [
        {
            "name": "trijet_features",
            "shape": [len(TRIJET_FEATURES)],
            "dtype": "float32",
            "order": _features(TRIJET_FEATURES),
            "preprocessing": {"applied_in_model": True, "formula": "none (decision trees)"},
            "meaning": "one row per trijet candidate; b candidate = highest b-tag jet",
        }
    ]


def dnn_inputs(median: list[float], norm: list[float], clip: float) -> list[dict[str, Any]]:
    """``inputs`` metadata of an event-DNN fold."""
    variables = [
        {"name": n, "median": m, "norm_factor": f, "lower_bound": -clip, "upper_bound": clip}
        for (n, _, _), m, f in zip(DNN_FEATURES, median, norm, strict=True)
    ]
    return [
        {
            "name": "features",
            "shape": [len(DNN_FEATURES)],
            "dtype": "float32",
            "order": _features(DNN_FEATURES),
            "preprocessing": {
                "applied_in_model": True,
                "formula": "clip((x - median) * norm_factor, lower, upper)",
                "variables": variables,
            },
        }
    ]


def save_model(
    repo_dir: str | Path,
    name: str,
    model: onnx.ModelProto | str | Path,
    *,
    description: str,
    inputs: list[dict],
    outputs: list[dict],
    training_samples: dict,
    metrics: dict,
    max_batch_size: int,
) -> Path:
    """Attach the model card and write ``<repo_dir>/<name>/1/model.onnx`` + config.pbtxt."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    set_metadata(
        proto,
        description=description,
        inputs=inputs,
        outputs=outputs,
        training_samples=json.dumps(training_samples),
        version=MODEL_VERSION,
        metrics=metrics,
        license=LICENSE,
    )
    onnx.checker.check_model(proto)
    return write_model(repo_dir, name, proto, max_batch_size=max_batch_size)
