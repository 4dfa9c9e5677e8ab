"""The HEPData submission of a small run: valid offline, complete, and its uncertainties
are the histograms' (not hepdata-lib's poisson_sym, which takes the root twice)."""

from __future__ import annotations

import json

import hist
import numpy as np
import pytest
import uproot
import yaml

from analysis.abcdnn.templates import Template
from analysis.publish.hepdata_tables import distribution_table
from analysis.publish.submission import validation_problems

#: hepdata-lib writes 5 significant digits
RTOL = 1e-4


def _tables(folder):
    docs = list(yaml.safe_load_all((folder / "submission.yaml").read_text()))
    return docs[0], {d["name"]: yaml.safe_load((folder / d["data_file"]).read_text())
                     for d in docs[1:]}


def _column(table, name):
    (dep,) = [d for d in table["dependent_variables"] if d["header"]["name"] == name]
    values = np.array([v["value"] for v in dep["values"]], float)
    errors = np.array([v["errors"][0]["symerror"] if "errors" in v else 0.0
                       for v in dep["values"]], float)
    return values, errors


def test_submission_validates_and_references_existing_files(small_run):
    folder = small_run / "export" / "hepdata"
    assert validation_problems(folder) == []
    assert (small_run / "export" / "hepdata.tar.gz").is_file()
    head, tables = _tables(folder)
    for resource in head["additional_resources"]:
        if resource["location"].startswith("https://"):
            continue  # hepdata-lib's own reference
        assert (folder / resource["location"]).is_file(), resource["location"]
    kinds = {r["location"]: r.get("type") for r in head["additional_resources"]}
    assert kinds["likelihood.tar.gz"] == "HistFactory"
    assert {"event_dnn_fold0.onnx", "abcdnn_map.onnx"} <= set(kinds)
    names = set(tables)
    assert {"Pre-fit nj9p_nb3p", "Post-fit nj9p_nb3p", "Post-fit yields",
            "Fit results", "Cutflow", "ROC dnn_score",
            "Generator-level signal efficiency"} <= names
    assert {"b-tagging efficiency b jets ttbar", "b-tagging mistag rate c jets ttbar",
            "b-tagging mistag rate light jets ttbar"} <= names
    assert {"Boosted top-tagger efficiency top ttbar", "Boosted top-tagger mistag rate partial "
            "ttbar", "Boosted top-tagger mistag rate other ttbar",
            "Resolved top-tagger efficiency matched ttbar",
            "Resolved top-tagger mistag rate unmatched ttbar"} <= names


def test_prefit_errors_are_the_histograms_variances(small_run):
    _, tables = _tables(small_run / "export" / "hepdata")
    table = tables["Pre-fit nj9p_nb3p"]
    with uproot.open(small_run / "process" / "histograms.root") as f:
        for process, column in (("data", "Data"), ("ttW", "ttW"), ("tttt", "tttt")):
            h = f[f"dnn_score/nj9p_nb3p/{process}/nominal"]
            values, errors = _column(table, column)
            np.testing.assert_allclose(values, h.values(), rtol=RTOL)
            np.testing.assert_allclose(errors, np.sqrt(h.variances()), rtol=RTOL)
    template = Template.from_json(small_run / "abcdnn" / "templates" / "signal_nj9p_nb3p.json")
    values, errors = _column(table, "abcdnn (ABCDnn)")
    np.testing.assert_allclose(errors, template.stat_unc, rtol=RTOL)


def test_efficiency_errors_are_binomial(small_run):
    """Unit-weight jets: sigma = sqrt(eps (1 - eps) / N) per pT x |eta| bin."""
    _, tables = _tables(small_run / "export" / "hepdata")
    with uproot.open(small_run / "process" / "efficiency.root") as f:
        tagged = f["btag_efficiency/ttbar/b/tagged"].values().ravel()
        untagged = f["btag_efficiency/ttbar/b/untagged"].values().ravel()
    n = tagged + untagged
    assert np.any(n == 0)  # some pT x |eta| bins hold no b jets: the table leaves them out
    tagged, untagged, n = tagged[n > 0], untagged[n > 0], n[n > 0]
    eps = tagged / n
    expected = np.sqrt(eps * (1 - eps) / n)
    values, errors = _column(tables["b-tagging efficiency b jets ttbar"], "efficiency")
    np.testing.assert_allclose(values, eps, rtol=RTOL)
    np.testing.assert_allclose(errors, expected, rtol=RTOL, atol=1e-12)
    # the generated tag rate (0.8) is what the table shows overall
    assert abs(tagged.sum() / n.sum() - 0.8) < 0.06


