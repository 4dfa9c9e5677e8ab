"""The generator-level skim changes nothing after the preselection, and the cutflow still
starts from every generated event.

The skimmed and the unskimmed sample share their seeds, so they hold the same parton events,
jets and trigger bits under the same event numbers; what is drawn after the skim (leptons,
fat jets, weights) differs by random numbers only.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from analysis.config import load_config
from common.exceptions import ConfigError
from simulation.api import generator_cutflow
from workflows.cluster import ClusterSpec
from workflows.fileset import build_fileset
from workflows.generation import check_generator_skim
from workflows.pipeline import dataset_infos, input_files, run_processor

pytestmark = [pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning")]
COMPARED = ("ht", "n_jets", "n_b", "lead_jet_pt", "dnn_score", "boosted_top_score")
PRESELECTED = "ht"  # the last preselection step of the processor's cutflow


def _config(cache: Path, **generator):
    base = load_config(None)
    datasets = {
        "ttbar": base.datasets["ttbar"].model_copy(update={"generator": base.datasets[
            "ttbar"].generator.model_copy(update={"n_events": 5000, "seed": 7, "n_files": 1})}),
        "tttt": base.datasets["tttt"].model_copy(update={"generator": base.datasets[
            "tttt"].generator.model_copy(update={"n_events": 1200, "seed": 8})}),
    }
    gen = base.generator.model_copy(update=generator)
    return base.model_copy(update={"cache_dir": str(cache), "datasets": datasets,
                                   "generator": gen})


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """(config, files) of the skimmed (shipped settings) and the unskimmed samples."""
    tmp = tmp_path_factory.mktemp("skim")
    out = {}
    for label, gen in (("skimmed", {}), ("full", {"skim": None, "pfcands_fatjet_pt_min": None})):
        config = _config(tmp / label, **gen)
        out[label] = (config, input_files(config, Path(".")))
    return out


def _run(config, files):
    fileset = build_fileset(config, files, skip_bad_files=False)
    infos = dataset_infos(config, fileset, Path("."))
    result = run_processor(config, fileset, infos, ClusterSpec("iterative", status=False),
                           chunksize=100_000)
    return result, infos


def _events(paths: list[str]) -> ak.Array:
    branches = ["event", "Jet_pt", "Jet_eta", "Jet_jetId", "Jet_btagDeepFlavB", "genWeight",
                "HLT_PFHT1050", "HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5"]
    return ak.concatenate([uproot.open(p)["Events"].arrays(branches) for p in paths])


def _preselectable(ev: ak.Array, config, pt_scale: float) -> np.ndarray:
    """Trigger OR and jet-level preselection with every jet pT scaled by ``pt_scale``."""
    pt = ev.Jet_pt * pt_scale
    good = (pt > config.jets.pt_min) & (abs(ev.Jet_eta) < config.jets.abs_eta_max) & (
        ev.Jet_jetId >= config.jets.jet_id_bit)
    wp = config.btag.working_points["synthetic"]
    pre = config.preselection
    fired = ev.HLT_PFHT1050 | ev.HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5
    return ak.to_numpy(fired & (ak.sum(pt[good], axis=1) >= pre.ht_min)
                       & (ak.sum(good, axis=1) >= pre.n_jets_min)
                       & (ak.sum(good & (ev.Jet_btagDeepFlavB > wp), axis=1) >= pre.n_b_min))


def test_the_skim_keeps_every_event_the_preselection_can_take(samples):
    config, skim_files = samples["skimmed"]
    _, full_files = samples["full"]
    for name in ("ttbar", "tttt"):
        skimmed, full = _events(skim_files[name]), _events(full_files[name])
        assert len(skimmed) < len(full)
        position = {int(e): i for i, e in enumerate(skimmed.event)}
        # jets 5 % harder than stored: more than JES Total or JER up moves them
        for scale in (1.0, 1.05):
            wanted = ak.to_numpy(full.event)[_preselectable(full, config, scale)]
            assert len(wanted) > 100
            missing = [int(e) for e in wanted if int(e) not in position]
            assert not missing, (name, scale, missing[:10])
        # ... and they are the same events: jets and trigger bits equal
        wanted = ak.to_numpy(full.event)[_preselectable(full, config, 1.0)]
        rows = np.array([position[int(e)] for e in wanted])
        full_rows = np.flatnonzero(_preselectable(full, config, 1.0))
        for field in ("Jet_pt", "Jet_btagDeepFlavB", "HLT_PFHT1050"):
            assert ak.all(skimmed[field][rows] == full[field][full_rows]), (name, field)
        # the manifest's written step is what the files hold
        steps = generator_cutflow(Path(skim_files[name][0]).parent,
                                  config.datasets[name].generator.process)
        assert steps["generator_skim"]["events"] == len(skimmed)
        assert steps["generator_skim"]["weighted"] == pytest.approx(
            float(ak.sum(skimmed.genWeight)), rel=1e-9)
        assert steps["generator_filter"]["events"] == len(full)


def _chi2(a, b) -> tuple[float, int]:
    """chi2 and bins of two histograms' nominal values, errors added as if independent."""
    va, vb = a.values(flow=True).ravel(), b.values(flow=True).ravel()
    var = a.variances(flow=True).ravel() + b.variances(flow=True).ravel()
    used = var > 0
    return float(((va - vb)[used] ** 2 / var[used]).sum()), int(used.sum())


