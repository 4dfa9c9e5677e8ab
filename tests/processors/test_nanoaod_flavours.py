"""Every NanoAOD flavour through the shipped default configuration (corrections, systematics,
ML on): the real reference files and variants made from them that mimic other versions
(Run 2 names, v15 without Jet_jetId), skims (no Runs, no PF candidates, no theory or pileup
weights) and RNTuple storage. Skipped without ../shared/data. The same run on a 2-worker
dask cluster takes about two minutes on two cores: it runs with ``FOURTOPS_SLOW=1``.
"""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from common.exceptions import InputFileError, SchemaCompatibilityError
from processors.compat import NEEDS_BOOSTED, inputs_summary
from tests.processors import nanoaod_variants as nv
from workflows.cluster import ClusterSpec
from workflows.fileset import build_fileset
from workflows.pipeline import dataset_infos, run_processor

pytestmark = [
    pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:.*RNTuple.*:UserWarning"),
]
THEORY_AND_PILEUP = ("LHEScaleWeight", "PSWeight", "Pileup_nTrueInt")


@pytest.fixture(scope="module")
def variants(nanoaod_dir, tmp_path_factory) -> dict[str, Path]:
    """name -> file; the real files first, then the variants made from them."""
    out = tmp_path_factory.mktemp("variants")
    v12 = nv.read_branches(nanoaod_dir / "nano_tt_v12.root")
    pf = nv.read_branches(nanoaod_dir / "pfnano.root")
    pf_runs = nv.runs_tree(nanoaod_dir / "pfnano.root")
    return {
        "real_v12": nanoaod_dir / "nano_tt_v12.root",
        "real_dy": nanoaod_dir / "nano_dy.root",
        "real_dy_empty": nanoaod_dir / "nano_dy_empty.root",
        "real_pfnano": nanoaod_dir / "pfnano.root",
        "like_v9": nv.write_ttree(nv.like_run2(v12), out / "like_v9.root"),
        "like_v15": nv.write_ttree(nv.like_v15(v12), out / "like_v15.root"),
        "rntuple": nv.write_rntuple(v12, out / "rntuple.root"),
        "rntuple_records": nv.write_rntuple(v12, out / "rntuple_records.root",
                                            collections=True),
        "no_pf_candidates": nv.write_ttree(nv.drop(pf, "PFCands_", "FatJetPFCands_"),
                                           out / "no_pf_candidates.root", pf_runs),
        "no_runs": nv.write_ttree(pf, out / "no_runs.root"),
        "no_theory_pileup": nv.write_ttree(nv.drop(v12, *THEORY_AND_PILEUP),
                                           out / "no_theory_pileup.root"),
        # collision data: no generator information at all
        "data_v12": nv.write_ttree(nv.drop(v12, "genWeight", "Gen", "nGen", "LHE", "nLHE",
                                           "PSWeight", "nPSWeight", "Pileup_", "Jet_hadronFlavour",
                                           "Jet_partonFlavour", "Jet_genJetIdx"),
                                   out / "data_v12.root"),
    }


ERAS = {"real_dy": "2017", "real_dy_empty": "2017", "real_pfnano": "2017",
        "no_pf_candidates": "2017", "no_runs": "2017"}


def _config(variants: dict[str, Path]):
    # the empty file joins the Drell-Yan dataset, as a real skim's empty output would
    files = {k: [p] for k, p in variants.items() if k != "real_dy_empty"}
    files["real_dy"].append(variants["real_dy_empty"])
    return nv.default_config_with({k: (f, ERAS.get(k, "2022"), "data" if k == "data_v12"
                                       else "mc") for k, f in files.items()})


@pytest.fixture(scope="module")
def checked(variants):
    cfg = _config(variants)
    files = {name: ds.files for name, ds in cfg.datasets.items()}
    fileset = build_fileset(cfg, files, skip_bad_files=False)
    return cfg, fileset, dataset_infos(cfg, fileset, Path("."))


@pytest.fixture(scope="module")
def iterative(checked):
    cfg, fileset, infos = checked
    return run_processor(cfg, fileset, infos, ClusterSpec("iterative", status=False),
                         chunksize=100)


