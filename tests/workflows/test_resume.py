"""Checkpoint and resume: an interrupted run finishes the rest and equals an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.exceptions import IncompleteRunError
from processors.fourtops import FourTopsProcessor
from tests.helpers import tt_file_inputs
from workflows.cluster import ClusterSpec
from workflows.pipeline import checkpointer_for, run_processor

CHUNK = 25  # nano_tt_v12.root has 200 events: 8 chunks

pytestmark = [pytest.mark.filterwarnings("ignore:Missing cross-reference:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Branch .* already exists:RuntimeWarning")]


class _Interrupted(Exception):
    pass


class FlakyProcessor(FourTopsProcessor):
    """Logs every chunk it processes and dies on the chunk starting at ``die_at``."""

    def __init__(self, *args, log: Path, die_at: int | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log, self.die_at = log, die_at

    def process(self, events):
        start = events.metadata["entrystart"]
        with self.log.open("a") as f:
            f.write(f"{start}\n")
        if start == self.die_at:
            raise _Interrupted(f"killed at entry {start}")
        return super().process(events)


def _setup(nanoaod_dir: Path, ht_min: float = 0.0):
    return tt_file_inputs(nanoaod_dir, ht_min=ht_min)


def _run(config, fileset, infos, log, die_at=None, checkpoints=None):
    import workflows.pipeline as pipeline

    original = pipeline.FourTopsProcessor
    pipeline.FourTopsProcessor = lambda *a, **k: FlakyProcessor(*a, log=log, die_at=die_at, **k)
    try:
        return run_processor(config, fileset, infos, ClusterSpec("iterative", status=False),
                             CHUNK, checkpoints=checkpoints)
    finally:
        pipeline.FourTopsProcessor = original


def _chunks(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.is_file() else []


def test_interrupted_run_resumes_with_only_the_rest_and_equal_histograms(nanoaod_dir, tmp_path):
    config, fileset, infos = _setup(nanoaod_dir)
    reference = _run(config, fileset, infos, tmp_path / "reference.log")
    all_chunks = sorted(_chunks(tmp_path / "reference.log"))
    assert len(all_chunks) == 8

    checkpoints = checkpointer_for(config, fileset, infos, tmp_path / "checkpoints")
    with pytest.raises(IncompleteRunError, match="killed at entry 100"):
        _run(config, fileset, infos, tmp_path / "first.log", die_at=100, checkpoints=checkpoints)
    done_before = checkpoints.stored_chunks()
    assert 0 < done_before < 8

    resumed = _run(config, fileset, infos, tmp_path / "second.log", checkpoints=checkpoints)
    second = _chunks(tmp_path / "second.log")
    assert len(second) == 8 - done_before  # only what the first attempt did not finish
    assert 100 in second
    assert resumed.resumed_chunks == done_before
    for name, h in reference.output["hists"].items():
        other = resumed.output["hists"][name]
        np.testing.assert_array_equal(h.values(flow=True), other.values(flow=True))
        np.testing.assert_array_equal(h.variances(flow=True), other.variances(flow=True))
    assert reference.output["cutflow"] == resumed.output["cutflow"]


def test_checkpoints_of_another_config_are_never_used(nanoaod_dir, tmp_path):
    config, fileset, infos = _setup(nanoaod_dir)
    first = checkpointer_for(config, fileset, infos, tmp_path / "checkpoints")
    _run(config, fileset, infos, tmp_path / "a.log", checkpoints=first)
    assert first.stored_chunks() == 8

    other_config, other_fileset, other_infos = _setup(nanoaod_dir, ht_min=300.0)
    other = checkpointer_for(other_config, other_fileset, other_infos, tmp_path / "checkpoints")
    assert other.key != first.key
    result = _run(other_config, other_fileset, other_infos, tmp_path / "b.log", checkpoints=other)
    assert len(_chunks(tmp_path / "b.log")) == 8  # everything reprocessed
    assert result.resumed_chunks == 0
    assert result.output["cutflow"]["tt"]["ht"]["events"] < \
        first_cutflow_events(config, fileset, infos, tmp_path)


def first_cutflow_events(config, fileset, infos, tmp_path) -> int:
    """Events after the HT step with the looser config (from its own checkpoints)."""
    checkpoints = checkpointer_for(config, fileset, infos, tmp_path / "checkpoints")
    result = _run(config, fileset, infos, tmp_path / "c.log", checkpoints=checkpoints)
    assert _chunks(tmp_path / "c.log") == []  # all 8 chunks from checkpoints
    return result.output["cutflow"]["tt"]["ht"]["events"]


def test_a_checkpoint_is_compressed_and_a_damaged_one_is_recomputed(tmp_path):
    from workflows.checkpoints import RunCheckpointer

    store = RunCheckpointer(tmp_path, "key")
    meta = {"dataset": "data", "fileuuid": "u1", "filename": "f.root", "entrystart": 0,
            "entrystop": 100}
    # a feature table's columns: floats of a few significant digits, as the processor's are
    features = {"ht": np.round(np.random.default_rng(1).exponential(300.0, 100_000), 1),
                "n_jets": np.full(100_000, 7, np.int32)}
    store.save({"features": features}, meta, None)
    (stored,) = list(tmp_path.rglob("*.pkl.zst"))
    assert stored.stat().st_size < 0.7 * sum(v.nbytes for v in features.values())
    back = store.load(meta, None)
    assert all(np.array_equal(back["features"][k], v) for k, v in features.items())
    assert store.stored_chunks() == 1
    stored.write_bytes(stored.read_bytes()[:1000])  # damaged on disk (writes are atomic)
    assert store.load(meta, None) is None
