"""Stage records and reuse: a stage reruns exactly when its inputs or settings change."""

from __future__ import annotations

import json

import pytest
import yaml

from analysis.abcdnn.settings import ABCDnnSettings
from analysis.config import default_config_path, parse_config
from tests.analysis.fit_inputs import make_inputs, template, write_run
from workflows import stages
from workflows.fit import run_fit_stage
from workflows.stages import digest, file_digest, reusable, write_record


def _config(**fit):
    data = yaml.safe_load(default_config_path().read_text())
    data["fit"] = {**data.get("fit", {}), "ranking": False, "scan_points": 5, **fit}
    return parse_config(data)


def test_digest_is_canonical_and_sensitive(tmp_path):
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    f = tmp_path / "x.parquet"
    f.write_bytes(b"one")
    first = file_digest([f])
    f.write_bytes(b"two")
    assert file_digest([f]) != first


def test_record_reused_only_with_same_hash_and_outputs(tmp_path):
    out = tmp_path / "result.json"
    out.write_text("{}")
    write_record(tmp_path, "fit", "abc", 1.0)
    assert reusable(tmp_path, "fit", "abc", [out])
    assert not reusable(tmp_path, "fit", "abd", [out])
    assert not reusable(tmp_path, "morph", "abc", [out])
    out.unlink()
    assert not reusable(tmp_path, "fit", "abc", [out])


def test_fit_stage_reuses_until_inputs_or_settings_change(tmp_path):
    write_run(tmp_path)
    first = run_fit_stage(tmp_path, _config(), figures=False)
    assert first["reused"] is False
    record = json.loads((tmp_path / "fit" / "stage.json").read_text())
    assert record["stage"] == "fit" and record["complete"] is True
    for name in ("workspace.json", "BkgOnly.json", "patchset.json", "results.json"):
        assert (tmp_path / "fit" / name).is_file()
    again = run_fit_stage(tmp_path, _config(), figures=False)
    assert again["reused"] is True and again["mu_hat"] == first["mu_hat"]
    # a changed setting refits
    changed = run_fit_stage(tmp_path, _config(luminosity_uncertainty=0.03), figures=False)
    assert changed["reused"] is False
    # so does a changed input (more data in the last bin)
    inputs = make_inputs()
    inputs.data[-1] += 20
    write_run(tmp_path, inputs)
    moved = run_fit_stage(tmp_path, _config(luminosity_uncertainty=0.03), figures=False)
    assert moved["reused"] is False and moved["mu_hat"] > changed["mu_hat"]


def test_morph_stage_reruns_only_when_features_or_settings_change(tmp_path, monkeypatch):
    calls = []

    class Result:
        def __init__(self, outdir):
            path = template().to_json(outdir / "abcdnn" / "templates" / "signal_nj9p_nb3p.json")
            self.template_paths = {"signal": path}
            self.summary = {"validation_closure": {"chi2": 1.0, "ndf": 5}}

    def fake_run_morph(features, outdir, settings):
        calls.append(settings.seed)
        return Result(outdir)

    monkeypatch.setattr("workflows.morph.run_morph", fake_run_morph)
    features = tmp_path / "process" / "features"
    features.mkdir(parents=True)
    (features / "ttbar.parquet").write_bytes(b"table 1")
    settings = ABCDnnSettings()
    assert stages.run_morph_stage(tmp_path, settings)["reused"] is False
    assert stages.run_morph_stage(tmp_path, settings)["reused"] is True
    assert stages.run_morph_stage(tmp_path, settings.model_copy(update={"seed": 7}))[
        "reused"] is False
    (features / "ttbar.parquet").write_bytes(b"table 2")
    assert stages.run_morph_stage(tmp_path, settings.model_copy(update={"seed": 7}))[
        "reused"] is False
    assert calls == [settings.seed, 7, 7]


def test_morph_stage_without_features_names_the_stage(tmp_path):
    from common.exceptions import BackgroundEstimateError

    with pytest.raises(BackgroundEstimateError, match="run the process stage first"):
        stages.run_morph_stage(tmp_path, ABCDnnSettings())


def test_code_digest_follows_the_source(tmp_path, monkeypatch):
    from workflows import code_version

    # the project's own: the fit code is part of the fit's digest, not of ABCDnn's
    assert code_version.code_digest("common", "analysis/fit") != code_version.code_digest(
        "common", "analysis/abcdnn")
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    (package / "notes.txt").write_text("not code")
    monkeypatch.setattr(code_version, "ROOT", tmp_path)
    first = code_version.code_digest.__wrapped__("pkg")
    (package / "notes.txt").write_text("other")
    assert code_version.code_digest.__wrapped__("pkg") == first  # only .py files count
    (package / "a.py").write_text("x = 2\n")
    assert code_version.code_digest.__wrapped__("pkg") != first


def test_stages_rerun_after_a_code_change(tmp_path, monkeypatch):
    write_run(tmp_path)
    assert run_fit_stage(tmp_path, _config(), figures=False)["reused"] is False
    assert run_fit_stage(tmp_path, _config(), figures=False)["reused"] is True
    # other fit code (an upgrade, an edit): the old results are not handed back
    monkeypatch.setattr("workflows.fit.code_digest", lambda *parts: "other code")
    assert run_fit_stage(tmp_path, _config(), figures=False)["reused"] is False