def test_each_file_flavour_is_detected_from_its_branches(checked, variants):
    _, fileset, _ = checked
    fl = {name: ds.flavours[str(variants[name])] for name, ds in fileset.datasets.items()}
    assert fl["real_v12"].label == "Run 3 NanoAOD v12-v14, TTree"
    assert fl["real_dy"].label == "Run 2 NanoAOD v9 or older, TTree"
    assert fl["real_pfnano"].label == "Run 2 NanoAOD v9 or older, TTree, PFNano"
    assert fl["like_v15"].label == "Run 3 NanoAOD v15 or later, TTree"
    assert fl["rntuple"].storage == fl["rntuple_records"].storage == "RNTuple"
    assert fl["rntuple_records"].label == fl["real_v12"].label.replace("TTree", "RNTuple")
    assert fl["like_v9"].rho == "fixedGridRhoFastjetAll"
    assert fl["real_v12"].rho == "Rho_fixedGridRhoFastjetAll"
    assert (fl["real_v12"].jet_id, fl["like_v15"].jet_id) == ("stored", "recomputed")
    assert fl["real_pfnano"].boosted == "PFCands"
    assert fl["real_v12"].boosted == "FatJet_particleNetWithMass_TvsQCD"
    assert fl["no_pf_candidates"].boosted == "FatJet_particleNet_TvsQCD"
    assert fl["real_dy"].boosted is None  # Run 2 plain NanoAOD: DeepAK8 only
    # nano_tt_v12 is a skim without Runs; pfnano has no LHE weights and a placeholder PSWeight
    assert "Runs" in fl["real_v12"].absent and "Runs" not in fl["real_pfnano"].absent
    assert {"LHEScaleWeight", "PSWeight"} <= set(fl["real_pfnano"].absent)
    assert set(THEORY_AND_PILEUP) <= set(fl["no_theory_pileup"].absent)
    # data lack no optional input (generator weights are MC-only)
    assert fl["data_v12"].absent == () and fl["data_v12"].notes == fl["real_v12"].notes[:1]
    assert fileset.datasets["no_runs"].sumw_source == "Events"
    assert fileset.datasets["no_pf_candidates"].sumw_source == "Runs"


def _check_run(result, fileset, variants) -> dict:
    out = result.output
    summary = inputs_summary({n: ds.flavours for n, ds in fileset.datasets.items()},
                             out["skipped_variations"], out["entries"], {})
    for name, ds in fileset.datasets.items():  # no silent loss
        total = sum(ds.files.values())
        assert summary[name]["events"] == {"processed": total, "in_skipped_files": 0,
                                           "total": total}
        assert out["cutflow"][name]["all"]["events"] == total
    notes = {n: " ".join(note for f in rec["files"].values() for note in f["notes"])
             for n, rec in summary.items()}
    assert "tight jet ID recomputed" in notes["like_v15"]
    assert "rho read from fixedGridRhoFastjetAll" in notes["like_v9"]
    assert "FatJet_particleNet_TvsQCD" in notes["no_pf_candidates"]
    assert "marked missing" in notes["real_dy"]
    assert "no Runs tree" in notes["no_runs"]
    skipped = summary["no_theory_pileup"]["files"][str(variants["no_theory_pileup"])]
    assert skipped["skipped_variations"] == sorted(
        ["muRmuF_up", "muRmuF_down", "ISR_up", "ISR_down", "FSR_up", "FSR_down", "pileup_up",
         "pileup_down"])
    # skipped variations are not run (so not filled as copies of nominal), the others are
    ran = set(out["cutflow_variations"]["no_theory_pileup"])
    assert {"JES_Total_up", "JER_down", "btag_hf_up", "trigger_up"} <= ran
    assert not ran & set(skipped["skipped_variations"])
    assert set(skipped["skipped_variations"]) <= set(out["cutflow_variations"]["real_v12"])
    assert not out["cutflow_variations"]["data_v12"]  # data: nominal only
    # a file without any boosted-top source fills no histogram that needs one
    boosted = out["hists"]["boosted_top_score"]
    if "real_dy" in boosted.axes["process"]:
        assert boosted[{"process": "real_dy"}].sum().value == 0
    return summary


