"""HEPData tables (hepdata-lib) from the run's numbers: distributions, yields, results,
cutflow, b-tagging and top-tagger efficiency maps and ROC curves.

Every uncertainty is given explicitly (``Uncertainty.values``), never through hepdata-lib's
``poisson_sym`` helper, which on unweighted histograms takes the square root twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from hepdata_lib import Table, Uncertainty, Variable

from analysis.publish.efficiency import EfficiencyMap
from analysis.publish.top_origin import ORIGIN_DEFINITIONS
from analysis.publish.top_tag_efficiency import CANDIDATES, TAGGERS, TopTagMap

REACTION = "P P --> TOP TOPBAR TOP TOPBAR X"
SQRT_S_GEV = 13000


def _keywords(table: Table, observables: list[str]) -> None:
    table.keywords["observables"] = observables
    table.keywords["reactions"] = [REACTION]
    table.keywords["cmenergies"] = [SQRT_S_GEV]


def _binned(name: str, edges: Sequence[float], units: str = "") -> Variable:
    x = Variable(name, is_independent=True, is_binned=True, units=units)
    x.values = [(float(lo), float(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return x


def _labels(name: str, labels: Sequence[str]) -> Variable:
    x = Variable(name, is_independent=True, is_binned=False)
    x.values = list(labels)
    return x


def measured(name: str, values: Sequence[float], errors: Mapping[str, Sequence[float]] | None
             = None, units: str = "", qualifiers: Mapping[str, str] | None = None) -> Variable:
    """A dependent variable with symmetric uncertainties ``label -> per-point values``."""
    y = Variable(name, is_independent=False, is_binned=False, units=units)
    y.values = [float(v) for v in values]
    for label, errs in (errors or {}).items():
        u = Uncertainty(label, is_symmetric=True)
        u.values = [float(e) for e in errs]
        y.add_uncertainty(u)
    for key, value in (qualifiers or {}).items():
        y.add_qualifier(key, value)
    return y


def distribution_table(name: str, description: str, edges: Sequence[float], xlabel: str,
                       columns: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
                       region: str) -> Table:
    """Events per bin of ``xlabel``: one column per entry of ``columns``
    (``label -> (values, {uncertainty label: errors})``)."""
    table = Table(name)
    table.description = description
    table.location = f"signal region {region}"
    _keywords(table, ["N"])
    table.add_variable(_binned(xlabel, edges))
    for label, (values, errors) in columns.items():
        table.add_variable(measured(label, values, errors, qualifiers={"REGION": region}))
    return table


def yields_table(name: str, description: str, rows: Mapping[str, tuple[float, float]],
                 region: str) -> Table:
    """One yield with its uncertainty per sample (``label -> (yield, uncertainty)``)."""
    table = Table(name)
    table.description = description
    table.location = f"signal region {region}"
    _keywords(table, ["N"])
    table.add_variable(_labels("Sample", list(rows)))
    values = [v for v, _ in rows.values()]
    table.add_variable(measured("Events", values, {"total": [e for _, e in rows.values()]},
                                qualifiers={"REGION": region}))
    return table


def results_table(results: Mapping) -> Table:
    """μ̂ with its MINOS interval, significance and the 95 % CL limits with their bands."""
    table = Table("Fit results")
    table.description = ("Signal strength mu = sigma(tttt) / sigma_SM(tttt) from the profile "
                         "likelihood fit (MINOS interval), discovery significance, and the "
                         "CLs upper limit on mu.")
    table.location = f"signal region {results['region']}"
    _keywords(table, ["SIG/SIGSM"])
    table.add_variable(_labels("Quantity", ["mu-hat"]))
    mu = Variable("mu-hat", is_independent=False, is_binned=False)
    mu.values = [float(results["mu_hat"])]
    minos = Uncertainty("MINOS", is_symmetric=False)
    minos.values = [(float(results["mu_minos"]["down"]), float(results["mu_minos"]["up"]))]
    mu.add_uncertainty(minos)
    table.add_variable(mu)
    sig, lim = results["significance"], results["limit"]
    extra = {"observed significance [sigma]": sig["observed"],
             "expected significance (mu = 1) [sigma]": sig["expected"]}
    if lim.get("observed") is not None:
        extra["observed 95% CL upper limit on mu"] = lim["observed"]
    bands = lim.get("expected_bands") or {}
    for key in ("minus2", "minus1", "median", "plus1", "plus2"):
        if bands.get(key) is not None:
            extra[f"expected 95% CL upper limit on mu ({key})"] = bands[key]
    for label, value in extra.items():
        table.add_variable(measured(label, [value]))
    return table


def cutflow_tables(cutflow: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[Table]:
    """Events after each selection step per dataset (raw counts and weighted yields).

    Datasets with the same steps share a table: generated simulation starts with the
    generator's own steps (generated, filter, skim), which data do not have.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for dataset, per_step in cutflow.items():
        groups.setdefault(tuple(per_step), []).append(dataset)
    tables = []
    for steps, datasets in groups.items():
        name = "Cutflow" if len(groups) == 1 else f"Cutflow {', '.join(datasets)}"
        table = Table(name)
        table.description = ("Events after each selection step: raw simulated (or data) "
                             "events and yields weighted to the luminosity (no uncertainty "
                             "given: the raw counts are exact, the weighted ones follow from "
                             "them).")
        table.location = "preselection"
        _keywords(table, ["N"])
        table.add_variable(_labels("Selection step", list(steps)))
        for dataset in datasets:
            per_step = cutflow[dataset]
            table.add_variable(measured(f"{dataset} events",
                                        [per_step[s]["events"] for s in steps]))
            table.add_variable(measured(f"{dataset} weighted",
                                        [per_step[s]["weighted"] for s in steps]))
        tables.append(table)
    return tables


