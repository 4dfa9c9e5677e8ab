"""Files written in several chunks of events, and the allocator settings during generation."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

import simulation.writer
from simulation import SampleSpec, generate_dataset
from simulation.memory import _set_numpy_hugepages, generation_allocator


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 300 events, so that small samples are written in several baskets."""
    monkeypatch.setattr(simulation.writer, "EVENTS_PER_CHUNK", 300)


def _check_links(tree) -> None:
    """Every FatJetPFCands entry points at an existing fat jet and PF candidate."""
    a = tree.arrays(["nFatJet", "nPFCands", "FatJet_nConstituents", "FatJetPFCands_jetIdx",
                     "FatJetPFCands_pFCandsIdx"])
    assert ak.all(ak.sum(a.FatJet_nConstituents, axis=1) == a.nPFCands)
    assert ak.all((a.FatJetPFCands_jetIdx >= 0) & (a.FatJetPFCands_jetIdx < a.nFatJet))
    idx = a.FatJetPFCands_pFCandsIdx
    assert ak.all(idx == ak.local_index(idx))  # candidates are stored jet after jet


def test_mc_file_written_in_chunks(tmp_path, small_chunks):
    (path,) = generate_dataset(SampleSpec(process="ttbar", n_events=1000, seed=8), tmp_path,
                               luminosity_fb=1.0)
    t = uproot.open(path)["Events"]
    assert t.num_entries == 1000
    assert t["Jet_pt"].num_baskets == 4  # 300 + 300 + 300 + 100
    assert np.array_equal(t["event"].array(library="np"), np.arange(1, 1001))
    _check_links(t)
    # the chunks are different events: no chunk repeats another's random numbers
    pt = t["Jet_pt"].array()[:, 0].to_numpy()
    assert len(np.unique(pt)) == 1000


def test_data_file_written_in_chunks(tmp_path, small_chunks):
    paths = generate_dataset(SampleSpec(process="pseudodata", n_files=1, seed=5), tmp_path,
                             luminosity_fb=0.005)
    t = uproot.open(paths[0])["Events"]
    assert t["Jet_pt"].num_baskets > 1
    events = t["event"].array(library="np")
    assert len(np.unique(events)) == len(events) > 300
    _check_links(t)
    # the Runs tree lists exactly the runs of the events written
    runs = np.sort(uproot.open(paths[0])["Runs"]["run"].array(library="np"))
    assert np.array_equal(runs, np.unique(t["run"].array(library="np")))


def test_allocator_settings_are_put_back():
    before = _set_numpy_hugepages(True)
    try:
        with generation_allocator():
            assert _set_numpy_hugepages(False) is False  # off while generating
        assert _set_numpy_hugepages(True) is True  # back on afterwards
        with pytest.raises(RuntimeError), generation_allocator():
            raise RuntimeError("generation failed")
        assert _set_numpy_hugepages(True) is True  # also after an error
    finally:
        _set_numpy_hugepages(before)