def test_default_config_runs_every_file_and_variant(iterative, checked, variants):
    _check_run(iterative, checked[1], variants)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("FOURTOPS_SLOW") != "1",
                    reason="2-worker dask run of every variant; set FOURTOPS_SLOW=1 to run it")
def test_two_worker_dask_gives_the_same_histograms(iterative, checked, variants):
    from distributed import LocalCluster

    cfg, fileset, infos = checked
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:  # any free port
        dask = run_processor(cfg, fileset, infos,
                             ClusterSpec("dask", scheduler=cluster.scheduler_address,
                                         status=False), chunksize=100)
    _check_run(dask, fileset, variants)
    for name, h in iterative.output["hists"].items():
        other = dask.output["hists"][name]
        for proc in h.axes["process"]:
            for syst in h.axes["systematic"]:
                a = h[{"process": proc, "systematic": syst}].values()
                b = other[{"process": proc, "systematic": syst}].values()
                np.testing.assert_allclose(a, b, rtol=1e-9, err_msg=f"{name} {proc} {syst}")


def test_recomputed_jet_id_agrees_with_the_stored_tight_bit(nanoaod_dir):
    from corrections.jet_id import jet_id_from_fractions, load_jet_id_criteria

    cols = ["eta", "pt", "jetId", "neHEF", "neEmEF", "chHEF", "chEmEF", "muEF", "nConstituents"]
    arrays = uproot.open(nanoaod_dir / "nano_tt_v12.root")["Events"].arrays(
        [f"Jet_{c}" for c in cols])
    jets = ak.zip({c: arrays[f"Jet_{c}"] for c in cols})
    recomputed = np.asarray(ak.flatten(jet_id_from_fractions(jets, load_jet_id_criteria())))
    stored = np.asarray(ak.flatten((jets.jetId & 2) != 0))
    differ = recomputed != stored
    assert len(stored) == 1504 and differ.sum() == 1
    # the one jet that differs sits on the neutral-EM cut (0.90): NanoAOD stores the fraction
    # with few mantissa bits (0.8984), CMSSW cut on the unrounded value
    nemef = np.asarray(ak.flatten(jets.neEmEF))[differ]
    assert np.all(np.abs(nemef - 0.90) < 0.01)
    # the jets the analysis selects (pT > 30 GeV, |eta| < 2.4) agree exactly
    pt, eta = np.asarray(ak.flatten(jets.pt)), np.abs(np.asarray(ak.flatten(jets.eta)))
    assert not differ[(pt > 30) & (eta < 2.4)].any()


def test_boosted_score_from_nanoaod_particlenet_without_pf_candidates(variants):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from processors.compat import boosted_columns

    cfg = _config(variants)
    path = variants["no_pf_candidates"]
    fileset = build_fileset(cfg, {"no_pf_candidates": [str(path)]}, skip_bad_files=False)
    flavour = fileset.datasets["no_pf_candidates"].flavours[str(path)]
    events = NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema,
                                         mode="eager").events()
    cols = boosted_columns(events, flavour, ml_columns=None, config=cfg)
    raw = uproot.open(path)["Events"].arrays(["FatJet_pt", "FatJet_eta",
                                              "FatJet_particleNet_TvsQCD"])
    ok = (raw.FatJet_pt > 300) & (abs(raw.FatJet_eta) < 2.4)
    expected = ak.to_numpy(ak.fill_none(ak.max(raw.FatJet_particleNet_TvsQCD[ok], axis=1), 0))
    assert ak.sum(ok) > 0  # some fat jets are tagged
    np.testing.assert_allclose(cols["boosted_top_score_max"], expected, rtol=1e-6)
    assert set(NEEDS_BOOSTED) >= set(cols)


@pytest.mark.parametrize("field", ["luminosityBlock", "event"])
def test_missing_event_id_stops_the_fileset_check_with_one_line(nanoaod_dir, tmp_path, field):
    v12 = nv.read_branches(nanoaod_dir / "nano_tt_v12.root", n=20)
    path = nv.write_ttree(nv.drop(v12, field), tmp_path / f"no_{field}.root")
    cfg = nv.default_config_with({"data": ([path], "2022", "data")})
    with pytest.raises(InputFileError) as info:
        build_fileset(cfg, {"data": [str(path)]}, skip_bad_files=False)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and repr(field) in message


