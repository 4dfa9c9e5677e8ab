"""Small hand-built fit inputs: a five-bin signal region with a falling background and a
rising signal, the ABCDnn template and three minor backgrounds with two variations."""

from __future__ import annotations

import numpy as np

from analysis.abcdnn.templates import Template
from analysis.fit.inputs import FitInputs, SampleHistograms
from analysis.fit.settings import FitSettings

REGION = "nj9p_nb3p"
EDGES = np.linspace(0.0, 1.0, 6)
BACKGROUND = np.array([400.0, 200.0, 100.0, 40.0, 15.0])
SIGNAL = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
MINOR = {"ttW": 0.05, "ttZ": 0.04, "ttH": 0.03}  # fraction of the background per bin
TILT = np.linspace(0.95, 1.05, 5)


def sample(name: str, nominal: np.ndarray) -> SampleHistograms:
    """A simulated sample with a two-sided JES (+5 %/-4 % yield) and a one-sided ISR tilt."""
    return SampleHistograms(name, nominal.copy(), nominal * 0.01,
                            {"JES_Total_up": nominal * 1.05, "JES_Total_down": nominal * 0.96,
                             "ISR_up": nominal * TILT})


def template(background: np.ndarray = BACKGROUND) -> Template:
    """The ABCDnn template: 2 % statistics, ±3 % ensemble, a ±5 % tilted non-closure."""
    b = background
    return Template(
        region=REGION, variable="dnn_score", edges=EDGES.tolist(), nominal=b.tolist(),
        stat_unc=(0.02 * b).tolist(), ensemble_up=(1.03 * b).tolist(),
        ensemble_down=(0.97 * b).tolist(), members=[b.tolist(), b.tolist()],
        normalization={"value": float(b.sum()), "uncertainty": float(0.05 * b.sum())},
        nonclosure_up=(b * TILT[::-1]).tolist(), nonclosure_down=(b * TILT).tolist())


def make_inputs(data: np.ndarray | None = None) -> FitInputs:
    """Fit inputs; ``data`` defaults to the expectation at μ = 1 (rounded, Asimov-like)."""
    samples = {"tttt": sample("tttt", SIGNAL)}
    samples |= {name: sample(name, BACKGROUND * f) for name, f in MINOR.items()}
    if data is None:
        data = BACKGROUND * (1 + sum(MINOR.values())) + SIGNAL
    return FitInputs(REGION, EDGES.copy(), np.asarray(data, dtype=np.float64), samples,
                     template())


def settings(**update) -> FitSettings:
    """Fit settings for the small inputs (ranking off unless asked: it is the slow part)."""
    return FitSettings(**{"ranking": False, "scan_points": 5, **update})
