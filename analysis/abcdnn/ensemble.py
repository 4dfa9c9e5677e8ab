"""An ensemble of ABCDnn maps for one grid (seeds and optional Poisson bootstrap).

The spread of the members' predictions is the training uncertainty of the template.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.abcdnn.flow import MonotoneFlow
from analysis.abcdnn.inputs import GridData
from analysis.abcdnn.normalization import ABCDEstimate, extended_abcd, signed_yield
from analysis.abcdnn.regions import CONTROL_CELLS, cell_letter
from analysis.abcdnn.settings import ABCDnnSettings
from analysis.abcdnn.training import TrainingResult, morph, train_map

#: Seeds of members are spread out so that neighbouring members share no random stream.
_SEED_STRIDE = 7919


@dataclass
class GridEnsemble:
    """Trained members for one grid plus the grid's inputs and extended-ABCD estimate."""

    data: GridData
    settings: ABCDnnSettings
    members: list[TrainingResult]
    abcd: ABCDEstimate

    @property
    def flows(self) -> list[MonotoneFlow]:
        """The members' flows."""
        return [m.flow for m in self.members]

    def morph_cell(self, cell: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(DNN score, HT) of the simulated events of ``cell`` after each member's map."""
        mask = self.data.mc.in_cell(cell)
        out = []
        for flow in self.flows:
            y = morph(flow, self.data.mc.x[mask], self.data.mc.cells[mask], self.settings.encoding)
            out.append(self.data.standardizer.backward(y))
        return out


def abcd_estimate(data: GridData) -> ABCDEstimate:
    """Extended-ABCD prediction of the target cell from the data-minus-simulation yields."""
    yields = {}
    for cell in CONTROL_CELLS:
        mask = data.target.in_cell(cell)
        yields[cell_letter(cell)] = signed_yield(data.target.weight[mask])
    return extended_abcd(yields)


def train_ensemble(
    data: GridData, settings: ABCDnnSettings, *, seed_offset: int = 0
) -> GridEnsemble:
    """Train ``settings.ensemble_size`` maps with seeds ``seed + seed_offset + k*stride``."""
    members = [
        train_map(data, settings, settings.seed + seed_offset + k * _SEED_STRIDE,
                  bootstrap=settings.bootstrap)
        for k in range(settings.ensemble_size)
    ]
    return GridEnsemble(data=data, settings=settings, members=members, abcd=abcd_estimate(data))