def test_schema_gap_names_branch_file_and_flavour(nanoaod_dir, tmp_path):
    v12 = nv.read_branches(nanoaod_dir / "nano_tt_v12.root", n=20)
    path = nv.write_ttree(nv.drop(v12, "Rho_"), tmp_path / "no_rho.root")
    cfg = nv.default_config_with({"tt": ([path], "2022", "mc")})
    with pytest.raises(SchemaCompatibilityError) as info:
        build_fileset(cfg, {"tt": [str(path)]}, skip_bad_files=False)
    message = str(info.value)
    assert "compatibility gap, not a broken file" in message
    assert "'Rho_fixedGridRhoFastjetAll'" in message and str(path) in message
    assert "unknown NanoAOD" in message  # the flavour detected: no rho, no run period


def test_schema_gap_during_processing_does_not_blame_the_file(nanoaod_dir, tmp_path):
    """A gap met inside a chunk (here: a fileset checked without corrections, processed
    with them) stops the run with the gap's own words, not "fix or remove the file"."""
    from common.exceptions import IncompleteRunError

    v12 = nv.read_branches(nanoaod_dir / "nano_tt_v12.root", n=20)
    path = nv.write_ttree(nv.drop(v12, "Rho_"), tmp_path / "no_rho.root")
    cfg = nv.default_config_with({"tt": ([path], "2022", "mc")})
    fileset = build_fileset(cfg.model_copy(update={"corrections": None}),
                            {"tt": [str(path)]}, skip_bad_files=False)
    infos = dataset_infos(cfg, fileset, Path("."))
    with pytest.raises(IncompleteRunError) as info:
        run_processor(cfg.model_copy(update={"ml": None}), fileset, infos,
                      ClusterSpec("iterative", status=False), chunksize=100)
    message = str(info.value)
    assert "compatibility gap" in message and "Rho_fixedGridRhoFastjetAll" in message
    assert "fix or remove" not in message


def test_a_missing_runs_tree_can_be_made_an_error(nanoaod_dir):
    path = nanoaod_dir / "nano_tt_v12.root"  # a real skim without Runs
    cfg = nv.default_config_with({"tt": ([path], "2022", "mc")},
                                 inputs={"require_runs_tree": True})
    with pytest.raises(InputFileError, match="no 'Runs' tree"):
        build_fileset(cfg, {"tt": [str(path)]}, skip_bad_files=False)


def test_an_unanticipated_missing_field_is_called_a_gap_not_a_broken_file():
    from workflows.pipeline import _stopped

    try:  # what awkward raises for a column a file's schema lacks, wrapped like coffea does
        try:
            raise AttributeError("no field named 'Rho'")
        except AttributeError as inner:
            raise Exception("Failed processing file: WorkItem(filename='x.root', "
                            "entrystart=0, entrystop=40)") from inner
    except Exception as err:
        message = str(_stopped(err))
    assert "compatibility gap" in message and "no field named 'Rho'" in message
    assert "x.root" in message and "fix or remove" not in message


@pytest.mark.parametrize("name,era", [("nano_tt_v12.root", "2022"), ("nano_dy.root", "2017"),
                                      ("pfnano.root", "2017")])
def test_a_chunk_alone_gives_the_flavour_of_the_file_branches(nanoaod_dir, name, era):
    """A processor used outside the pipeline (no fileset check) detects the same flavour
    from the chunk's NanoEvents form as the fileset check does from the file's branches."""
    from coffea.nanoevents import NanoEventsFactory

    from processors.compat import branch_names, detect_flavour
    from workflows.pipeline import PipelineSchema

    path = str(nanoaod_dir / name)
    cfg = nv.default_config_with({"x": ([path], era, "mc")})
    events = NanoEventsFactory.from_root({path: "Events"}, schemaclass=PipelineSchema,
                                         mode="virtual").events()
    from_chunk = detect_flavour(path, branch_names(events), cfg, era, is_mc=True)
    from_file = detect_flavour(path, set(uproot.open(path)["Events"].keys()), cfg, era,
                               is_mc=True)
    assert from_chunk == from_file
