"""Histogram fills of many systematic variations from one bin index per event.

The weight variations of one jet variation share the events and so the bins: the flat bin
index (region × variable, flow bins included) is computed once, and every weight variation
is summed onto it with ``numpy.bincount`` (sum of weights and of squared weights, as
``hist``'s Weight storage accumulates them, event after event in the same order). At the end
of the chunk the sums become the same ``hist.Hist`` objects the processor always returned:
region × process × systematic × variable, the growing categories in the order of their
first filled entry (a fill without events adds no category, as ``Hist.fill`` does).
"""

from __future__ import annotations

import hist
import numpy as np

from analysis.config import HistogramDef


class VariationFills:
    """One chunk's sums per (histogram, systematic) for one process."""

    def __init__(self, regions: list[str], histograms: dict[str, HistogramDef], process: str):
        self._regions = regions
        self._axes = {name: h.axis() for name, h in histograms.items()}
        self._process = process
        # name -> systematic -> (sum of weights, sum of squared weights), flow bins included
        self._sums: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {
            name: {} for name in [*histograms, None]}

    def _flow_bins(self, name: str | None) -> int:
        """Bins of the variable axis with under- and overflow (1 for the yields)."""
        return 1 if name is None else self._axes[name].size + 2

    def bin_index(self, name: str | None, region: np.ndarray,
                  values: np.ndarray | None = None) -> np.ndarray:
        """Flat bin per event of histogram ``name`` (``None``: the yields, region only).

        ``region``: index in the region labels, ``len(labels)`` for events outside the grid
        (the region axis' overflow, where ``Hist.fill`` puts an unknown label).
        """
        if name is None:
            return np.asarray(region, dtype=np.int64)
        # the axis' own lookup: the same bin, under/overflow and NaN handling as its fill
        column = self._axes[name].index(np.asarray(values, dtype=np.float64)) + 1
        return region * self._flow_bins(name) + column

    def add(self, name: str | None, systematic: str, index: np.ndarray,
            weight: np.ndarray) -> None:
        """Add the events of ``index`` with ``weight`` to histogram ``name``, ``systematic``."""
        if len(index) == 0:
            return
        size = (len(self._regions) + 1) * self._flow_bins(name)
        sumw = np.bincount(index, weights=weight, minlength=size)
        sumw2 = np.bincount(index, weights=weight * weight, minlength=size)
        sums = self._sums[name]
        if systematic in sums:
            sums[systematic] = (sums[systematic][0] + sumw, sums[systematic][1] + sumw2)
        else:
            sums[systematic] = (sumw, sumw2)

    def _hist(self, name: str | None) -> hist.Hist:
        sums = self._sums[name]
        variable = () if name is None else (self._axes[name],)
        h = hist.Hist(
            hist.axis.StrCategory(self._regions, name="region"),
            hist.axis.StrCategory([self._process] if sums else [], name="process", growth=True),
            hist.axis.StrCategory(list(sums), name="systematic", growth=True),
            *variable,
            storage=hist.storage.Weight(),
        )
        view = h.view(flow=True)
        for i, (sumw, sumw2) in enumerate(sums.values()):
            shape = view.value[:, 0, i].shape
            view.value[:, 0, i] = sumw.reshape(shape)
            view.variance[:, 0, i] = sumw2.reshape(shape)
        return h

    def histograms(self) -> dict[str, hist.Hist]:
        """Every configured histogram, region × process × systematic × variable."""
        return {name: self._hist(name) for name in self._axes}

    def yields(self) -> hist.Hist:
        """Weighted events per region × process × systematic."""
        return self._hist(None)
