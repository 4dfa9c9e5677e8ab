"""The export stage: a run's fit, histograms and models → HEPData submission and bundle.

Reads ``<run>/process`` (histograms, cutflow, feature tables, b-tagging and top-tagger
efficiency sums),
``<run>/abcdnn/templates``, ``<run>/fit`` (workspace, BkgOnly + patchset, results) and the
models; writes ``<run>/export/``::

    hepdata/              the submission folder (validated offline with hepdata-validator)
    hepdata.tar.gz        the same as the archive HEPData takes
    bundle/               README, models/*.onnx, validation/*.npz, likelihood/, efficiency/
    stage.json            the stage record (hash of inputs and settings)
"""

from __future__ import annotations

import argparse
import json
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

import cabinetry
import numpy as np
import pandas as pd
import pyhf

from analysis.abcdnn.templates import Template
from analysis.config import AnalysisConfig, load_config
from analysis.fit.inputs import read_histograms
from analysis.fit.results import mle_fit, model_and_data
from analysis.ml_features import MLFeatureSettings
from analysis.publish import efficiency as eff
from analysis.publish import top_tag_efficiency as top_eff
from analysis.publish.roc import roc_curve
from analysis.publish.submission import (
    Prediction,
    SubmissionInputs,
    build_submission,
    write_submission,
)
from common.exceptions import ExportError
from workflows.code_version import code_digest
from workflows.outputs import staged_output
from workflows.stages import digest, file_digest, forget, reusable, write_record

EXPORT_DIR = "export"
#: event-level scores whose tttt-vs-ttbar ROC curves are published: (column, what it is)
ROC_SCORES = {"dnn_score": "the event DNN score (out-of-fold)",
              "resolved_top_score_1": "the best resolved-top-tagger trijet score per event",
              "boosted_top_score_max": "the highest boosted-top-tagger score per event"}


def _inputs(outdir: Path) -> dict[str, Path]:
    return {"workspace": outdir / "fit" / "workspace.json", "bkg": outdir / "fit" / "BkgOnly.json",
            "patchset": outdir / "fit" / "patchset.json",
            "results": outdir / "fit" / "results.json",
            "histograms": outdir / "process" / "histograms.root"}


def _features(outdir: Path) -> pd.DataFrame | None:
    tables = sorted((outdir / "process" / "features").glob("*.parquet"))
    tables = [t for t in tables if "__" not in t.stem]  # nominal tables only
    return pd.concat([pd.read_parquet(t) for t in tables], ignore_index=True) if tables else None


def _folded_variance(path: Path, histogram: str, region: str, process: str) -> np.ndarray:
    import uproot

    with uproot.open(path) as f:
        v = np.asarray(f[f"{histogram}/{region}/{process}/nominal"].variances(flow=True))
    v = v.astype(np.float64).copy()
    v[1] += v[0]
    v[-2] += v[-1]
    return v[1:-1]


def _rocs(features: pd.DataFrame | None, signal: str) -> dict[str, tuple[str, dict]]:
    if features is None:
        return {}
    s, b = features[features["process"] == signal], features[features["process"] == "ttbar"]
    if s.empty or b.empty:
        return {}
    return {f"ROC {column}": (
        f"ROC curve of {what}: preselected {signal} (signal) versus ttbar (background) "
        "simulated events, weighted to the luminosity; efficiency of score > threshold "
        "with its statistical uncertainty.",
        roc_curve(s[column].to_numpy(), s["weight"].to_numpy(), b[column].to_numpy(),
                  b["weight"].to_numpy()))
        for column, what in ROC_SCORES.items() if column in features.columns}


def _likelihood(paths: dict[str, Path], folder: Path) -> tuple[Path, dict[str, str]]:
    """BkgOnly + patchset into ``folder`` and a tarball; their ``pyhf digest`` values."""
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("bkg", "patchset"):
        shutil.copy2(paths[key], folder / paths[key].name)
    spec = json.loads(paths["workspace"].read_text())
    # in the form `pyhf digest` prints and HEPData records quote
    digests = {"BkgOnly.json": f"sha256:{pyhf.utils.digest(json.loads(paths['bkg'].read_text()))}",
               "patched workspace": f"sha256:{pyhf.utils.digest(spec)}"}
    archive = folder.parent / "likelihood.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for key in ("bkg", "patchset"):
            tar.add(folder / paths[key].name, arcname=paths[key].name)
    return archive, digests


def _top_tag_maps(efficiency_file: Path, config: AnalysisConfig) -> list:
    """The top taggers' maps, at the score thresholds the analysis counts tops with."""
    s = config.ml.features if config.ml is not None else MLFeatureSettings()
    return top_eff.top_tag_maps(top_eff.read_root(efficiency_file),
                                {"boosted": s.boosted_threshold,
                                 "resolved": s.resolved_threshold})


