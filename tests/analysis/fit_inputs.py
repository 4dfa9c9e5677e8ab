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


def make_inputs(data: np.ndarray | None = None, scale: float = 1.0,
                signal_scale: float = 1.0) -> FitInputs:
    """Fit inputs; ``data`` defaults to the expectation at μ = 1. ``scale`` multiplies every
    yield (×10 gives the hundreds of events per bin of the analysis' signal region),
    ``signal_scale`` the signal's in addition (the default signal is half the background in
    the last bin; the analysis' signal region has s/b ~ 1e-3)."""
    background, signal = BACKGROUND * scale, SIGNAL * scale * signal_scale
    samples = {"tttt": sample("tttt", signal)}
    samples |= {name: sample(name, background * f) for name, f in MINOR.items()}
    if data is None:
        data = background * (1 + sum(MINOR.values())) + signal
    return FitInputs(REGION, EDGES.copy(), np.asarray(data, dtype=np.float64), samples,
                     template(background))


def settings(**update) -> FitSettings:
    """Fit settings for the small inputs (ranking off unless asked: it is the slow part)."""
    return FitSettings(**{"ranking": False, "scan_points": 5, **update})


def write_run(folder, inputs: FitInputs | None = None, entries: int = 100):
    """A run folder as the process and morph stages leave it: ``process/histograms.root``
    (the inputs' histograms, ``entries`` equal-weight entries per bin) and the ABCDnn
    template ``abcdnn/templates/signal_<region>.json``."""
    import hist

    from workflows.outputs import write_histograms_root

    inputs = inputs or make_inputs()
    h = hist.Hist(hist.axis.StrCategory([inputs.region], name="region"),
                  hist.axis.StrCategory([], name="process", growth=True),
                  hist.axis.StrCategory([], name="systematic", growth=True),
                  hist.axis.Variable(inputs.edges, name="dnn_score"),
                  storage=hist.storage.Weight())
    centers = np.repeat(0.5 * (inputs.edges[1:] + inputs.edges[:-1]), entries)

    def fill(process: str, systematic: str, values: np.ndarray) -> None:
        h.fill(region=inputs.region, process=process, systematic=systematic,
               dnn_score=centers, weight=np.repeat(values / entries, entries))

    fill("data", "nominal", inputs.data)
    for name, s in inputs.samples.items():
        fill(name, "nominal", s.nominal)
        for var, values in s.variations.items():
            fill(name, var, values)
    (folder / "process").mkdir(parents=True, exist_ok=True)
    write_histograms_root({"dnn_score": h}, folder / "process" / "histograms.root")
    inputs.background.to_json(folder / "abcdnn" / "templates" /
                              f"signal_{inputs.region}.json")
    return folder