@pytest.mark.parametrize(("tagger", "origin", "table", "fraction"), [
    ("boosted", "top", "Boosted top-tagger efficiency top ttbar", 0.7),
    ("boosted", "other", "Boosted top-tagger mistag rate other ttbar", 0.05),
    ("resolved", "unmatched", "Resolved top-tagger mistag rate unmatched ttbar", 0.02)])
def test_top_tag_errors_are_binomial(small_run, tagger, origin, table, fraction):
    """Unit-weight candidates: sigma = sqrt(eps (1 - eps) / N) per pT x |eta| bin, in the
    HEPData table and in the bundle's correctionlib maps."""
    import correctionlib

    _, tables = _tables(small_run / "export" / "hepdata")
    with uproot.open(small_run / "process" / "efficiency.root") as f:
        key = f"top_tag_efficiency/{tagger}/ttbar/{origin}"
        tagged, untagged = f[f"{key}/tagged"].values(), f[f"{key}/untagged"].values()
        edges = f[f"{key}/tagged"].axes[0].edges(), f[f"{key}/tagged"].axes[1].edges()
    n = tagged + untagged
    eps = np.divide(tagged, n, out=np.zeros_like(n), where=n > 0)
    expected = np.sqrt(eps * (1 - eps) / np.where(n > 0, n, 1))
    kind = "efficiency" if table.split()[2] == "efficiency" else "mistag rate"
    values, errors = _column(tables[table], kind)
    np.testing.assert_allclose(values, eps[n > 0], rtol=RTOL)
    np.testing.assert_allclose(errors, expected[n > 0], rtol=RTOL, atol=1e-12)
    assert abs(tagged.sum() / n.sum() - fraction) < 0.06  # the generated tag rate
    path = small_run / "export" / "bundle" / "efficiency" / "top_tag_efficiency.json"
    correction = correctionlib.CorrectionSet.from_file(str(path))[
        f"top_tag_efficiency_{tagger}_ttbar"]
    pt, eta = (0.5 * (e[1:] + e[:-1]) for e in edges)
    for i, j in zip(*np.nonzero(n > 0), strict=True):
        assert correction.evaluate(origin, eta[j], pt[i], "stat") == pytest.approx(
            expected[i, j], rel=1e-9)


def test_results_table_quotes_the_fit(small_run):
    _, tables = _tables(small_run / "export" / "hepdata")
    results = json.loads((small_run / "fit" / "results.json").read_text())
    (mu,) = [d for d in tables["Fit results"]["dependent_variables"]
             if d["header"]["name"] == "mu-hat"]
    point = mu["values"][0]
    assert point["value"] == pytest.approx(results["mu_hat"], rel=RTOL)
    assert point["errors"][0]["asymerror"] == pytest.approx(
        {"minus": results["mu_minos"]["down"], "plus": results["mu_minos"]["up"]}, rel=RTOL)


def test_unweighted_counts_get_sqrt_n_not_its_root():
    """hepdata-lib 0.21's poisson_sym on an unweighted histogram gives N^(1/4); ours sqrt(N)."""
    h = hist.Hist(hist.axis.Regular(4, 0.0, 1.0, name="x"), storage=hist.storage.Weight())
    h.fill(x=np.random.default_rng(1).random(1000))
    table = distribution_table("t", "d", h.axes[0].edges, "x",
                               {"Data": (h.values(), {"stat": np.sqrt(h.variances())})}, "r")
    (y,) = [v for v in table.variables if v.name == "Data"]
    errors = np.array(y.uncertainties[0].values)
    np.testing.assert_allclose(errors, np.sqrt(h.values()), rtol=1e-12)
    assert np.all(errors > 10)  # about 250 entries per bin: sqrt gives ~16, N^(1/4) ~4


def test_cutflow_of_simulation_and_data_with_different_steps():
    from analysis.publish.hepdata_tables import cutflow_tables

    mc_steps = ("generated", "generator_skim", "all", "ht")
    cutflow = {"tttt": {s: {"events": 10 - i, "weighted": 1.0 - i / 10}
                        for i, s in enumerate(mc_steps)},
               "data": {"all": {"events": 7, "weighted": 7.0},
                        "ht": {"events": 3, "weighted": 3.0}},
               "ttbar": {s: {"events": 20, "weighted": 2.0} for s in mc_steps}}
    tables = {t.name: t for t in cutflow_tables(cutflow)}
    assert set(tables) == {"Cutflow tttt, ttbar", "Cutflow data"}
    data = tables["Cutflow data"]
    assert data.variables[0].values == ["all", "ht"]
    assert [v.values for v in data.variables[1:]] == [[7, 3], [7.0, 3.0]]
    assert tables["Cutflow tttt, ttbar"].variables[1].values == [10, 9, 8, 7]
