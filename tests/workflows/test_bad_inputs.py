"""Bad input files: a clear error naming the file, or skipped and listed; never half-written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.exceptions import InputFileError
from tests.helpers import real_files_config
from workflows.fileset import build_fileset
from workflows.outputs import staged_output


def _truncated_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture
def broken_files(nanoaod_dir, tmp_path):
    good = tmp_path / "good.root"
    shutil.copy(nanoaod_dir / "nano_tt_v12.root", good)
    truncated = _truncated_copy(nanoaod_dir / "nano_tt_v12.root", tmp_path / "truncated.root")
    garbage = tmp_path / "garbage.root"
    garbage.write_bytes(b"this is not a ROOT file" * 100)
    missing = tmp_path / "missing.root"
    return good, truncated, garbage, missing


def _config(nanoaod_dir, files):
    cfg = real_files_config(nanoaod_dir)
    datasets = {"tt": cfg.datasets["tt_v12"].model_copy(update={"files": [str(f) for f in files]})}
    return cfg.model_copy(update={"datasets": datasets})


@pytest.mark.parametrize("which", [1, 2, 3], ids=["truncated", "garbage", "missing"])
def test_bad_file_stops_with_its_name(nanoaod_dir, broken_files, which):
    good, bad = broken_files[0], broken_files[which]
    cfg = _config(nanoaod_dir, [good, bad])
    with pytest.raises(InputFileError) as info:
        build_fileset(cfg, {"tt": [str(good), str(bad)]}, skip_bad_files=False)
    assert str(bad) in str(info.value)
    assert "--skip-bad-files" in str(info.value)


def test_skip_bad_files_lists_them_with_events_held(nanoaod_dir, broken_files):
    good, truncated, garbage, missing = broken_files
    paths = [str(p) for p in (good, truncated, garbage, missing)]
    cfg = _config(nanoaod_dir, paths)
    fileset = build_fileset(cfg, {"tt": paths}, skip_bad_files=True)
    assert list(fileset.datasets["tt"].files) == [str(good)]
    bad = {b.path: b for b in fileset.bad_files}
    assert set(bad) == {str(truncated), str(garbage), str(missing)}
    # the truncated file still has a readable header: its 200 events are reported as lost
    assert bad[str(truncated)].events == 200
    assert bad[str(garbage)].events is None
    assert "does not exist" in bad[str(missing)].reason


def test_failed_run_leaves_no_output_folder_and_keeps_the_old_one(tmp_path):
    outdir = tmp_path / "out"
    outdir.mkdir()
    (outdir / "summary.json").write_text("old, complete run")
    with pytest.raises(RuntimeError), staged_output(outdir) as stage:
        (stage / "histograms.root").write_text("half")
        raise RuntimeError("processing died")
    assert (outdir / "summary.json").read_text() == "old, complete run"
    assert not (outdir / "histograms.root").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_dead_inference_server_stops_the_run_naming_server_and_file(nanoaod_dir, tmp_path):
    from analysis.config import MLSettings
    from common.exceptions import IncompleteRunError
    from inference.settings import InferenceSettings
    from workflows.cluster import ClusterSpec
    from workflows.pipeline import dataset_infos, run_processor

    dead = InferenceSettings(mode="grpc", url="127.0.0.1:1", retries=1, backoff_initial_s=0.01)
    cfg = real_files_config(nanoaod_dir).model_copy(update={"ml": MLSettings(inference=dead)})
    path = str(nanoaod_dir / "nano_tt_v12.root")
    cfg = cfg.model_copy(update={"datasets": {
        "tt": cfg.datasets["tt_v12"].model_copy(update={"files": [path]})}})
    fileset = build_fileset(cfg, {"tt": [path]}, skip_bad_files=False)
    infos = dataset_infos(cfg, fileset, tmp_path)
    with pytest.raises(IncompleteRunError) as info:
        run_processor(cfg, fileset, infos, ClusterSpec("iterative", status=False), 10_000)
    msg = str(info.value)
    assert "127.0.0.1:1" in msg and "nano_tt_v12.root" in msg and "No output" in msg
    assert "--skip-bad-files" not in msg  # the file is fine: don't send the user after it


def test_summary_accounts_for_every_event_of_a_dataset_with_a_skipped_file(
        nanoaod_dir, broken_files, tmp_path):
    """No silent loss: events processed + events in skipped files = events of the dataset."""
    from workflows.cluster import ClusterSpec
    from workflows.pipeline import dataset_infos, run_processor
    from workflows.report import format_summary, write_outputs

    good, truncated = broken_files[0], broken_files[1]
    paths = [str(good), str(truncated)]
    cfg = _config(nanoaod_dir, paths)
    fileset = build_fileset(cfg, {"tt": paths}, skip_bad_files=True)
    infos = dataset_infos(cfg, fileset, tmp_path)
    result = run_processor(cfg, fileset, infos, ClusterSpec("iterative", status=False), 10_000)
    summary = write_outputs(result, cfg, tmp_path / "out", plots=False)
    # 200 events read, 200 more in the truncated copy (its header still says so)
    assert summary["inputs"]["tt"]["events"] == {"processed": 200, "in_skipped_files": 200,
                                                 "total": 400}
    assert summary["inputs"]["tt"]["files"][str(good)]["flavour"] == (
        "Run 3 NanoAOD v12-v14, TTree")
    assert "tt: 400 events, 200 processed, 200 in skipped files" in format_summary(
        summary, tmp_path / "out")
