"""The pyhf model built from fit inputs: samples, modifiers, pruning, symmetrization, and
the HEPData pair (background-only workspace + signal patchset)."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest
from click.testing import CliRunner
from pyhf.cli import cli

from analysis.fit.model import background_only, build_workspace, variation_pairs
from common.exceptions import FitError
from tests.analysis.fit_inputs import BACKGROUND, SIGNAL, TILT, make_inputs, settings


def _modifiers(spec: dict, sample: str) -> dict[tuple[str, str], dict]:
    (channel,) = spec["channels"]
    (entry,) = [s for s in channel["samples"] if s["name"] == sample]
    return {(m["name"], m["type"]): m["data"] for m in entry["modifiers"]}


def test_samples_and_their_modifiers():
    spec, report = build_workspace(make_inputs(), settings())
    model = pyhf.Workspace(spec).model()
    assert model.config.samples == sorted(["abcdnn", "tttt", "ttW", "ttZ", "ttH"])
    assert model.config.poi_name == "mu"
    signal = _modifiers(spec, "tttt")
    assert ("mu", "normfactor") in signal
    assert signal[("lumi", "normsys")] == {"hi": 1.016, "lo": 0.984}
    # JES: +5 % / -4 % on the yield, no shape change -> normsys kept, histosys pruned
    assert signal[("JES_Total", "normsys")] == pytest.approx({"hi": 1.05, "lo": 0.96})
    assert ("JES_Total", "histosys") not in signal
    assert {"sample": "tttt", "systematic": "JES_Total", "type": "histosys",
            "effect": pytest.approx(0.0, abs=1e-12)} in report.pruned
    ttw = _modifiers(spec, "ttW")
    assert ttw[("xsec_ttW", "normsys")] == pytest.approx({"hi": 1.13, "lo": 0.87})
    assert ("mu", "normfactor") not in ttw
    background = _modifiers(spec, "abcdnn")
    assert background[("abcdnn_norm", "normsys")] == pytest.approx({"hi": 1.05, "lo": 0.95})
    assert background[("abcdnn_ensemble", "histosys")]["hi_data"] == pytest.approx(
        1.03 * BACKGROUND)
    assert ("abcdnn_nonclosure", "histosys") in background
    assert background[("staterror_nj9p_nb3p", "staterror")] == pytest.approx(0.02 * BACKGROUND)
    # the expected yield at nominal parameters is the sum of the inputs
    expected = model.expected_actualdata(model.config.suggested_init())
    assert expected == pytest.approx(BACKGROUND * 1.12 + SIGNAL)


def test_one_sided_variation_is_mirrored():
    spec, report = build_workspace(make_inputs(), settings())
    isr = _modifiers(spec, "tttt")
    # ISR_up only: down = 2·nominal - up, then split into yield (normsys) and shape
    up, down = SIGNAL * TILT, 2 * SIGNAL - SIGNAL * TILT
    hi, lo = up.sum() / SIGNAL.sum(), down.sum() / SIGNAL.sum()
    assert isr[("ISR", "normsys")] == pytest.approx({"hi": hi, "lo": lo})
    assert isr[("ISR", "histosys")]["hi_data"] == pytest.approx(up / hi)
    assert isr[("ISR", "histosys")]["lo_data"] == pytest.approx(down / lo)
    assert {"sample": "tttt", "systematic": "ISR"} in report.symmetrized


def test_threshold_prunes_small_effects():
    spec, report = build_workspace(make_inputs(), settings(prune_threshold=0.2))
    assert not any(name in ("JES_Total", "ISR") for name, _ in _modifiers(spec, "ttH"))
    assert {(p["sample"], p["systematic"], p["type"]) for p in report.pruned} >= {
        ("ttH", "JES_Total", "normsys"), ("ttH", "ISR", "histosys")}


def test_free_background_normalization():
    spec, _ = build_workspace(make_inputs(), settings(background_normalization="free"))
    assert ("abcdnn_norm", "normfactor") in _modifiers(spec, "abcdnn")
    model = pyhf.Workspace(spec).model()
    assert "abcdnn_norm" in model.config.parameters
    assert model.config.suggested_bounds()[model.config.par_slice("abcdnn_norm").start] == [0, 10]


def test_normalization_nonclosure_is_its_own_normsys():
    inputs = make_inputs()
    assert ("abcdnn_norm_nonclosure", "normsys") not in _modifiers(
        build_workspace(inputs, settings())[0], "abcdnn")
    inputs.background.normalization_nonclosure = 0.08
    spec, _ = build_workspace(inputs, settings())
    background = _modifiers(spec, "abcdnn")
    assert background[("abcdnn_norm_nonclosure", "normsys")] == pytest.approx(
        {"hi": 1.08, "lo": 0.92})
    assert background[("abcdnn_norm", "normsys")] == pytest.approx({"hi": 1.05, "lo": 0.95})
    # a free normalization absorbs it
    free, _ = build_workspace(inputs, settings(background_normalization="free"))
    assert ("abcdnn_norm_nonclosure", "normsys") not in _modifiers(free, "abcdnn")


def test_variation_names_must_say_their_side():
    assert variation_pairs(["a_up", "a_down", "b_up"]) == {"a": ("a_up", "a_down"),
                                                           "b": ("b_up", None)}
    with pytest.raises(FitError, match="'JES_plus'"):
        variation_pairs(["JES_plus"])


def test_patchset_restores_the_workspace(tmp_path):
    spec, _ = build_workspace(make_inputs(), settings())
    bkg, patchset = background_only(spec, "tttt")
    assert "tttt" not in pyhf.Workspace(bkg).samples
    (tmp_path / "BkgOnly.json").write_text(json.dumps(bkg))
    (tmp_path / "patchset.json").write_text(json.dumps(patchset))
    out = tmp_path / "patched.json"
    result = CliRunner().invoke(cli, ["patchset", "apply", str(tmp_path / "BkgOnly.json"),
                                      str(tmp_path / "patchset.json"), "--name", "tttt",
                                      "--output-file", str(out)])
    assert result.exit_code == 0, result.output
    patched = pyhf.Workspace(json.loads(out.read_text()))
    assert patched == pyhf.Workspace(spec)
    pars = patched.model().config.suggested_init()
    assert np.allclose(patched.model().expected_data(pars),
                       pyhf.Workspace(spec).model().expected_data(pars))


def test_extrapolation_is_its_own_histosys():
    inputs = make_inputs()
    assert ("abcdnn_extrapolation", "histosys") not in _modifiers(
        build_workspace(inputs, settings())[0], "abcdnn")
    up, down = BACKGROUND * TILT, BACKGROUND * TILT[::-1]
    inputs.background.extrapolation_up, inputs.background.extrapolation_down = (
        up.tolist(), down.tolist())
    background = _modifiers(build_workspace(inputs, settings())[0], "abcdnn")
    data = background[("abcdnn_extrapolation", "histosys")]
    np.testing.assert_allclose(data["hi_data"], up)
    np.testing.assert_allclose(data["lo_data"], down)


def test_signal_leakage_is_a_sample_scaled_by_mu():
    """The template subtracted the signal at μ = 2 and records 3 leaked events per unit μ:
    the background gets the 2 x 3 events back (all its yields alike), a sample of -3
    events in the template's shape moves with μ, and the patchset carries it."""
    inputs = make_inputs()
    inputs.background.normalization |= {"signal_leakage": 3.0, "subtracted_signal_strength": 2.0}
    spec, report = build_workspace(inputs, settings())
    assert report.signal_leakage == 3.0
    (channel,) = spec["channels"]
    samples = {s["name"]: s for s in channel["samples"]}
    scale = 1 + 2 * 3.0 / BACKGROUND.sum()
    assert samples["abcdnn"]["data"] == pytest.approx(scale * BACKGROUND)
    assert _modifiers(spec, "abcdnn")[("abcdnn_ensemble", "histosys")]["hi_data"] == (
        pytest.approx(scale * 1.03 * BACKGROUND))
    assert samples["tttt_leakage"]["data"] == pytest.approx(-3.0 * BACKGROUND / BACKGROUND.sum())
    assert ("mu", "normfactor") in _modifiers(spec, "tttt_leakage")
    model = pyhf.Workspace(spec).model()
    pars = np.asarray(model.config.suggested_init())
    at = {}
    for mu in (0.0, 2.0):
        pars[model.config.poi_index] = mu
        at[mu] = np.asarray(model.expected_actualdata(pars))
    # from μ = 0 to 2 the total grows by twice the signal less twice the leaked events
    assert at[2.0] - at[0.0] == pytest.approx(2 * SIGNAL - 6.0 * BACKGROUND / BACKGROUND.sum())
    bkg, patchset = background_only(spec, "tttt")
    assert not {"tttt", "tttt_leakage"} & set(pyhf.Workspace(bkg).samples)
    patched = pyhf.PatchSet(patchset).apply(pyhf.Workspace(bkg), "tttt")
    assert patched == pyhf.Workspace(spec)
    # switched off: no leakage sample, the template as it is
    spec_off, _ = build_workspace(inputs, settings(signal_leakage=False))
    assert "tttt_leakage" not in pyhf.Workspace(spec_off).samples
    assert _modifiers(spec_off, "abcdnn")[("abcdnn_ensemble", "histosys")]["hi_data"] == (
        pytest.approx(1.03 * BACKGROUND))
