"""Fit inputs from a run's files, and bad inputs refused with a message naming them."""

from __future__ import annotations

import dataclasses

import hist
import numpy as np
import pytest

from analysis.config import load_config
from analysis.fit.inputs import check_inputs, load_inputs, read_histograms
from common.exceptions import FitError
from tests.analysis.fit_inputs import EDGES, REGION, make_inputs, template
from workflows.fit import run_fit_stage
from workflows.outputs import write_histograms_root

MINOR = ["ttW", "ttZ", "ttH"]


def _histograms(edges, processes=("data", "tttt", "ttW", "ttZ", "ttH"), skip=()):
    """A processor-like histogram (region, process, systematic, score) with one event
    per process and bin, plus one event in the overflow; data have no variations."""
    h = hist.Hist(hist.axis.StrCategory([REGION, "nj8_nb3p"], name="region"),
                  hist.axis.StrCategory([], name="process", growth=True),
                  hist.axis.StrCategory([], name="systematic", growth=True),
                  hist.axis.Variable(edges, name="dnn_score"), storage=hist.storage.Weight())
    centers = 0.5 * (np.asarray(edges[1:]) + np.asarray(edges[:-1]))
    for p in processes:
        for syst in ("nominal",) if p == "data" else ("nominal", "JES_Total_up",
                                                      "JES_Total_down"):
            if (p, syst) in skip:
                continue
            h.fill(region=REGION, process=p, systematic=syst,
                   dnn_score=np.append(centers, 1.5), weight=2.0)
    return {"dnn_score": h}


def _load(tmp_path, hists, tmpl=None):
    path = tmp_path / "histograms.root"
    write_histograms_root(hists, path)
    tpath = (tmpl or template()).to_json(tmp_path / f"signal_{REGION}.json")
    return load_inputs(path, tpath, "dnn_score", REGION, "tttt", MINOR, "data")


def test_reads_and_folds_overflow(tmp_path):
    inputs = _load(tmp_path, _histograms(EDGES))
    # one weight-2 event per bin, the overflow event folded into the last bin
    assert inputs.data == pytest.approx([2, 2, 2, 2, 4])
    assert inputs.samples["tttt"].variance == pytest.approx([4, 4, 4, 4, 8])
    assert set(inputs.samples["ttW"].variations) == {"JES_Total_up", "JES_Total_down"}
    assert inputs.edges == pytest.approx(EDGES)


def test_missing_sample(tmp_path):
    with pytest.raises(FitError, match="sample 'ttZ' is missing"):
        _load(tmp_path, _histograms(EDGES, processes=("data", "tttt", "ttW", "ttH")))


def test_wrong_binning(tmp_path):
    with pytest.raises(FitError, match=r"binned \[0.0, 0.25, 0.5, 0.75, 1.0\].*abcdnn.fit_bins"):
        _load(tmp_path, _histograms(np.linspace(0, 1, 5)))


def test_systematic_absent_for_one_sample(tmp_path):
    hists = _histograms(EDGES, skip={("ttH", "JES_Total_down")})
    with pytest.raises(FitError, match=r"differ between samples: 'ttH' .*\['JES_Total_down'\]"):
        _load(tmp_path, hists)


@pytest.mark.parametrize("value, words", [(np.nan, "non-finite"), (-3.0, "negative")])
def test_bad_bin_in_a_sample(value, words):
    inputs = make_inputs()
    inputs.samples["ttZ"].nominal[2] = value
    with pytest.raises(FitError, match=rf"sample 'ttZ' nominal has .*{words}.*bin\(s\) \[2\]"):
        check_inputs(inputs, "tttt", MINOR)


def test_bad_bin_in_the_template():
    inputs = make_inputs()
    bad = list(inputs.background.ensemble_up)
    bad[4] = np.nan
    inputs.background = dataclasses.replace(inputs.background, ensemble_up=bad)
    with pytest.raises(FitError, match=r"ABCDnn template ensemble_up has a non-finite.*\[4\]"):
        check_inputs(inputs, "tttt", MINOR)


@pytest.mark.parametrize("value", [np.nan, -0.1, 1.5])
def test_bad_normalization_nonclosure_in_the_template(value):
    inputs = make_inputs()
    inputs.background = dataclasses.replace(inputs.background, normalization_nonclosure=value)
    with pytest.raises(FitError, match="normalization non-closure"):
        check_inputs(inputs, "tttt", MINOR)


def test_template_missing_a_field(tmp_path):
    path = template().to_json(tmp_path / "t.json")
    path.write_text(path.read_text().replace('"stat_unc"', '"stat_uncertainty"'))
    write_histograms_root(_histograms(EDGES), tmp_path / "histograms.root")
    with pytest.raises(FitError, match="not a valid template"):
        load_inputs(tmp_path / "histograms.root", path, "dnn_score", REGION, "tttt", MINOR,
                    "data")


def test_fit_without_templates_names_the_stage(tmp_path):
    (tmp_path / "process").mkdir()
    write_histograms_root(_histograms(EDGES), tmp_path / "process" / "histograms.root")
    with pytest.raises(FitError, match=r"run the morph stage first \(python run_analysis.py "
                                       "morph"):
        run_fit_stage(tmp_path, load_config())


def test_variable_edges_survive_the_histogram_file(tmp_path):
    edges = [0.0, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.87, 0.93, 0.97, 1.0]  # the fit binning
    path = tmp_path / "histograms.root"
    write_histograms_root(_histograms(edges), path)
    read_edges, data, _ = read_histograms(path, "dnn_score", REGION, ["tttt"], "data")
    assert read_edges == pytest.approx(edges)
    assert data[:-1] == pytest.approx([2] * 9) and data[-1] == 4


def test_negative_bins_compatible_with_zero_are_clipped_and_reported():
    from analysis.fit.inputs import clip_negative_bins

    inputs = make_inputs()
    ttw = inputs.samples["ttW"]  # nominal variance is 1 % of the yield: σ = 0.1·√yield
    sigma = np.sqrt(ttw.variance)
    ttw.variations["JES_Total_up"][1] = -2.0 * sigma[1]
    ttw.variations["JES_Total_down"][2] = -5.0 * sigma[2]
    clipped = clip_negative_bins(inputs)
    assert clipped == [{"sample": "ttW", "histogram": "JES_Total_up", "bin": 1,
                        "value": pytest.approx(-2.0 * sigma[1])}]
    assert ttw.variations["JES_Total_up"][1] == 0.0
    with pytest.raises(FitError, match=r"'ttW' variation 'JES_Total_down' has negative.*\[2\]"):
        check_inputs(inputs, "tttt", MINOR)


def test_extrapolation_of_the_wrong_binning_is_refused():
    inputs = make_inputs()
    nominal = list(inputs.background.nominal)
    inputs.background = dataclasses.replace(inputs.background, extrapolation_up=nominal[:-1],
                                            extrapolation_down=nominal)
    with pytest.raises(FitError, match="ABCDnn template extrapolation_up"):
        check_inputs(inputs, "tttt", MINOR)
