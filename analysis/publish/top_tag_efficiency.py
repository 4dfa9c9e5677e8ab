"""Top-tagger efficiency and mistag rates versus candidate pT × |η| per generator origin.

For the two top taggers of the analysis, on the preselected events of simulation (nominal
only): every candidate the tagger scores (AK8 jets above the boosted tagger's pT and |η|
cuts; trijets of the leading AK4 jets, within the mass pre-filter where one is set) is
counted by its origin (:mod:`analysis.publish.top_origin`), and as tagged when its score
exceeds the score the analysis counts a top with (``ml.features.boosted_threshold`` and
``resolved_threshold``). The sums are weighted with the event weight; the efficiency of
the genuine tops and the mistag rates of the other origins and their statistical
uncertainties come from :func:`analysis.publish.efficiency.efficiency_and_error` (the
b-tag tables' convention: binomial for unit weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import hist
import numpy as np
import uproot

from analysis.publish.efficiency import efficiency_and_error
from analysis.publish.top_origin import (
    FATJET_ORIGINS,
    GENUINE,
    TRIJET_ORIGINS,
    fatjet_origin,
    trijet_origin,
)
from analysis.top_truth import hadronic_top_decays
from common.exceptions import InputFileError

#: per tagger: (origins, candidate pT edges in GeV, |η| edges); the last bins hold the overflow
BINNING: dict[str, tuple[dict[int, str], tuple[float, ...], tuple[float, ...]]] = {
    "boosted": (FATJET_ORIGINS, (300.0, 400.0, 500.0, 700.0, 3000.0), (0.0, 0.8, 1.6, 2.4)),
    "resolved": (TRIJET_ORIGINS, (0.0, 100.0, 200.0, 300.0, 450.0, 3000.0),
                 (0.0, 0.8, 1.6, 2.4, 10.0)),
}
#: what a candidate is, per tagger (for table and correction descriptions)
CANDIDATES = {"boosted": "AK8 jets", "resolved": "trijets"}
TAGGERS = {"boosted": "Boosted top tagger (graph network on the AK8 jet constituents; "
                      "AK8 jets above its pT and |eta| cuts)",
           "resolved": "Resolved top tagger (boosted decision trees on trijets of the "
                       "leading AK4 jets)"}
ROOT_DIR = "top_tag_efficiency"


def empty_hist(tagger: str) -> hist.Hist:
    """process × origin × pT × |η| × tagged of one tagger, weighted storage."""
    origins, pt_edges, eta_edges = BINNING[tagger]
    return hist.Hist(
        hist.axis.StrCategory([], name="process", growth=True),
        hist.axis.IntCategory(list(origins), name="origin"),
        hist.axis.Variable(pt_edges, name="pt", label="candidate $p_T$ [GeV]"),
        hist.axis.Variable(eta_edges, name="abs_eta", label="candidate $|\\eta|$"),
        hist.axis.Boolean(name="tagged"),
        storage=hist.storage.Weight(),
    )


def empty_hists() -> dict[str, hist.Hist]:
    """One :func:`empty_hist` per tagger."""
    return {tagger: empty_hist(tagger) for tagger in BINNING}


def _inside(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Values above the last edge into the last bin (a table user reads that value there)."""
    return np.where(values >= edges[-1], np.nextafter(edges[-1], 0.0), values)


def fill(h: hist.Hist, tagger: str, process: str, pt: ak.Array, eta: ak.Array,
         origin: ak.Array, tagged: ak.Array, event_weight: np.ndarray) -> hist.Hist:
    """Add the candidates (jagged per event: pt, eta, origin code, tagged) of the events,
    each with its event's weight, to ``h`` (a :func:`empty_hist` of ``tagger``)."""
    _, pt_edges, eta_edges = BINNING[tagger]
    counts = ak.to_numpy(ak.num(pt, axis=1))
    h.fill(process=process,
           origin=ak.to_numpy(ak.flatten(origin)).astype(np.int64),
           pt=_inside(ak.to_numpy(ak.flatten(pt)).astype(np.float64), pt_edges),
           abs_eta=_inside(np.abs(ak.to_numpy(ak.flatten(eta)).astype(np.float64)), eta_edges),
           tagged=ak.to_numpy(ak.flatten(tagged)).astype(bool),
           weight=np.repeat(np.asarray(event_weight, np.float64), counts))
    return h


@dataclass(frozen=True)
class TopTagMap:
    """Tagging rate of one origin of one tagger in one process: (pT bins, |η| bins) arrays."""

    tagger: str
    process: str
    origin: str
    threshold: float
    pt_edges: np.ndarray
    abs_eta_edges: np.ndarray
    efficiency: np.ndarray
    uncertainty: np.ndarray
    candidates: np.ndarray  # weight sum of all candidates in the bin

    @property
    def genuine(self) -> bool:
        """True for the genuine-top origin (an efficiency), False for a mistag rate."""
        return self.origin == BINNING[self.tagger][0][GENUINE[self.tagger]]