def _submission_inputs(outdir: Path, config: AnalysisConfig, paths: dict[str, Path],
                       features: pd.DataFrame | None) -> tuple[SubmissionInputs, list, list]:
    s = config.fit
    results = json.loads(paths["results"].read_text())
    edges, data, mc = read_histograms(paths["histograms"], s.histogram, s.region,
                                      [s.signal, *s.minor_backgrounds], s.data)
    template = Template.from_json(outdir / "abcdnn" / "templates" / f"{s.template}_{s.region}.json")
    spec = json.loads(paths["workspace"].read_text())
    model, fit_data = model_and_data(spec)
    fit = mle_fit(model, fit_data, s)
    maps: list = []
    top_maps: list = []
    efficiency_file = outdir / "process" / "efficiency.root"
    if efficiency_file.is_file():
        maps = eff.efficiency_maps(eff.read_root(efficiency_file))
        top_maps = _top_tag_maps(efficiency_file, config)
    cutflow_file = outdir / "process" / "cutflow.json"
    inputs = SubmissionInputs(
        region=s.region, edges=edges, xlabel=config.histograms[s.histogram].label,
        data=data, data_variance=_folded_variance(paths["histograms"], s.histogram, s.region,
                                                  s.data),
        mc={n: (h.nominal, h.variance) for n, h in mc.items()},
        background_name=s.background_name,
        background=(np.asarray(template.nominal), np.asarray(template.stat_unc)),
        prefit=Prediction.from_cabinetry(cabinetry.model_utils.prediction(model)),
        postfit=Prediction.from_cabinetry(cabinetry.model_utils.prediction(model,
                                                                           fit_results=fit)),
        results=results,
        cutflow=json.loads(cutflow_file.read_text()) if cutflow_file.is_file() else None,
        efficiencies=maps, btag_threshold=float(min(config.btag.working_points.values())),
        top_tag_efficiencies=top_maps, rocs=_rocs(features, s.signal))
    return inputs, maps, top_maps


def _key(outdir: Path, config: AnalysisConfig, paths: dict[str, Path]) -> str:
    extra = [outdir / "process" / n for n in ("cutflow.json", "efficiency.root")]
    files = [*paths.values(), *[p for p in extra if p.is_file()],
             *sorted((outdir / "process" / "features").glob("*.parquet")),
             *sorted((outdir / "models").rglob("*.onnx"))]
    repository = Path(config.ml.inference.repository) if config.ml else None
    if repository is not None and repository.is_dir():
        files += sorted(repository.rglob("*.onnx"))
    return digest({"files": file_digest(files), "fit": config.fit.model_dump(mode="json"),
                   "code": code_digest("common", "analysis/publish", "workflows/export.py",
                                       "workflows/export_bundle.py", "workflows/bundle.py")})


def run_export_stage(outdir: Path, config: AnalysisConfig, force: bool = False,
                     ) -> dict[str, Any]:
    """Write ``<outdir>/export`` (see the module docstring); return the stage record."""
    from workflows.export_bundle import write_bundle

    outdir = Path(outdir)
    paths = _inputs(outdir)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ExportError(f"the export needs {missing}: run the fit stage first "
                          f"(python run_analysis.py fit {outdir})")
    start = time.perf_counter()
    folder = outdir / EXPORT_DIR
    key = _key(outdir, config, paths)
    if not force and reusable(folder, "export", key, [folder / "hepdata" / "submission.yaml"]):
        return {**json.loads((folder / "stage.json").read_text()), "reused": True}
    forget(folder)
    features = _features(outdir)
    with staged_output(folder) as stage:
        inputs, maps, top_maps = _submission_inputs(outdir, config, paths, features)
        archive, digests = _likelihood(paths, stage / "bundle" / "likelihood")
        inputs.resources.append((
            "The likelihood in pyhf JSON: background-only workspace BkgOnly.json and signal "
            "patchset patchset.json (pyhf patchset apply BkgOnly.json patchset.json --name "
            f"tttt). pyhf digest: BkgOnly.json {digests['BkgOnly.json']}, patched workspace "
            f"{digests['patched workspace']}.", archive, "HistFactory"))
        bundle = write_bundle(outdir, config, stage / "bundle", features, maps, digests,
                              top_maps)
        inputs.resources += [(f"ONNX model {name} with its preprocessing in the metadata",
                              stage / "bundle" / entry["model"], None)
                             for name, entry in bundle["models"].items()]
        inputs.generator_level = bundle.get("worked_example")
        write_submission(build_submission(inputs), stage / "hepdata")
        record_extra = {"tables": len(list((stage / "hepdata").glob("*.yaml"))) - 1,
                        "digests": digests, "models": sorted(bundle["models"]),
                        "efficiency_tables": len(maps), "top_tag_tables": len(top_maps)}
    record = write_record(folder, "export", key, time.perf_counter() - start, record_extra)
    return {**record, "reused": False}


def main(argv: list[str] | None = None) -> int:
    """``python run_analysis.py export OUTPUT``: the export stage on a fitted run."""
    parser = argparse.ArgumentParser(
        prog="run_analysis.py export",
        description="Write the HEPData submission (validated offline) and the "
                    "reinterpretation bundle of a fitted run.")
    parser.add_argument("outdir", type=Path, help="the run's output folder")
    parser.add_argument("--config", type=Path, default=None, help="analysis config YAML")
    parser.add_argument("--force", action="store_true", help="rewrite even if unchanged")
    args = parser.parse_args(argv)
    record = run_export_stage(args.outdir, load_config(args.config), force=args.force)
    state = "reused (inputs unchanged)" if record["reused"] else \
        f"written in {record['seconds']:.0f} s"
    folder = args.outdir / EXPORT_DIR
    print(f"export: {state}; HEPData submission ({record['tables']} tables) in "
          f"{folder / 'hepdata'}, bundle in {folder / 'bundle'}")
    return 0