def _nominal(h):
    return h[{"systematic": "nominal"}]


def test_skimmed_samples_give_the_unskimmed_results_after_the_preselection(samples):
    skimmed_config = samples["skimmed"][0]
    skimmed, infos_s = _run(*samples["skimmed"])
    full, infos_f = _run(*samples["full"])
    disk = {label: sum(Path(p).stat().st_size for paths in files.values() for p in paths)
            for label, (_, files) in samples.items()}
    assert disk["skimmed"] < 0.5 * disk["full"]
    for name in ("ttbar", "tttt"):
        # normalization from all generated events, skimmed or not
        assert infos_s[name].norm == pytest.approx(infos_f[name].norm, rel=1e-12)
        flow_s, flow_f = skimmed.output["cutflow"][name], full.output["cutflow"][name]
        for step in ("generated", "generator_filter"):
            assert flow_s[step] == flow_f[step]
        # weighted like the processor's steps: all generated events are xsec x lumi
        xsec_lumi = skimmed_config.datasets[name].xsec_pb * skimmed_config.luminosity_fb * 1e3
        assert flow_s["generated"]["weighted"] == pytest.approx(xsec_lumi, rel=1e-9)
        assert flow_s["generator_skim"]["weighted"] == pytest.approx(flow_s["all"]["weighted"],
                                                                    rel=1e-6)
        # every generated event is accounted for: the processor starts where the skim ends
        assert flow_s["all"]["events"] == flow_s["generator_skim"]["events"]
        assert flow_f["all"]["events"] == flow_f["generator_filter"]["events"]
        # the same events up to the lepton veto, whose random draws differ: within statistics
        n_s, n_f = flow_s[PRESELECTED]["events"], flow_f[PRESELECTED]["events"]
        assert n_f > 150
        assert abs(n_s - n_f) < 3 * np.sqrt(n_f), (name, n_s, n_f)
    for hname in COMPARED:
        chi2, bins = _chi2(_nominal(skimmed.output["hists"][hname]),
                           _nominal(full.output["hists"][hname]))
        assert bins > 0
        assert chi2 < bins + 5 * np.sqrt(2 * bins), (hname, chi2, bins)


def test_a_preselection_looser_than_the_skim_is_refused(tmp_path):
    config = _config(tmp_path)
    check_generator_skim(config)  # the shipped pair is consistent
    loose = config.model_copy(update={"preselection": config.preselection.model_copy(
        update={"ht_min": 500.0})})
    with pytest.raises(ConfigError, match=r"preselection.ht_min = 500 .*skim's 630"):
        check_generator_skim(loose)
    features = config.ml.features.model_copy(update={"boosted_min_pt": 200.0})
    low_tagger = config.model_copy(update={"ml": config.ml.model_copy(
        update={"features": features})})
    with pytest.raises(ConfigError, match="boosted_min_pt = 200"):
        check_generator_skim(low_tagger)


def test_the_run2_config_is_the_default_analysis_at_138_per_fb():
    from analysis.config import default_config_path
    from simulation.slices import slice_luminosities

    run2 = load_config(default_config_path().parent / "run2_config.yaml")
    default = load_config(None)
    assert run2.luminosity_fb == 138.0
    check_generator_skim(run2)
    for section in ("trigger", "leptons", "jets", "btag", "preselection", "regions",
                    "histograms", "generator", "corrections", "systematics", "ml", "fit",
                    "abcdnn"):
        assert getattr(run2, section) == getattr(default, section), section
    assert run2.cache_dir != default.cache_dir  # its own samples, never the default's
    truth = run2.datasets["data"].generator.truth
    slices = slice_luminosities(138.0, run2.generator.data_slice_fb,
                                truth.lumi_per_lumisection_pb)
    assert len(slices) == 69 and sum(slices) == pytest.approx(138.0)
    for name, ds in run2.datasets.items():  # simulation sized on its own, not by luminosity
        if ds.kind == "mc":
            assert ds.generator.n_events >= default.datasets[name].generator.n_events
