"""The (N jets × N b) region grid: labels and per-event region assignment."""

from __future__ import annotations

import numpy as np

from analysis.config import RegionGrid


def _bin_label(prefix: str, edges: list[int], i: int) -> str:
    last = i == len(edges) - 1
    return f"{prefix}{edges[i]}{'p' if last else ''}"


def region_labels(grid: RegionGrid) -> list[str]:
    """All region labels, N jets major: ``nj6_nb2, nj6_nb3p, …, nj9p_nb3p``."""
    return [
        f"{_bin_label('nj', grid.n_jets, i)}_{_bin_label('nb', grid.n_b, j)}"
        for i in range(len(grid.n_jets))
        for j in range(len(grid.n_b))
    ]


def bin_index(values: np.ndarray, edges: list[int]) -> np.ndarray:
    """Index of the bin each value falls in (last bin inclusive); -1 below the first edge."""
    return np.digitize(np.asarray(values), edges) - 1


def region_index(n_jets: np.ndarray, n_b: np.ndarray, grid: RegionGrid) -> np.ndarray:
    """Index of each event's region in :func:`region_labels`; the number of regions for
    events outside the grid."""
    ij = bin_index(n_jets, grid.n_jets)
    ib = bin_index(n_b, grid.n_b)
    inside = (ij >= 0) & (ib >= 0)
    return np.where(inside, ij * len(grid.n_b) + ib, len(grid.n_jets) * len(grid.n_b))


def assign_regions(n_jets: np.ndarray, n_b: np.ndarray, grid: RegionGrid) -> np.ndarray:
    """Region label per event (object array of str); ``""`` for events outside the grid."""
    labels = np.array(region_labels(grid) + [""], dtype=object)
    return labels[region_index(n_jets, n_b, grid)]
