"""Collections (jets, leptons) as flat numpy arrays plus the number per event.

The processor's fast path: a jet variation changes only pT and mass, so the selection,
ordering, counts and sums needed per variation are redone here on flat arrays instead of
through the NanoEvents collection (whose behaviours and jagged broadcasting cost far more
than the arithmetic). Per-event sums and products run over the objects in their order, one
position after the other, so they add and multiply in the order awkward's reducers do and
give the same numbers, bit for bit, as ``ak.sum``/``ak.prod`` on the jagged arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

import awkward as ak
import numpy as np

from common.exceptions import FourTopsError


class FlatCollection:
    """Objects of each event: ``counts`` per event and flat per-object arrays in ``fields``."""

    def __init__(self, counts: np.ndarray, fields: dict[str, np.ndarray]):
        self.counts = np.asarray(counts, dtype=np.int64)
        self.fields = fields
        n_jets = int(self.counts.sum())
        for name, values in fields.items():
            if len(values) != n_jets:
                raise FourTopsError(f"jet field {name!r} has {len(values)} values for "
                                    f"{n_jets} jets: build FlatCollection from one jet collection")

    @cached_property
    def _event(self) -> np.ndarray:
        """The event of each jet."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    @cached_property
    def _local(self) -> np.ndarray:
        """The index of each jet in its event."""
        starts = np.cumsum(self.counts) - self.counts
        return np.arange(len(self._event)) - starts[self._event]

    @classmethod
    def from_awkward(cls, jets: ak.Array, names: Iterable[str]) -> FlatCollection:
        """The fields ``names`` of jagged ``jets`` (dtypes kept)."""
        counts = ak.to_numpy(ak.num(jets, axis=1))
        flat = {n: np.asarray(ak.to_numpy(ak.flatten(jets[n], axis=1))) for n in names}
        return cls(counts, flat)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def __len__(self) -> int:
        return len(self.counts)

    def replace(self, **values: np.ndarray) -> FlatCollection:
        """The same jets with some fields replaced (e.g. a jet variation's pt and mass)."""
        return self._same_jets({**self.fields, **values})

    def _same_jets(self, fields: dict[str, np.ndarray]) -> FlatCollection:
        out = FlatCollection(self.counts, fields)
        out.__dict__.update({k: self.__dict__[k] for k in ("_event", "_local", "_by_position")
                             if k in self.__dict__})  # the same jets per event
        return out

    def select(self, jet_mask: np.ndarray) -> FlatCollection:
        """The jets where ``jet_mask`` (one bool per jet) is true, order kept."""
        counts = np.bincount(self._event[jet_mask], minlength=len(self.counts))
        return FlatCollection(counts, {k: v[jet_mask] for k, v in self.fields.items()})

    def events(self, event_mask: np.ndarray) -> FlatCollection:
        """The events where ``event_mask`` (one bool per event) is true."""
        return self.select(event_mask[self._event])._only(event_mask)

    def _only(self, event_mask: np.ndarray) -> FlatCollection:
        return FlatCollection(self.counts[event_mask], self.fields)

    def pt_ordered(self) -> FlatCollection:
        """Jets of each event by descending pT, equal pT in their given order (as
        ``ak.argsort(pt, ascending=False)``, which is stable)."""
        pt = self.fields["pt"]
        if pt.dtype == np.float32 and (pt > 0).all():
            # one sort of (event, descending pT) packed in a uint64: the bits of a positive
            # float32 order like its value, so the key orders exactly as (event, -pt)
            bits = pt.view(np.uint32).astype(np.uint64)
            key = (self._event.astype(np.uint64) << np.uint64(32)) | (np.uint64(0xFFFFFFFF) - bits)
            order = np.argsort(key, kind="stable")
        else:
            order = np.lexsort((-pt, self._event))
        return self._same_jets({k: v[order] for k, v in self.fields.items()})

    def padded(self, name: str, width: int | None = None, fill: float = 0.0) -> np.ndarray:
        """(events, width) array of one field, ``fill`` beyond each event's jets; ``width``
        defaults to the most jets of any event, more jets are clipped."""
        values = self.fields[name]
        width = int(self.counts.max(initial=0)) if width is None else width
        out = np.full((len(self.counts), width), fill, dtype=values.dtype)
        keep = self._local < width
        out[self._event[keep], self._local[keep]] = values[keep]
        return out

    def event_count(self, jet_mask: np.ndarray) -> np.ndarray:
        """Per-event number of jets where ``jet_mask`` is true (int64)."""
        return np.bincount(self._event[jet_mask], minlength=len(self.counts))

    def event_sum(self, values: np.ndarray) -> np.ndarray:
        """Per-event sum of per-jet ``values`` (0 without jets), in the values' dtype."""
        return self._reduce(values, 0, "sum")

    def event_prod(self, values: np.ndarray) -> np.ndarray:
        """Per-event product of per-jet ``values`` (1 without jets), in the values' dtype."""
        return self._reduce(values, 1, "prod")

    @cached_property
    def _by_position(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each position k in an event: the events with more than k jets and the index
        of their k-th jet."""
        starts = np.cumsum(self.counts) - self.counts
        events = [np.flatnonzero(self.counts > k) for k in range(int(self.counts.max(initial=0)))]
        return [(e, starts[e] + k) for k, e in enumerate(events)]

    def _reduce(self, values: np.ndarray, identity: float, op: str) -> np.ndarray:
        # Position after position, from the identity: each event's jets are combined left
        # to right, the order (and so the rounding) of awkward's reducers, in the values'
        # dtype. ``np.add.reduceat`` would sum pairwise, and padding to a dense array first
        # cost more than the arithmetic.
        if len(values) != len(self._event):
            raise FourTopsError(f"{len(values)} per-jet values for {len(self._event)} jets")
        combine = np.add if op == "sum" else np.multiply
        out = np.full(len(self.counts), identity, dtype=values.dtype)
        for events, jets in self._by_position:
            out[events] = combine(out[events], values[jets])
        return out
