"""Fixed-width jet arrays: the resolved top tagger's contract between training and use.

The trijet features of :mod:`analysis.trijets` and the event-DNN inputs are computed on
pT-ordered jets padded with zeros (or clipped) to a fixed number per event. The processor
and the training both build them here, so the shipped models see one layout.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

#: (key in the padded dict, jet field); ``btag`` is the configured b-tag discriminant.
PADDED_FIELDS = ("pt", "eta", "phi", "mass", "btag")


def pt_ordered(jets: ak.Array) -> ak.Array:
    """Jets of each event sorted by descending pT (stable for equal pT)."""
    return jets[ak.argsort(jets.pt, axis=1, ascending=False)]


def padded_jets(
    jets: ak.Array, width: int, btag_field: str = "btagDeepFlavB"
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Jets in their given order (pass :func:`pt_ordered` jets) as (n_events, width) arrays.

    Returns float64 arrays ``pt``, ``eta``, ``phi``, ``mass``, ``btag`` (from ``btag_field``),
    zero beyond each event's jets and clipped at ``width``, and the jets per event (int64,
    not clipped).
    """
    out = {}
    for key in PADDED_FIELDS:
        values = jets[btag_field if key == "btag" else key]
        padded = ak.fill_none(ak.pad_none(values, width, axis=1, clip=True), 0.0)
        out[key] = ak.to_numpy(padded).astype(np.float64).reshape(len(jets), width)
    return out, ak.to_numpy(ak.num(jets.pt)).astype(np.int64)
