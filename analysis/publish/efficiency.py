"""b-tagging efficiency and mistag rates of selected jets versus pT × |η| per hadron flavour.

The processor fills :func:`btag_efficiency_hist` with the nominal selected jets of
simulated events that pass the jet-multiplicity requirement, before the N b and HT cuts (a
sample that required b tags would bias the efficiency upwards); one call, nominal only.
The export stage turns the sums into tables (:func:`efficiency_maps`) for HEPData and
correctionlib. The statistical uncertainty of a
weighted efficiency ε = P / (P + F), with P and F the weight sums of tagged and untagged
jets, is σ² = (F² ΣP w² + P² ΣF w²) / (P + F)⁴ (independent sums; binomial for unit weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import hist
import numpy as np
import uproot

from analysis.flat import FlatCollection
from common.exceptions import InputFileError

#: jet pT bin edges (GeV) of the tables; the last bin holds everything above 600 GeV
PT_EDGES: tuple[float, ...] = (30.0, 50.0, 70.0, 100.0, 140.0, 200.0, 300.0, 600.0, 3000.0)
#: |η| bin edges of the tables (the jet selection stops at 2.4)
ABS_ETA_EDGES: tuple[float, ...] = (0.0, 0.6, 1.2, 1.8, 2.4)
#: NanoAOD Jet_hadronFlavour values and their names in the tables
FLAVOURS: dict[int, str] = {5: "b", 4: "c", 0: "light"}
WORKING_POINT = "M"  # the config's btag.working_points are the medium working point
ROOT_DIR = "btag_efficiency"


def empty_hist() -> hist.Hist:
    """process × flavour × pT × |η| × tagged, weighted storage."""
    return hist.Hist(
        hist.axis.StrCategory([], name="process", growth=True),
        hist.axis.IntCategory(list(FLAVOURS), name="flavour"),
        hist.axis.Variable(PT_EDGES, name="pt", label="jet $p_T$ [GeV]"),
        hist.axis.Variable(ABS_ETA_EDGES, name="abs_eta", label="jet $|\\eta|$"),
        hist.axis.Boolean(name="tagged"),
        storage=hist.storage.Weight(),
    )


def btag_efficiency_hist(jets: ak.Array | FlatCollection, event_weight: np.ndarray,
                         process: str, threshold: float, discriminant: str) -> hist.Hist:
    """The selected ``jets`` (jagged or flat; pt, eta, hadronFlavour, ``discriminant``) of
    the events, each jet with its event's weight, tagged when the score exceeds ``threshold``.

    pT above the last edge is put in the last bin (a table user reads the same value there).
    """
    if isinstance(jets, FlatCollection):
        counts, field = jets.counts, jets.__getitem__
    else:
        counts = ak.to_numpy(ak.num(jets.pt))

        def field(name: str) -> np.ndarray:
            return ak.to_numpy(ak.flatten(jets[name]))
    h = empty_hist()
    pt = field("pt").astype(np.float64)
    top = PT_EDGES[-1]
    h.fill(process=process,
           flavour=field("hadronFlavour").astype(np.int64),
           pt=np.where(pt >= top, np.nextafter(top, 0.0), pt),
           abs_eta=np.abs(field("eta").astype(np.float64)),
           tagged=field(discriminant) > threshold,
           weight=np.repeat(np.asarray(event_weight, np.float64), counts))
    return h


@dataclass(frozen=True)
class EfficiencyMap:
    """Efficiency of one flavour in one process: (pT bins, |η| bins) arrays."""

    process: str
    flavour: str
    pt_edges: np.ndarray
    abs_eta_edges: np.ndarray
    efficiency: np.ndarray
    uncertainty: np.ndarray
    jets: np.ndarray  # weight sum of all jets in the bin


def efficiency_and_error(tagged: np.ndarray, tagged_w2: np.ndarray, untagged: np.ndarray,
                         untagged_w2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ε and its statistical uncertainty from weight sums (0 ± 0 where the bin is empty)."""
    total = tagged + untagged
    safe = np.where(total > 0, total, 1.0)
    eff = np.where(total > 0, tagged / safe, 0.0)
    var = (untagged**2 * tagged_w2 + tagged**2 * untagged_w2) / safe**4
    return eff, np.sqrt(np.where(total > 0, var, 0.0))


def efficiency_maps(h: hist.Hist) -> list[EfficiencyMap]:
    """One map per (process, flavour) with jets in it, from a :func:`empty_hist` histogram."""
    maps = []
    for process in h.axes["process"]:
        for flavour, name in FLAVOURS.items():
            cell = h[{"process": process, "flavour": hist.loc(flavour)}]
            values, variances = cell.values(), cell.variances()
            if values.sum() <= 0:
                continue
            eff, err = efficiency_and_error(values[..., 1], variances[..., 1],
                                            values[..., 0], variances[..., 0])
            maps.append(EfficiencyMap(process, name, np.asarray(PT_EDGES),
                                      np.asarray(ABS_ETA_EDGES), eff, err,
                                      values.sum(axis=-1)))
    return maps


def write_root(h: hist.Hist, path: Path) -> Path:
    """``<dir>/<process>/<flavour>/{tagged,untagged}`` as TH2D (pT × |η|, sumw2 kept)."""
    with uproot.recreate(path) as f:
        for process in h.axes["process"]:
            for flavour, name in FLAVOURS.items():
                for tagged in (True, False):
                    cell = h[{"process": process, "flavour": hist.loc(flavour),
                              "tagged": hist.loc(tagged)}]
                    key = "tagged" if tagged else "untagged"
                    f[f"{ROOT_DIR}/{process}/{name}/{key}"] = cell
    return Path(path)


def read_root(path: Path) -> hist.Hist:
    """The histogram :func:`write_root` wrote (flow bins dropped)."""
    h = empty_hist()
    try:
        with uproot.open(path) as f:
            keys = {k.split(";")[0] for k in f.keys(recursive=True, filter_classname="TH2*")}
            codes = {v: k for k, v in FLAVOURS.items()}
            # the file also holds other tables (the top taggers'): this directory only
            for key in sorted(k for k in keys if k.startswith(f"{ROOT_DIR}/")):
                _, process, name, which = key.split("/")
                th2 = f[key]
                idx = (h.axes["process"].index(process) if process in h.axes["process"]
                       else None)
                if idx is None:
                    h.fill(process=process, flavour=0, pt=PT_EDGES[0], abs_eta=0.0,
                           tagged=False, weight=0.0)
                    idx = h.axes["process"].index(process)
                view = h.view()[idx, h.axes["flavour"].index(codes[name]), :, :,
                                int(which == "tagged")]
                view["value"] = th2.values()
                view["variance"] = th2.variances()
    except (OSError, KeyError, ValueError) as err:
        raise InputFileError(str(path), f"not a b-tagging efficiency file ({err})") from err
    return h
