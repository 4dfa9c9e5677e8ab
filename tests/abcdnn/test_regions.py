"""The 3x2 grids: cell assignment, labels, ABCD letters and condition encodings."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.abcdnn.regions import assign_cells, cell_label, cell_letter, encode_conditions
from analysis.abcdnn.settings import ABCDnnSettings


def test_validation_grid_cells_and_labels() -> None:
    grid = ABCDnnSettings().validation_grid
    cells = assign_cells(np.array([6, 7, 8, 9, 5, 8]), np.array([2, 3, 5, 3, 2, 1]), grid)
    # 9 jets is outside the validation grid (its last bin is exactly 8); n_b = 1 too.
    assert cells.tolist() == [[0, 0], [1, 1], [2, 1], [-1, -1], [-1, -1], [-1, -1]]
    assert cell_label((2, 1), grid) == "nj8_nb3p"
    assert cell_label((0, 0), grid) == "nj6_nb2"


def test_signal_grid_last_jet_bin_is_inclusive() -> None:
    grid = ABCDnnSettings().signal_grid
    cells = assign_cells(np.array([7, 8, 9, 12, 6]), np.array([2, 2, 3, 4, 3]), grid)
    assert cells.tolist() == [[0, 0], [1, 0], [2, 1], [2, 1], [-1, -1]]
    assert cell_label((2, 1), grid) == "nj9p_nb3p"


def test_letters_match_extended_abcd_layout() -> None:
    # D is the target corner; B shares its N jets bin; C its N b bin; X, Y the far column.
    assert cell_letter((2, 1)) == "D"
    assert cell_letter((2, 0)) == "B"
    assert cell_letter((1, 1)) == "C"
    assert cell_letter((1, 0)) == "A"
    assert cell_letter((0, 0)) == "X"
    assert cell_letter((0, 1)) == "Y"


def test_factorized_encoding_is_two_one_hot_blocks() -> None:
    c = encode_conditions(np.array([[0, 0], [2, 1]]), "factorized")
    assert c.tolist() == [[1, 0, 0, 1, 0], [0, 0, 1, 0, 1]]


def test_joint_encoding_gives_the_target_its_own_unseen_column() -> None:
    cells = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]])
    c = encode_conditions(cells, "joint")
    assert np.array_equal(c, np.eye(6))
    assert encode_conditions(cells, "none").shape == (6, 0)


def test_cells_outside_grid_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="outside the grid"):
        encode_conditions(np.array([[-1, -1]]))
