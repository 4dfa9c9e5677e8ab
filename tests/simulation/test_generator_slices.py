"""Pseudo-data of a large luminosity in slices: the same certified luminosity, unique event
IDs, every event in a certified or uncertified section of the JSON's runs, and one slice is
the unsliced generation."""

from __future__ import annotations

import json

import numpy as np
import uproot

from simulation import GeneratorSettings, SampleSpec, generate_dataset
from simulation.slices import slice_luminosities
from simulation.truth import generate_data

SECTION_PB = 0.05  # TruthModelSettings.lumi_per_lumisection_pb


def _ids(paths) -> np.ndarray:
    arrays = [uproot.open(p)["Events"].arrays(["run", "luminosityBlock", "event"],
                                              library="np") for p in paths]
    return np.concatenate([np.stack([a["run"], a["luminosityBlock"], a["event"]], axis=1)
                           for a in arrays]).astype(np.int64)


def test_slices_are_whole_sections_adding_up_to_the_luminosity():
    lumis = slice_luminosities(138.0, 2.0, SECTION_PB)
    assert len(lumis) == 69
    assert sum(round(x * 1000 / SECTION_PB) for x in lumis) == round(138.0 * 1000 / SECTION_PB)
    assert max(lumis) <= 2.0 + 1e-9
    assert slice_luminosities(1.0, 2.0, SECTION_PB) == [1.0]


def test_sliced_pseudodata_have_unique_ids_and_the_whole_certified_luminosity(tmp_path):
    lumi = 0.009
    settings = GeneratorSettings(data_slice_fb=0.003)
    spec = SampleSpec(process="pseudodata", seed=5, n_files=3)
    lines: list[str] = []
    paths = generate_dataset(spec, tmp_path, luminosity_fb=lumi, settings=settings, processes=2,
                             progress=lines.append)
    # a batch log says what is being made and how far it got, slice by slice
    assert lines == [f"generating pseudodata (0.009 fb^-1) in {tmp_path}",
                     "pseudodata: slice 1/3 written (0.003 of 0.009 fb^-1)",
                     "pseudodata: slice 2/3 written (0.006 of 0.009 fb^-1)",
                     "pseudodata: slice 3/3 written (0.009 of 0.009 fb^-1)"]
    lines.clear()  # a cached sample is reused silently
    assert generate_dataset(spec, tmp_path, luminosity_fb=lumi, settings=settings,
                            progress=lines.append) == paths and lines == []
    assert len(paths) == 3 and {p.name for p in paths} == {
        "pseudodata_000_000.root", "pseudodata_001_000.root", "pseudodata_002_000.root"}
    ids = _ids(paths)
    assert len(ids) > 300
    assert len(np.unique(ids, axis=0)) == len(ids)
    certified = json.loads((tmp_path / "certified_lumi.json").read_text())
    sections = {(int(run), ls) for run, ranges in certified.items()
                for a, b in ranges for ls in range(a, b + 1)}
    assert len(sections) == round(lumi * 1000 / SECTION_PB)
    # the slices' runs follow one another; each event sits in one of their sections
    # (certified, or one of the ~4 % that are not)
    runs = {int(r) for r in certified}
    assert set(np.unique(ids[:, 0]).tolist()) <= runs | {max(runs) + 1}
    in_certified = np.array([(r, ls) in sections for r, ls in ids[:, :2]])
    assert 0.9 < in_certified.mean() < 1.0
    # each slice has its own events: not copies of each other
    per_file = [_ids([p])[:, 2] for p in paths]
    assert len(set(per_file[0][:50]) & set(per_file[1][:50])) < 50


def test_one_slice_is_the_unsliced_generation(tmp_path):
    settings = GeneratorSettings()
    spec = SampleSpec(process="pseudodata", seed=6, n_files=1)
    sliced = generate_dataset(spec, tmp_path / "a", luminosity_fb=0.003, settings=settings,
                              processes=2)
    (tmp_path / "b").mkdir()
    direct = generate_data("pseudodata", tmp_path / "b", "pseudodata", 1, 6, 0.003, settings,
                           spec.truth, spec.signal_strength)
    a = uproot.open(sliced[0])["Events"].arrays(["event", "Jet_pt", "nPFCands"])
    b = uproot.open(direct[0])["Events"].arrays(["event", "Jet_pt", "nPFCands"])
    assert len(a) == len(b) > 0
    for field in ("event", "Jet_pt", "nPFCands"):
        assert a[field].tolist() == b[field].tolist()
