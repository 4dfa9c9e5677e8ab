"""Self-documentation of ONNX models stored in ``metadata_props``.

Every model we ship carries the keys of :data:`REQUIRED_KEYS` so that a reader holding
only the ``.onnx`` file knows its inputs (names, order, units, preprocessing in the
weaver ``preprocess.json`` style), outputs, training samples, version, metrics and licence.
Values are strings; structured values are JSON. Third-party models without the card are
still served (as NVIDIA Triton serves them), flagged ``documented: false``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx

from common.exceptions import ModelRepositoryError

#: Keys every model we ship documents (values are strings, JSON where structured).
REQUIRED_KEYS: tuple[str, ...] = (
    "description",
    "inputs",
    "outputs",
    "training_samples",
    "version",
    "metrics",
    "license",
)

#: Keys whose values must be JSON, and the JSON type expected.
_JSON_KEYS: dict[str, type] = {"inputs": list, "outputs": list, "metrics": dict}


def set_metadata(model: onnx.ModelProto, **values: Any) -> onnx.ModelProto:
    """Set ``metadata_props`` entries on ``model`` in place and return it.

    Strings are stored as given; anything else (lists, dicts, numbers) is stored as JSON.
    Existing keys are replaced, other keys are kept.
    """
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    kept = [p for p in model.metadata_props if p.key not in encoded]
    del model.metadata_props[:]
    for prop in kept:
        model.metadata_props.add(key=prop.key, value=prop.value)
    for key, value in encoded.items():
        model.metadata_props.add(key=key, value=value)
    return model


def read_metadata(source: str | Path | onnx.ModelProto) -> dict[str, Any]:
    """Return ``metadata_props`` of a model (a path to an ``.onnx`` file or a ModelProto).

    Values of the JSON keys (``inputs``, ``outputs``, ``metrics``) are decoded; other
    values are returned as stored. Values that are not valid JSON are returned as strings.
    """
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ModelRepositoryError(f"ONNX file {str(path)!r} does not exist")
        # The weights are not needed to read the metadata.
        model = onnx.load(str(path), load_external_data=False)
    out: dict[str, Any] = {}
    for prop in model.metadata_props:
        value: Any = prop.value
        if prop.key in _JSON_KEYS:
            try:
                value = json.loads(prop.value)
            except json.JSONDecodeError:
                value = prop.value
        out[prop.key] = value
    return out


def metadata_problems(metadata: Mapping[str, Any]) -> list[str]:
    """What keeps ``metadata`` (from :func:`read_metadata`) from being a complete card.

    Empty when every key of :data:`REQUIRED_KEYS` is present and non-empty, the JSON keys
    decoded to the right type, and each ``inputs`` / ``outputs`` entry has a name.
    """
    missing = [k for k in REQUIRED_KEYS if k not in metadata or metadata[k] in ("", None)]
    if missing:
        return [f"metadata_props lacks {missing}"]
    problems = []
    for key, kind in _JSON_KEYS.items():
        if not isinstance(metadata[key], kind):
            problems.append(
                f"metadata key {key!r} must be a JSON {kind.__name__}, got {metadata[key]!r}"
            )
    for key in ("inputs", "outputs"):
        entries = metadata[key] if isinstance(metadata[key], list) else []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not entry.get("name"):
                problems.append(
                    f"metadata {key}[{i}] must be an object with a 'name', got {entry!r}"
                )
    return problems


def validate_metadata(metadata: Mapping[str, Any], model_name: str = "<model>") -> None:
    """Raise ModelRepositoryError unless ``metadata`` is complete (see
    :func:`metadata_problems`); the models we ship and write must be documented."""
    problems = metadata_problems(metadata)
    if problems:
        raise ModelRepositoryError(
            f"model {model_name!r}: {'; '.join(problems)}; set them with "
            "inference.metadata.set_metadata(model, ...) before writing the model"
        )
