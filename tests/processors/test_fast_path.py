"""The processor's fast variation path against a plain reference written in this test.

The reference does what the processor did before it was made fast, the straightforward way:
per jet variation the jagged awkward selection (``analysis.selection.preselect``), the weights
on all events, and per systematic a ``Hist.fill`` with region labels. Every bin (values and
variances, flow bins included), every category, every cutflow number and the nominal feature
columns must be equal, not close.
"""

from __future__ import annotations

import awkward as ak
import hist
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

from analysis.config import load_config
from analysis.regions import assign_regions, region_labels
from analysis.selection import preselect, trigger_decision
from analysis.variations import jet_variations
from analysis.weights import event_weights
from corrections import load_corrections
from corrections.jet_id import load_jet_id_criteria
from processors import compat
from processors.fourtops import DatasetInfo, FourTopsProcessor
from workflows.pipeline import PipelineSchema

NORM = 0.37  # any per-event normalization


def _veto(events: ak.Array, cfg) -> np.ndarray:
    e, m = events.Electron, events.Muon
    ele = (e.pt > cfg.pt_min) & (abs(e.eta) < cfg.electron_abs_eta_max) & (
        e.cutBased >= cfg.electron_cut_based_min)
    mu = (m.pt > cfg.pt_min) & (abs(m.eta) < cfg.muon_abs_eta_max) & m.tightId & (
        m.pfRelIso04_all < cfg.muon_iso_max)
    return ak.to_numpy(ak.any(ele, axis=1) | ak.any(mu, axis=1))


def reference(events: ak.Array, config, corr) -> dict:
    """Histograms, cutflows and nominal features, one systematic after the other."""
    flavour = compat.flavour_of(events, config, "synthetic", True, {})
    fired, _ = trigger_decision(events, config.trigger.paths["synthetic"], "f")
    base = events[fired & ~_veto(events, config.leptons)]
    w0 = ak.to_numpy(base.genWeight).astype(np.float64) * NORM
    jets_in = compat.adapt_jets(base.Jet, flavour, config,
                                load_jet_id_criteria(config.inputs.jet_id_criteria))
    wp = config.btag.working_points["synthetic"]
    labels = region_labels(config.regions)
    hists = {name: hist.Hist(hist.axis.StrCategory(labels, name="region"),
                             hist.axis.StrCategory([], name="process", growth=True),
                             hist.axis.StrCategory([], name="systematic", growth=True),
                             h.axis(), storage=hist.storage.Weight())
             for name, h in config.histograms.items()}
    yields = hist.Hist(hist.axis.StrCategory(labels, name="region"),
                       hist.axis.StrCategory([], name="process", growth=True),
                       hist.axis.StrCategory([], name="systematic", growth=True),
                       storage=hist.storage.Weight())
    cutflows, features = {}, None
    for var, jets in jet_variations(jets_in, base, corr, None,
                                    rho=compat.rho(base, flavour)).items():
        p = preselect(jets, config, wp, reorder=var != "nominal")
        ws = event_weights(base, p.jets, corr, None if var == "nominal" else [],
                           btag_threshold=wp)
        weights = {"nominal": w0 * ws.nominal, **{n: w0 * ws.weight(n) for n in ws.variations}}
        padded = ak.fill_none(ak.pad_none(p.jets[p.sel], 8, clip=True), 0.0)
        columns = {"n_jets": p.n_jets[p.sel], "n_b": p.n_b[p.sel], "ht": p.ht[p.sel],
                   "lead_jet_pt": ak.to_numpy(padded.pt[:, 0]).astype(np.float64)}
        region = assign_regions(p.n_jets[p.sel], p.n_b[p.sel], config.regions).astype(str)
        for wvar, w in weights.items():
            syst = var if wvar == "nominal" else wvar
            cutflows[syst] = {s: {"events": int(m.sum()), "weighted": float(w[m].sum())}
                              for s, m in (("n_jets", p.sel_j), ("n_b", p.sel_b), ("ht", p.sel))}
            for name, h in config.histograms.items():
                if h.variable in columns:
                    hists[name].fill(region=region, process="ttbar", systematic=syst,
                                     **{h.variable: columns[h.variable]}, weight=w[p.sel])
            yields.fill(region=region, process="ttbar", systematic=syst, weight=w[p.sel])
            if syst == "nominal":
                features = {"weight": w[p.sel], "region": region, **columns,
                            "jet3_eta": ak.to_numpy(padded.eta[:, 2]).astype(np.float64),
                            "jet8_btag": ak.to_numpy(padded.btagDeepFlavB[:, 7])}
    return {"hists": hists, "yields": yields, "cutflows": cutflows, "features": features}


@pytest.fixture(scope="module")
def outputs(generated_ttbar) -> tuple[dict, dict]:
    config = load_config()
    corr = load_corrections(config.corrections)
    path = str(generated_ttbar)
    events = NanoEventsFactory.from_root({path: "Events"}, schemaclass=PipelineSchema,
                                         mode="virtual",
                                         metadata={"dataset": "ttbar", "filename": path}).events()
    proc = FourTopsProcessor(config, {"ttbar": DatasetInfo("ttbar", "mc", "synthetic", NORM)},
                             corrections=corr)
    return proc.process(events), reference(events, config, corr)


def test_every_histogram_bin_equals_the_reference(outputs) -> None:
    fast, ref = outputs
    filled = 0
    for name, expected in ref["hists"].items():
        got = fast["hists"][name]
        assert [list(a) for a in got.axes[:3]] == [list(a) for a in expected.axes[:3]], name
        assert got.axes[3] == expected.axes[3], name
        for field in ("value", "variance"):
            np.testing.assert_array_equal(got.view(flow=True)[field],
                                          expected.view(flow=True)[field], err_msg=name)
        filled += len(expected.axes["systematic"])
    # the variable histograms of the jets, with every variation (ML ones are not filled)
    assert filled == 4 * (1 + len(fast["cutflow_variations"]["ttbar"]))
    assert ref["hists"]["ht"].sum().value > 0


def test_cutflows_and_yields_equal_the_reference(outputs) -> None:
    fast, ref = outputs
    nominal = {k: v for k, v in fast["cutflow"]["ttbar"].items() if k in ("n_jets", "n_b", "ht")}
    assert nominal == ref["cutflows"]["nominal"]
    assert fast["cutflow_variations"]["ttbar"] == {k: v for k, v in ref["cutflows"].items()
                                                   if k != "nominal"}
    assert list(fast["yields"].axes["systematic"]) == list(ref["yields"].axes["systematic"])
    for field in ("value", "variance"):
        np.testing.assert_array_equal(fast["yields"].view(flow=True)[field],
                                      ref["yields"].view(flow=True)[field])


def test_nominal_feature_columns_equal_the_reference(outputs) -> None:
    fast, ref = outputs
    (table,) = fast["features"]["ttbar"]
    for name, expected in ref["features"].items():
        np.testing.assert_array_equal(table[name], expected, err_msg=name)
    assert len(table["weight"]) > 0
