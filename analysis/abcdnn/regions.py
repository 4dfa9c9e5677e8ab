"""The 3x2 (N jets, N b) grid: cell assignment, labels, ABCD letters and condition encodings.

Cell letters (extended ABCD of Choi & Oh, arXiv:1906.10831), columns = N jets bins
(low → high), rows = N b bins::

                 N jets bin 0   N jets bin 1   N jets bin 2
    N b bin 1        Y              C              D   (target)
    N b bin 0        X              A              B

so that ``N_D = N_B * N_X * N_C**2 / (N_A**2 * N_Y)`` (the N b ratio is allowed to vary
log-linearly with N jets). For the validation grid X = (6, 2), A = (7, 2), B = (8, 2),
Y = (6, ≥3), C = (7, ≥3), D = (8, ≥3).
"""

from __future__ import annotations

import numpy as np

from analysis.abcdnn.settings import GridSpec

#: (N jets bin, N b bin) of each letter.
LETTERS: dict[str, tuple[int, int]] = {
    "X": (0, 0),
    "A": (1, 0),
    "B": (2, 0),
    "Y": (0, 1),
    "C": (1, 1),
    "D": (2, 1),
}
TARGET: tuple[int, int] = LETTERS["D"]
CONTROL_CELLS: list[tuple[int, int]] = [cell for cell in LETTERS.values() if cell != TARGET]
ALL_CELLS: list[tuple[int, int]] = list(LETTERS.values())


def _bin_index(values: np.ndarray, edges: list[int], last_open: bool) -> np.ndarray:
    """Index of the multiplicity bin of each value; -1 outside the grid."""
    values = np.asarray(values)
    index = np.full(values.shape, -1, dtype=np.int64)
    for i, lo in enumerate(edges):
        if i == len(edges) - 1 and last_open:
            index[values >= lo] = i
        else:
            index[values == lo] = i
    return index


def assign_cells(n_jets: np.ndarray, n_b: np.ndarray, grid: GridSpec) -> np.ndarray:
    """Return an ``(n, 2)`` int array of (N jets bin, N b bin); rows outside the grid are -1."""
    j = _bin_index(n_jets, grid.n_jets, grid.n_jets_open)
    b = _bin_index(n_b, grid.n_b, grid.n_b_open)
    outside = (j < 0) | (b < 0)
    j[outside] = -1
    b[outside] = -1
    return np.stack([j, b], axis=1)


def cell_label(cell: tuple[int, int], grid: GridSpec) -> str:
    """Region label of a cell in the analysis convention, e.g. ``nj9p_nb3p``."""
    j, b = cell
    nj = f"nj{grid.n_jets[j]}" + ("p" if grid.n_jets_open and j == len(grid.n_jets) - 1 else "")
    nb = f"nb{grid.n_b[b]}" + ("p" if grid.n_b_open and b == len(grid.n_b) - 1 else "")
    return f"{nj}_{nb}"


def cell_letter(cell: tuple[int, int]) -> str:
    """Extended-ABCD letter of a cell (see the module docstring)."""
    for letter, value in LETTERS.items():
        if value == tuple(cell):
            return letter
    raise KeyError(f"cell {cell} is not in the 3x2 grid")


_CONDITION_DIMS = {"factorized": 5, "joint": 6, "none": 0}


def condition_dim(encoding: str) -> int:
    """Length of the condition vector: 3 + 2 factorized, 6 joint, 0 none."""
    if encoding not in _CONDITION_DIMS:
        raise ValueError(f"unknown condition encoding {encoding!r}; use one of "
                         f"{sorted(_CONDITION_DIMS)}")
    return _CONDITION_DIMS[encoding]


def encode_conditions(cells: np.ndarray, encoding: str = "factorized") -> np.ndarray:
    """One-hot conditions for ``(n, 2)`` cells.

    ``factorized``: one-hot N jets block (3) followed by one-hot N b block (2); a cell never
    seen in training still has both blocks seen, which is what lets the map extrapolate.
    ``joint``: one-hot over the six cells; ``none``: no conditions (both kept only to show
    that they cannot extrapolate).
    """
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    if np.any(cells < 0):
        raise ValueError("cannot encode events outside the grid (cell index -1)")
    out = np.zeros((len(cells), condition_dim(encoding)), dtype=np.float32)
    rows = np.arange(len(cells))
    if encoding == "factorized":
        out[rows, cells[:, 0]] = 1.0
        out[rows, 3 + cells[:, 1]] = 1.0
    elif encoding == "joint":
        out[rows, cells[:, 1] * 3 + cells[:, 0]] = 1.0
    return out
