"""Generated files: NanoAOD branch names/types, schema, determinism, Runs, cache, data."""

from __future__ import annotations

import json
import warnings

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from simulation import GeneratorSettings, SampleSpec, certified_lumi_json, generate_dataset

# counters are int32 (NanoAODv12 convention, as in nano_tt_v12.root); the older PFNano
# file has uint32 counters, so counters are compared against the v12 file only
ABSENT_TARGETS = ("Photon", "FsrPhoton", "SubJet", "GenJetAK8", "LowPtElectron", "Tau",
                  "GenVisTau")


def test_every_branch_matches_real_nanoaod(tttt_files, nanoaod_dir):
    ref = uproot.open(nanoaod_dir / "nano_tt_v12.root")["Events"]
    ref_pf = uproot.open(nanoaod_dir / "pfnano.root")["Events"]
    gen = uproot.open(tttt_files[0])["Events"]
    for name, branch in gen.items():
        if name in ref:
            expect = ref[name].interpretation
        elif name in ref_pf and not name.startswith("n"):
            expect = ref_pf[name].interpretation
        elif name in ("nPFCands", "nFatJetPFCands"):
            expect = ref["nJet"].interpretation  # every v12 counter is int32
        else:
            pytest.fail(f"branch {name} is in neither reference file")
        assert repr(branch.interpretation) == repr(expect), name


def test_schema_reads_without_warnings_on_used_collections(tttt_files):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = NanoEventsFactory.from_root({str(tttt_files[0]): "Events"},
                                         schemaclass=NanoAODSchema, mode="virtual").events()
        assert len(ev.Jet.pt.compute() if hasattr(ev.Jet.pt, "compute") else ev.Jet.pt) > 0
    for w in caught:
        # coffea warns for every cross-reference it knows; only those whose source or
        # target collection is not written may appear
        msg = str(w.message)
        source = msg.rsplit("for ", 1)[-1].split("_")[0]
        target = msg.rsplit("=> ", 1)[-1]
        assert source in ABSENT_TARGETS or target in ABSENT_TARGETS, msg


def test_deterministic_for_a_seed(tmp_path):
    spec = SampleSpec(process="ttH", n_events=500, seed=11)
    (a,) = generate_dataset(spec, tmp_path / "a", luminosity_fb=1.0)
    (b,) = generate_dataset(spec, tmp_path / "b", luminosity_fb=1.0)
    (c,) = generate_dataset(spec.model_copy(update={"seed": 12}), tmp_path / "c",
                            luminosity_fb=1.0)
    ta, tb, tc = (uproot.open(p)["Events"] for p in (a, b, c))
    for name in ta.keys():
        assert ta[name].array(library="ak").tolist() == tb[name].array(library="ak").tolist(), \
            name
    assert ta["Jet_pt"].array().tolist() != tc["Jet_pt"].array().tolist()


def test_runs_count_events_before_filter(tttt_files):
    total_count = sum(int(uproot.open(p)["Runs"]["genEventCount"].array()[0])
                      for p in tttt_files)
    total_sumw = sum(float(uproot.open(p)["Runs"]["genEventSumw"].array()[0])
                     for p in tttt_files)
    n_written = sum(uproot.open(p)["Events"].num_entries for p in tttt_files)
    assert n_written == 3000
    assert total_count > n_written  # the HT filter removed events that still count
    # ~25 % negative weights: sumw ~ (1 - 2*0.25) * count
    assert total_sumw == pytest.approx(0.5 * total_count, rel=0.05)
    w = np.concatenate([uproot.open(p)["Events"]["genWeight"].array(library="np")
                        for p in tttt_files])
    assert (w < 0).mean() == pytest.approx(0.25, abs=0.03)


def test_cache_reuses_files(tmp_path):
    spec = SampleSpec(process="ttW", n_events=200, seed=2)
    (p,) = generate_dataset(spec, tmp_path, luminosity_fb=1.0)
    mtime = p.stat().st_mtime_ns
    assert generate_dataset(spec, tmp_path, luminosity_fb=1.0) == [p]
    assert p.stat().st_mtime_ns == mtime
    (q,) = generate_dataset(spec.model_copy(update={"seed": 3}), tmp_path, luminosity_fb=1.0)
    assert q.stat().st_mtime_ns != mtime


def test_pseudodata_and_golden_json(tmp_path):
    lumi = 0.005
    paths = generate_dataset(SampleSpec(process="pseudodata", n_files=2, seed=5), tmp_path,
                             luminosity_fb=lumi)
    golden = json.loads((tmp_path / "certified_lumi.json").read_text())
    assert golden == certified_lumi_json(lumi)
    arrays = [uproot.open(p)["Events"].arrays(["run", "luminosityBlock"], library="np")
              for p in paths]
    run = np.concatenate([a["run"] for a in arrays])
    ls = np.concatenate([a["luminosityBlock"] for a in arrays])
    good = np.array([any(lo <= lb <= hi for lo, hi in golden.get(str(r), []))
                     for r, lb in zip(run, ls, strict=True)])
    # ~4 % of sections are not certified, and events fall in them at the same rate
    assert 0.01 < 1 - good.mean() < 0.1
    # the data skim: HT >= 650 GeV and >= 5 jets (pT > 30, |eta| < 2.4)
    jets = uproot.open(paths[0])["Events"].arrays(["Jet_pt", "Jet_eta"])
    good = (jets.Jet_pt > 30) & (abs(jets.Jet_eta) < 2.4)
    assert ak.all(ak.sum(jets.Jet_pt[good], axis=1) >= 650)
    assert ak.all(ak.sum(good, axis=1) >= 5)
    keys = uproot.open(paths[0])["Events"].keys()
    assert "genWeight" not in keys and "GenPart_pdgId" not in keys  # data-like


def test_large_samples_are_split_so_no_file_exceeds_the_cap(tmp_path):
    spec = SampleSpec(process="ttbar", n_events=250, seed=5, n_files=1)
    whole = generate_dataset(spec, tmp_path / "whole", luminosity_fb=1.0)
    capped = generate_dataset(spec, tmp_path / "capped", luminosity_fb=1.0,
                              settings=GeneratorSettings(max_events_per_file=100))
    assert len(whole) == 1 and len(capped) == 3
    entries = [uproot.open(p)["Events"].num_entries for p in capped]
    assert max(entries) <= 100 and sum(entries) == 250
    # the normalization is shared out over the files: the sum is the sample's total
    sumw = sum(uproot.open(p)["Runs"]["genEventSumw"].array(library="np").sum() for p in capped)
    total = uproot.open(whole[0])["Runs"]["genEventSumw"].array(library="np").sum()
    assert sumw == pytest.approx(total, rel=1e-12)
