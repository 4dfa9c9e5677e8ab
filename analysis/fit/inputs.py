"""The inputs of the statistical model, read from a run's outputs and checked before use.

* simulated samples and data: ``histograms.root`` slices ``<histogram>/<region>/<process>/
  <systematic>`` (the processor's layout); under- and overflow are folded into the edge bins
  (the ABCDnn templates do the same, so the two count the same events);
* the ABCDnn background: the :class:`~analysis.abcdnn.templates.Template` JSON of the
  morph stage.

Simulated bins that are negative only through negative-weight events (compatible with zero
within 3 statistical standard deviations) are set to zero and reported. Everything else
that would make a wrong model silently is refused here with a :class:`FitError`
that names the bad thing: a missing sample, a histogram binned differently from the
template, a NaN or negative bin, a variation that one simulated sample has and another lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import uproot

from analysis.abcdnn.templates import Template
from common.exceptions import FitError

NOMINAL = "nominal"


@dataclass
class SampleHistograms:
    """One simulated sample (or the data) in the fitted channel: per-bin arrays."""

    name: str
    nominal: np.ndarray
    variance: np.ndarray
    variations: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class FitInputs:
    """Everything the model is built from: data, simulated samples, the ABCDnn template."""

    region: str
    edges: np.ndarray
    data: np.ndarray
    samples: dict[str, SampleHistograms]
    background: Template
    clipped: list[dict] = field(default_factory=list)


def _folded(values: np.ndarray) -> np.ndarray:
    """Bin contents with under/overflow (the first and last entries) folded into the edges."""
    inner = np.array(values[1:-1], dtype=np.float64)
    inner[0] += values[0]
    inner[-1] += values[-1]
    return inner


def read_histograms(path: Path, histogram: str, region: str, processes: list[str],
                    data: str) -> tuple[np.ndarray, np.ndarray, dict[str, SampleHistograms]]:
    """Edges, data counts and the simulated samples of one region from ``histograms.root``."""
    path = Path(path)
    if not path.is_file():
        raise FitError(f"histogram file {str(path)!r} not found; run the process stage first")
    samples: dict[str, SampleHistograms] = {}
    with uproot.open(path) as f:
        if histogram not in f or region not in f[histogram]:
            raise FitError(f"{path.name} has no histogram {histogram}/{region}; the fit needs "
                           "the fitted histogram of the signal-region cell (fit.histogram, "
                           "fit.region)")
        folder = f[f"{histogram}/{region}"]
        present = {k.split(";")[0] for k in folder.keys(recursive=False)}
        for process in [data, *processes]:
            if process not in present:
                raise FitError(f"sample {process!r} is missing from {path.name} "
                               f"{histogram}/{region} (present: {sorted(present)})")
        hdata = folder[f"{data}/{NOMINAL}"]
        edges = np.asarray(hdata.axis().edges(), dtype=np.float64)
        counts = _folded(hdata.values(flow=True))
        for process in processes:
            sub = folder[process]
            names = sorted(k.split(";")[0] for k in sub.keys(recursive=False))
            if NOMINAL not in names:
                raise FitError(f"sample {process!r} has no nominal histogram in {path.name}")
            h = sub[NOMINAL]
            samples[process] = SampleHistograms(
                process, _folded(h.values(flow=True)), _folded(h.variances(flow=True)),
                {n: _folded(sub[n].values(flow=True)) for n in names if n != NOMINAL})
    return edges, counts, samples


def _check_bins(what: str, values: np.ndarray, n_bins: int) -> None:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n_bins,):
        raise FitError(f"{what} has {values.size} bins, the fit binning {n_bins}")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise FitError(f"{what} has a non-finite (NaN/inf) content in bin(s) {bad.tolist()}")
    neg = np.flatnonzero(values < 0)
    if neg.size:
        raise FitError(f"{what} has negative content {values[neg].tolist()} in bin(s) "
                       f"{neg.tolist()}; a Poisson model needs non-negative yields")


def check_inputs(inputs: FitInputs, signal: str, minor: list[str]) -> None:
    """Refuse inputs that cannot make a correct model; the message names the bad thing."""
    n = len(inputs.edges) - 1
    template = inputs.background
    same = (len(template.edges) == len(inputs.edges)
            and np.allclose(template.edges, inputs.edges, rtol=0, atol=1e-9))
    if not same:
        raise FitError(
            f"the histograms of region {inputs.region} are binned {inputs.edges.tolist()}, the "
            f"ABCDnn template {template.edges}; fill the fitted histogram with abcdnn.fit_bins "
            "(rerun the process stage) or rerun the morph stage")
    if template.region != inputs.region:
        raise FitError(f"the ABCDnn template is for region {template.region!r}, the fit is "
                       f"in {inputs.region!r} (fit.region)")
    for name in (signal, *minor):
        if name not in inputs.samples:
            raise FitError(f"sample {name!r} is missing from the fit inputs "
                           f"(have {sorted(inputs.samples)})")
    _check_bins(f"data in {inputs.region}", inputs.data, n)
    for name in ("nominal", "stat_unc", "ensemble_up", "ensemble_down", "nonclosure_up",
                 "nonclosure_down", "extrapolation_up", "extrapolation_down"):
        values = getattr(template, name)
        if name.startswith(("nonclosure", "extrapolation")) and not values:
            continue  # a template without that variation (allowed; not in the model)
        _check_bins(f"ABCDnn template {name}", values, n)
    if not np.sum(template.nominal) > 0:
        raise FitError("the ABCDnn template has no positive yield; check the morph stage")
    nc = template.normalization_nonclosure
    if not (np.isfinite(nc) and 0.0 <= nc < 1.0):
        raise FitError(f"the ABCDnn template's normalization non-closure {nc} is not a "
                       "relative uncertainty in [0, 1); rerun the morph stage")
    reference: set[str] | None = None
    for name in (signal, *minor):
        s = inputs.samples[name]
        _check_bins(f"sample {name!r} nominal", s.nominal, n)
        _check_bins(f"sample {name!r} variance", s.variance, n)
        for var, values in s.variations.items():
            _check_bins(f"sample {name!r} variation {var!r}", values, n)
        names = set(s.variations)
        if reference is None:
            reference, first = names, name
        elif names != reference:
            extra, lacking = sorted(names - reference), sorted(reference - names)
            raise FitError(
                f"systematic variations differ between samples: {name!r} has {extra} that "
                f"{first!r} lacks and lacks {lacking}; every simulated sample must carry the "
                "same variations (rerun the process stage with systematics for all of them)")


#: A negative simulated bin within this many statistical standard deviations of zero comes
#: from negative-weight events (NLO generators) and is set to zero; a larger one is refused.
NEGATIVE_TOLERANCE_SIGMA = 3.0


def clip_negative_bins(inputs: FitInputs) -> list[dict]:
    """Set simulated bins that are negative but compatible with zero to zero (nominal and
    variations; the scale is the nominal bin's statistical uncertainty); return what was
    clipped. Larger negative bins are left for :func:`check_inputs` to refuse."""
    clipped = []
    for s in inputs.samples.values():
        sigma = np.sqrt(np.clip(s.variance, 0.0, None))
        for what, values in (("nominal", s.nominal), *s.variations.items()):
            small = (values < 0) & (values >= -NEGATIVE_TOLERANCE_SIGMA * sigma)
            for b in np.flatnonzero(small):
                clipped.append({"sample": s.name, "histogram": what, "bin": int(b),
                                "value": float(values[b])})
            values[small] = 0.0
    return clipped


def load_inputs(histograms_path: Path, template_path: Path, histogram: str, region: str,
                signal: str, minor: list[str], data: str) -> FitInputs:
    """Read and check the fit inputs from a run's files."""
    template_path = Path(template_path)
    if not template_path.is_file():
        raise FitError(f"ABCDnn template {str(template_path)!r} not found; run the morph "
                       "stage first (python run_analysis.py morph OUTPUT)")
    try:
        template = Template.from_json(template_path)
    except (TypeError, ValueError) as err:
        raise FitError(f"ABCDnn template {str(template_path)!r} is not a valid template: "
                       f"{err}") from err
    edges, counts, samples = read_histograms(histograms_path, histogram, region,
                                             [signal, *minor], data)
    inputs = FitInputs(region, edges, counts, samples, template)
    inputs.clipped = clip_negative_bins(inputs)
    check_inputs(inputs, signal, minor)
    return inputs
