"""Jets as flat numpy arrays plus the number per event: the processor's fast jet path.

A jet variation changes only pT and mass, so the selection, ordering, counts and sums the
processor needs per variation are redone here on flat arrays instead of through the
NanoEvents jet collection (whose behaviours and jagged broadcasting cost far more than the
arithmetic). Per-event sums and products run over the jets in their order, one jet
position after the other, so they add and multiply in the order awkward's reducers do and
give the same numbers, bit for bit, as ``ak.sum``/``ak.prod`` on the jagged jets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from common.exceptions import FourTopsError


@dataclass(frozen=True)
class FlatJets:
    """Jets of each event: ``counts`` per event and flat per-jet arrays in ``fields``."""

    counts: np.ndarray
    fields: dict[str, np.ndarray]
    _event: np.ndarray = field(init=False, repr=False, compare=False)  # event of each jet
    _local: np.ndarray = field(init=False, repr=False, compare=False)  # index in its event

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        n_jets = int(counts.sum())
        for name, values in self.fields.items():
            if len(values) != n_jets:
                raise FourTopsError(f"jet field {name!r} has {len(values)} values for "
                                    f"{n_jets} jets: build FlatJets from one jet collection")
        event = np.repeat(np.arange(len(counts)), counts)
        starts = np.cumsum(counts) - counts
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "_event", event)
        object.__setattr__(self, "_local", np.arange(n_jets) - starts[event])

    @classmethod
    def from_awkward(cls, jets: ak.Array, names: Iterable[str]) -> FlatJets:
        """The fields ``names`` of jagged ``jets`` (dtypes kept)."""
        counts = ak.to_numpy(ak.num(jets, axis=1))
        flat = {n: np.asarray(ak.to_numpy(ak.flatten(jets[n], axis=1))) for n in names}
        return cls(counts, flat)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def __len__(self) -> int:
        return len(self.counts)

    def replace(self, **values: np.ndarray) -> FlatJets:
        """The same jets with some fields replaced (e.g. a jet variation's pt and mass)."""
        return FlatJets(self.counts, {**self.fields, **values})

    def select(self, jet_mask: np.ndarray) -> FlatJets:
        """The jets where ``jet_mask`` (one bool per jet) is true, order kept."""
        counts = np.bincount(self._event[jet_mask], minlength=len(self.counts))
        return FlatJets(counts, {k: v[jet_mask] for k, v in self.fields.items()})

    def events(self, event_mask: np.ndarray) -> FlatJets:
        """The events where ``event_mask`` (one bool per event) is true."""
        return self.select(event_mask[self._event])._only(event_mask)

    def _only(self, event_mask: np.ndarray) -> FlatJets:
        return FlatJets(self.counts[event_mask], self.fields)

    def pt_ordered(self) -> FlatJets:
        """Jets of each event by descending pT, equal pT in their given order (as
        ``ak.argsort(pt, ascending=False)``, which is stable)."""
        order = np.lexsort((-self.fields["pt"], self._event))
        return FlatJets(self.counts, {k: v[order] for k, v in self.fields.items()})

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
        return self._reduce(values, 0, np.add)

    def event_prod(self, values: np.ndarray) -> np.ndarray:
        """Per-event product of per-jet ``values`` (1 without jets), in the values' dtype."""
        return self._reduce(values, 1, np.multiply)

    def _reduce(self, values: np.ndarray, identity: float, op: np.ufunc) -> np.ndarray:
        # jet by jet, left to right: the order (and so the rounding) of awkward's reducers;
        # adding 0 or multiplying by 1 beyond an event's jets leaves its result unchanged
        dense = FlatJets(self.counts, {"v": np.asarray(values)}).padded("v", fill=identity)
        acc = np.full(len(self.counts), identity, dtype=dense.dtype)
        for column in dense.T:
            op(acc, column, out=acc)
        return acc
