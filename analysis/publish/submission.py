"""The HEPData submission of a run: tables, additional resources, writing and offline
validation (hepdata-validator's bundled schemas, no network)."""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hepdata_lib import Submission
from hepdata_validator.full_submission_validator import FullSubmissionValidator

from analysis.publish import hepdata_tables as tables
from analysis.publish.efficiency import EfficiencyMap
from analysis.publish.top_tag_efficiency import TopTagMap
from common.exceptions import ExportError

ABSTRACT = ("Search for the production of four top quarks in the all-hadronic final state: "
            "histograms, fit results, the likelihood (pyhf JSON), b-tagging and top-tagger "
            "efficiency tables and the ONNX models of the taggers, the event DNN and the ABCDnn "
            "background map.")


@dataclass
class Prediction:
    """Model yields per sample and bin with their uncertainties (cabinetry's prediction)."""

    samples: dict[str, np.ndarray]
    sample_errors: dict[str, np.ndarray]
    total: np.ndarray
    total_error: np.ndarray

    @classmethod
    def from_cabinetry(cls, prediction: Any, channel: int = 0) -> Prediction:
        """From ``cabinetry.model_utils.prediction`` (one channel)."""
        names = prediction.model.config.samples
        yields = np.asarray(prediction.model_yields[channel], np.float64)
        stdev = np.asarray(prediction.total_stdev_model_bins[channel], np.float64)
        return cls(dict(zip(names, yields, strict=True)),
                   dict(zip(names, stdev[:-1], strict=True)), yields.sum(axis=0), stdev[-1])


@dataclass
class SubmissionInputs:
    """Everything the tables are made of (read from the run by ``workflows.export``)."""

    region: str
    edges: np.ndarray
    xlabel: str
    data: np.ndarray
    data_variance: np.ndarray
    mc: dict[str, tuple[np.ndarray, np.ndarray]]  # sample -> (sumw, sumw2), pre-fit
    background_name: str
    background: tuple[np.ndarray, np.ndarray]  # ABCDnn template: nominal, stat uncertainty
    prefit: Prediction
    postfit: Prediction
    results: dict[str, Any]
    cutflow: dict[str, Any] | None = None
    efficiencies: list[EfficiencyMap] = field(default_factory=list)
    btag_threshold: float = 0.0
    top_tag_efficiencies: list[TopTagMap] = field(default_factory=list)
    rocs: dict[str, tuple[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    resources: list[tuple[str, Path, str | None]] = field(default_factory=list)
    generator_level: dict[str, Any] | None = None  # the worked example's published numbers


def _distributions(s: SubmissionInputs) -> list:
    region, edges = s.region, s.edges
    pre = {"Data": (s.data, {"stat": np.sqrt(s.data_variance)}),
           f"{s.background_name} (ABCDnn)": (s.background[0], {"stat": s.background[1]})}
    for name, (sumw, sumw2) in s.mc.items():
        pre[name] = (sumw, {"MC stat": np.sqrt(sumw2)})
    pre["Total pre-fit model"] = (s.prefit.total, {"total": s.prefit.total_error})
    post = {"Data": (s.data, {"stat": np.sqrt(s.data_variance)})}
    for name, values in s.postfit.samples.items():
        post[name] = (values, {"total": s.postfit.sample_errors[name]})
    post["Total post-fit model"] = (s.postfit.total, {"total": s.postfit.total_error})
    return [
        tables.distribution_table(
            f"Pre-fit {region}",
            f"Pre-fit distribution of {s.xlabel} in the signal region {region}: data (Poisson "
            "stat.), the ABCDnn background (template stat.), the simulated samples (MC stat.) "
            "and the total pre-fit model with its total uncertainty (signal at mu = 1).",
            edges, s.xlabel, pre, region),
        tables.distribution_table(
            f"Post-fit {region}",
            f"Post-fit distribution of {s.xlabel} in {region}: data and the model after the "
            "signal-plus-background fit, per sample and in total, with post-fit uncertainties "
            "(correlations from the fit).", edges, s.xlabel, post, region),
    ]


def build_submission(s: SubmissionInputs) -> Submission:
    """The hepdata-lib Submission (tables and additional resources) of a run."""
    sub = Submission()
    sub.comment = ABSTRACT
    for table in _distributions(s):
        sub.add_table(table)
    errors = s.postfit.sample_errors
    sub.add_table(tables.yields_table(
        "Post-fit yields", f"Post-fit yields per sample in {s.region} with their post-fit "
        "uncertainties.", {n: (float(v.sum()), float(np.sqrt(np.sum(errors[n] ** 2))))
                           for n, v in s.postfit.samples.items()}, s.region))
    sub.add_table(tables.results_table(s.results))
    if s.cutflow:
        for table in tables.cutflow_tables(s.cutflow):
            sub.add_table(table)
    for m in s.efficiencies:
        sub.add_table(tables.efficiency_table(m, s.btag_threshold))
    for m in s.top_tag_efficiencies:
        sub.add_table(tables.top_tag_table(m))
    for name, (description, roc) in s.rocs.items():
        sub.add_table(tables.roc_table(name, description, roc["signal"], roc["signal_err"],
                                       roc["background"], roc["background_err"],
                                       roc["thresholds"]))
    if s.generator_level:
        sub.add_table(tables.generator_level_table(s.generator_level))
    for description, path, kind in s.resources:
        # absolute: hepdata-lib copies the files only in create_files, which write_submission
        # runs from a temporary directory
        sub.add_additional_resource(description, str(Path(path).resolve()), copy_file=True,
                                    file_type=kind)
    return sub


def validation_problems(folder: Path) -> list[str]:
    """hepdata-validator's messages on a submission folder (empty when it is valid)."""
    validator = FullSubmissionValidator()
    # hepdata-validator 0.3 opens the data files without closing them: collect them here
    # rather than let their ResourceWarnings surface somewhere unrelated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        valid = validator.validate(directory=str(folder))
        gc.collect()
    if valid:
        return []
    return [f"{name}: {m.message}" for name, messages in validator.get_messages().items()
            for m in messages]


def write_submission(sub: Submission, folder: Path) -> Path:
    """Write the submission folder and its archive ``<folder>.tar.gz``; validate it.

    hepdata-lib writes the archive into the current directory, so it is made in a temporary
    one and moved. Raises ExportError with the validator's messages if it is invalid.
    """
    folder = Path(folder).resolve()
    # hepdata-lib prints two lines for every bin whose errors are all zero (efficiencies of
    # 0 or 1 in a sparse bin); one count says the same without burying the run's summary
    printed = io.StringIO()
    with (tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp),
          contextlib.redirect_stdout(printed)):
        sub.create_files(outdir=str(folder), validate=False, remove_old=True)
        archive = folder.parent / f"{folder.name}.tar.gz"
        shutil.move(str(Path(tmp) / "submission.tar.gz"), archive)
    omitted = printed.getvalue().count("omitting 'errors'")
    others = [line for line in printed.getvalue().splitlines()
              if line and "omitting 'errors'" not in line and "bins with zero content" not in line]
    if others:
        print("\n".join(others))
    if omitted:
        print(f"HEPData export: {omitted} bins with zero uncertainty are written without errors")
    problems = validation_problems(folder)
    if problems:
        raise ExportError(f"the HEPData submission in {str(folder)!r} does not validate: "
                          + "; ".join(problems[:10]) + " (a bug in the export: report it)")
    return archive