def _pt_eta_table(table: Table, pt_edges: np.ndarray, eta_edges: np.ndarray,
                  weights: np.ndarray, kind: str, values: np.ndarray, errors: np.ndarray,
                  pt_name: str = "jet pT", eta_name: str = "jet |eta|") -> Table:
    """Fill ``table`` with ``values`` ± ``errors`` of (pT bins, |η| bins), |η| fastest;
    bins without entries (``weights`` 0) are left out, as HEPData asks."""
    n_pt, n_eta = values.shape
    filled = (weights > 0).ravel()
    pt = _binned(pt_name, pt_edges, "GeV")
    pt.values = [pt.values[i] for i in range(n_pt) for _ in range(n_eta)]
    pt.values = [v for v, keep in zip(pt.values, filled, strict=True) if keep]
    eta = _binned(eta_name, eta_edges)
    eta.values = [eta.values[j] for _ in range(n_pt) for j in range(n_eta)]
    eta.values = [v for v, keep in zip(eta.values, filled, strict=True) if keep]
    table.add_variable(pt)
    table.add_variable(eta)
    table.add_variable(measured(kind, values.ravel()[filled], {"stat": errors.ravel()[filled]}))
    return table


def efficiency_table(m: EfficiencyMap, threshold: float) -> Table:
    """ε(pT, |η|) of one flavour in one process with its statistical uncertainty."""
    kind = "efficiency" if m.flavour == "b" else "mistag rate"
    table = Table(f"b-tagging {kind} {m.flavour} jets {m.process}")
    table.description = (f"DeepJet medium working point (score > {threshold:g}) {kind} of "
                         f"{m.flavour} jets (hadron flavour) in {m.process} simulation, "
                         "selected AK4 jets of events with the required number of jets (before "
                         "the b-tag and HT requirements), versus pT and |eta|; "
                         "statistical uncertainty. The last pT bin includes the overflow.")
    table.location = "preselection"
    _keywords(table, ["EFF"])
    return _pt_eta_table(table, m.pt_edges, m.abs_eta_edges, m.jets, kind, m.efficiency,
                         m.uncertainty)


def top_tag_table(m: TopTagMap) -> Table:
    """A top tagger's efficiency (genuine tops) or mistag rate (the other origins) versus
    candidate pT × |η| in one process, with its statistical uncertainty."""
    kind = "efficiency" if m.genuine else "mistag rate"
    what = CANDIDATES[m.tagger]
    table = Table(f"{m.tagger.capitalize()} top-tagger {kind} {m.origin} {m.process}")
    table.description = (
        f"{TAGGERS[m.tagger]} {kind}: the fraction of the {what} it scores whose score exceeds "
        f"{m.threshold:g} (where the analysis counts a top), for candidates of origin "
        f"'{m.origin}' ({ORIGIN_DEFINITIONS[m.tagger][m.origin]}), in preselected {m.process} "
        "simulated events, weighted, versus candidate pT and |eta|; binomial statistical "
        "uncertainty. The last pT and |eta| bins include the overflow.")
    table.location = "preselection"
    _keywords(table, ["EFF"])
    return _pt_eta_table(table, m.pt_edges, m.abs_eta_edges, m.candidates, kind, m.efficiency,
                         m.uncertainty, f"{what} pT", f"{what} |eta|")


def roc_table(name: str, description: str, signal_eff: np.ndarray, signal_err: np.ndarray,
              background_eff: np.ndarray, background_err: np.ndarray,
              thresholds: np.ndarray) -> Table:
    """A ROC curve: signal and background efficiency (with statistical uncertainties) per
    score threshold."""
    table = Table(name)
    table.description = description
    table.location = "preselection"
    _keywords(table, ["EFF"])
    x = Variable("score threshold", is_independent=True, is_binned=False)
    x.values = [float(t) for t in thresholds]
    table.add_variable(x)
    table.add_variable(measured("signal efficiency", signal_eff, {"stat": signal_err}))
    table.add_variable(measured("background efficiency", background_eff,
                                {"stat": background_err}))
    return table


def generator_level_table(result: dict) -> Table:
    """The generator-level selection and selection-plus-DNN efficiencies of the signal (the
    bundle's worked example reproduces them)."""
    table = Table("Generator-level signal efficiency")
    table.description = (
        "Generator-level efficiency of tttt events: GenJets with pT > 30 GeV and |eta| < 2.4, "
        "b jets by hadron flavour, at least 6 jets, 2 b jets and HT >= 700 GeV (selection), "
        f"and in addition event-DNN score > {result['dnn_cut']:g} with the published model "
        "(top-tagger inputs 0); binomial statistical uncertainty. The bundle's "
        "example/generator_level.py computes them for any generated sample.")
    table.location = "generator level"
    _keywords(table, ["EFF"])
    table.add_variable(_labels("Requirement", ["selection", "selection and DNN"]))
    table.add_variable(measured(
        "efficiency", [result["selection"], result["selection_and_dnn"]],
        {"stat": [result["selection_stat"], result["selection_and_dnn_stat"]]}))
    return table
