"""Writing the run's outputs: histograms (ROOT), cutflow and summary (JSON), features (parquet).

Everything is written into a staging folder beside the output folder and moved into place
only when all of it is written, so an output folder never looks complete when it is not.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hist
import numpy as np
import pandas as pd
import uproot


@contextlib.contextmanager
def staged_output(outdir: Path) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``outdir``, on failure it is removed."""
    outdir = Path(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = outdir.parent / f".{outdir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if outdir.exists():
        shutil.rmtree(outdir)
    staging.rename(outdir)


def _th1d(values: np.ndarray, variances: np.ndarray, x_axis: Any, centers: np.ndarray,
          title: str) -> Any:
    """A TH1D from one slice's bin contents including under/overflow (what uproot would
    build from the sliced ``hist.Hist``, without the cost of slicing it). ``centers`` has
    a 0 for each flow bin."""
    return uproot.writing.identify.to_TH1x(
        fName=None, fTitle=title, data=values.astype(np.float64),
        fEntries=float(values.sum()), fTsumw=float(values[1:-1].sum()),
        fTsumw2=float(variances[1:-1].sum()),
        fTsumwx=float((values * centers)[1:-1].sum()),
        fTsumwx2=float((values * centers**2)[1:-1].sum()),
        fSumw2=variances.astype(np.float64), fXaxis=x_axis,
    )


def _is_filled(cells: np.ndarray, systematic: str) -> bool:
    """Nominal always; a variation only when it holds entries (data have no variations,
    but a grown category axis still lists them)."""
    return (systematic == "nominal" or bool(np.any(cells["value"] != 0))
            or bool(np.any(cells["variance"] != 0)))


def write_histograms_root(hists: dict[str, hist.Hist], path: Path) -> int:
    """Write each filled (histogram, region, process, systematic) slice as a TH1D (with
    variances and under/overflow); return the count.

    Keys are ``<histogram>/<region>/<process>/<systematic>``.
    """
    count = 0
    with uproot.recreate(path) as f:
        for name, h in hists.items():
            axis = h.axes[-1]
            # variable bins (the fitted DNN score) need their edges written (fXbins)
            edges = None if isinstance(axis, hist.axis.Regular) else np.asarray(
                axis.edges, dtype=np.float64)
            x_axis = uproot.writing.identify.to_TAxis(
                "xaxis", axis.label or axis.name, len(axis),
                float(axis.edges[0]), float(axis.edges[-1]), fXbins=edges)
            centers = np.concatenate([[0.0], axis.centers, [0.0]])
            view = h.view(flow=True)
            for p, process in enumerate(h.axes["process"]):
                for q, syst in enumerate(h.axes["systematic"]):
                    if not _is_filled(view[:, p, q], syst):
                        continue
                    for r, region in enumerate(h.axes["region"]):
                        cell = view[r, p, q]
                        f[f"{name}/{region}/{process}/{syst}"] = _th1d(
                            cell["value"], cell["variance"], x_axis, centers, name)
                        count += 1
    return count


def yields_table(yields: hist.Hist, systematic: str = "nominal") -> pd.DataFrame:
    """Yields and their statistical errors per region (rows) and process (columns)."""
    rows = []
    for region in yields.axes["region"]:
        for process in yields.axes["process"]:
            if systematic not in yields.axes["systematic"]:
                continue
            cell = yields[{"region": region, "process": process, "systematic": systematic}]
            rows.append({"region": region, "process": process, "yield": float(cell.value),
                         "stat": float(np.sqrt(cell.variance))})
    return pd.DataFrame(rows, columns=["region", "process", "yield", "stat"])


def write_features(features: dict[str, list[dict[str, np.ndarray]]], folder: Path) -> dict[str,
                                                                                           int]:
    """One parquet file per dataset, rows sorted by (run, lumi, event); return rows written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for dataset, parts in features.items():
        parts = [p for p in parts if len(p.get("event", ()))]
        if parts:
            frame = pd.concat([pd.DataFrame(p) for p in parts], ignore_index=True)
            frame = frame.sort_values(["run", "luminosityBlock", "event"], kind="stable")
        else:
            frame = pd.DataFrame({"event": np.zeros(0, dtype=np.int64)})
        frame.reset_index(drop=True).to_parquet(folder / f"{dataset}.parquet", index=False)
        written[dataset] = len(frame)
    return written


def write_json(obj: Any, path: Path) -> None:
    """Write JSON with sets turned into sorted lists."""

    def default(o: Any) -> Any:
        if isinstance(o, set):
            return sorted(o)
        if isinstance(o, np.generic):
            return o.item()
        raise TypeError(f"cannot serialize {type(o)}")

    path.write_text(json.dumps(obj, indent=2, default=default) + "\n")
