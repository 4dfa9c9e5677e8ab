"""Run models on jagged (per-event, variable-length) awkward arrays.

Two layouts:

* ``"flatten"``: a per-object model (input ``(N, ...)``). All objects of all events are
  concatenated, run as rows, and outputs unflattened back to the event structure.
* ``"pad"``: a per-event model taking a fixed number of objects (input ``(N, P, ...)``,
  as ParticleNet with 100 points, or CMS SONIC's padded requests). Events are padded
  with zeros (or clipped) to ``pad_length`` and a mask input (1 real, 0 padding) is fed
  when ``mask_input`` is given. Per-object outputs ``(N, P, ...)`` are cut back to each
  event's objects; per-event outputs are returned as plain arrays.

Each jagged input is one awkward array ``events * var * [features]`` or a list of
``events * var`` arrays stacked as the features (in list order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import awkward as ak
import numpy as np

from common.exceptions import ModelInputError


def _flat(name: str, value: ak.Array | Sequence[ak.Array]) -> tuple[np.ndarray, np.ndarray]:
    """(objects per event, objects as rows ``(total, ...)``) of one jagged input."""
    arrays = list(value) if isinstance(value, list | tuple) else [value]
    if not arrays:
        raise ModelInputError(f"jagged input {name!r} is an empty list of feature arrays")
    counts = ak.to_numpy(ak.num(arrays[0], axis=1))
    flats = []
    for array in arrays:
        if not np.array_equal(ak.to_numpy(ak.num(array, axis=1)), counts):
            raise ModelInputError(
                f"jagged input {name!r}: its feature arrays differ in objects per event"
            )
        flats.append(ak.to_numpy(ak.flatten(array, axis=1)))
    flat = np.stack(flats, axis=-1) if isinstance(value, list | tuple) else flats[0]
    return counts, flat


def run_on_jagged(
    client: Any,
    model: str,
    jagged_inputs: Mapping[str, ak.Array | Sequence[ak.Array]],
    *,
    layout: Literal["flatten", "pad"] = "flatten",
    pad_length: int | None = None,
    mask_input: str | None = None,
    outputs: list[str] | None = None,
    dtype: np.dtype | type = np.float32,
) -> dict[str, ak.Array | np.ndarray]:
    """Run ``model`` through ``client`` on jagged inputs; see the module docstring.

    ``pad_length`` defaults to the model's fixed object dim (from its metadata).
    Zero events and events without objects are handled without calling the model
    on empty batches.
    """
    if not jagged_inputs:
        raise ModelInputError(f"model {model!r}: no jagged inputs given")
    flats, counts = {}, None
    for name, value in jagged_inputs.items():
        these, flat = _flat(name, value)
        if counts is not None and not np.array_equal(these, counts):
            raise ModelInputError(
                f"jagged input {name!r} has a different number of events or objects per event "
                "than the other inputs"
            )
        counts, flats[name] = these, flat.astype(dtype, copy=False)
    if layout == "flatten":
        result = client.infer(model, flats, outputs)
        return {n: ak.unflatten(v, counts) for n, v in result.items()}
    if layout != "pad":
        raise ModelInputError(f"layout {layout!r} is not known; choose 'flatten' or 'pad'")
    if pad_length is None:
        meta = client.model_metadata(model)
        shapes = {t["name"]: t["shape"] for t in meta["inputs"]}
        first = next(iter(flats))
        if first not in shapes or len(shapes[first]) < 2 or shapes[first][1] < 1:
            raise ModelInputError(
                f"model {model!r}: cannot read a fixed object dim for {first!r} from its "
                "metadata; pass pad_length"
            )
        pad_length = int(shapes[first][1])
    kept = np.minimum(counts, pad_length)
    event = np.repeat(np.arange(len(counts)), counts)
    local = np.arange(len(event)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = local < pad_length
    feed = {}
    for name, flat in flats.items():
        padded = np.zeros((len(counts), pad_length, *flat.shape[1:]), dtype=dtype)
        padded[event[keep], local[keep]] = flat[keep]
        feed[name] = padded
    if mask_input is not None:
        mask = np.arange(pad_length)[None, :] < kept[:, None]
        feed[mask_input] = mask[:, :, None].astype(dtype)
    result = client.infer(model, feed, outputs)
    out: dict[str, ak.Array | np.ndarray] = {}
    for name, value in result.items():
        if value.ndim >= 2 and value.shape[1] == pad_length:
            # Per-object output: keep each event's real objects only.
            valid = np.arange(pad_length)[None, :] < kept[:, None]
            out[name] = ak.unflatten(value[valid], kept)
        else:
            out[name] = value
    return out