def top_tag_maps(hists: dict[str, hist.Hist], thresholds: dict[str, float]) -> list[TopTagMap]:
    """One map per (tagger, process, origin) with candidates in it; ``thresholds``: the
    score each tagger counts a top with."""
    maps = []
    for tagger, h in hists.items():
        origins, pt_edges, eta_edges = BINNING[tagger]
        for process in h.axes["process"]:
            for code, name in origins.items():
                cell = h[{"process": process, "origin": hist.loc(code)}]
                values, variances = cell.values(), cell.variances()
                if values.sum() <= 0:
                    continue
                eff, err = efficiency_and_error(values[..., 1], variances[..., 1],
                                                values[..., 0], variances[..., 0])
                maps.append(TopTagMap(tagger, process, name, float(thresholds[tagger]),
                                      np.asarray(pt_edges), np.asarray(eta_edges), eff, err,
                                      values.sum(axis=-1)))
    return maps


def write_root(hists: dict[str, hist.Hist], path: Path) -> Path:
    """Add ``top_tag_efficiency/<tagger>/<process>/<origin>/{tagged,untagged}`` (TH2D,
    pT × |η|, sumw2 kept) to the ROOT file ``path`` (created if absent)."""
    path = Path(path)
    with (uproot.update(path) if path.is_file() else uproot.recreate(path)) as f:
        for tagger, h in hists.items():
            for process in h.axes["process"]:
                for code, name in BINNING[tagger][0].items():
                    for tagged in (True, False):
                        cell = h[{"process": process, "origin": hist.loc(code),
                                  "tagged": hist.loc(tagged)}]
                        key = "tagged" if tagged else "untagged"
                        f[f"{ROOT_DIR}/{tagger}/{process}/{name}/{key}"] = cell
    return path


def read_root(path: Path) -> dict[str, hist.Hist]:
    """The histograms :func:`write_root` wrote (flow bins dropped); empty ones for a file
    without top-tagger sums (a run made before they existed)."""
    hists = empty_hists()
    try:
        with uproot.open(path) as f:
            keys = {k.split(";")[0] for k in f.keys(recursive=True, filter_classname="TH2*")}
            for key in sorted(k for k in keys if k.startswith(f"{ROOT_DIR}/")):
                _, tagger, process, name, which = key.split("/")
                h = hists[tagger]
                codes = {v: c for c, v in BINNING[tagger][0].items()}
                if process not in h.axes["process"]:
                    h.fill(process=process, origin=next(iter(codes.values())),
                           pt=BINNING[tagger][1][0], abs_eta=0.0, tagged=False, weight=0.0)
                th2 = f[key]
                view = h.view()[h.axes["process"].index(process),
                                h.axes["origin"].index(codes[name]), :, :,
                                int(which == "tagged")]
                view["value"] = th2.values()
                view["variance"] = th2.variances()
    except (OSError, KeyError, ValueError) as err:
        raise InputFileError(str(path), f"not a top-tagger efficiency file ({err})") from err
    return hists


def top_tag_hists(genpart: ak.Array, boosted: ak.Array | None, resolved: ak.Array | None,
                  event_weight: np.ndarray, process: str,
                  thresholds: dict[str, float]) -> dict[str, hist.Hist]:
    """The sums of one chunk: the candidates of each tagger (the ML columns'
    ``boosted_candidates`` and ``resolved_candidates`` of the events, None where the tagger
    did not run) by origin from the events' ``genpart``, tagged above ``thresholds``."""
    hists = empty_hists()
    if boosted is None and resolved is None:
        return hists
    decays = hadronic_top_decays(genpart)
    if boosted is not None:
        origin = fatjet_origin(boosted.eta, boosted.phi, decays)
        fill(hists["boosted"], "boosted", process, boosted.pt, boosted.eta, origin,
             boosted.score > thresholds["boosted"], event_weight)
    if resolved is not None:
        counts = ak.to_numpy(ak.num(resolved.pt, axis=1))
        flat = ak.flatten(resolved)
        event = np.repeat(np.arange(len(counts)), counts)
        origin = trijet_origin(ak.to_numpy(flat.jet_eta), ak.to_numpy(flat.jet_phi),
                               decays[event])
        fill(hists["resolved"], "resolved", process, resolved.pt, resolved.eta,
             ak.unflatten(origin, counts), resolved.score > thresholds["resolved"],
             event_weight)
    return hists
