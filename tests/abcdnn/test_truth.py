"""Acceptance on generated NanoAOD: morphed target-cell prediction vs the true background.

Runs the whole chain (generator → processor → feature tables → ABCDnn) on the default
configuration plus a ``truth_background`` sample, so it takes many minutes: it runs only
with ``FOURTOPS_SLOW=1`` (``FOURTOPS_SLOW=1 pytest -m slow tests/abcdnn/test_truth.py``).
The luminosity is ``FOURTOPS_TRUTH_LUMI`` fb⁻¹ (default 2; the generator holds the whole
pseudo-data sample in memory, about 2.3 GB per fb⁻¹).
Pass: χ²/ndf ≤ 1.5 over the fit binning and ≥ 3x smaller χ² than raw tt̄ simulation, for
the validation and the signal grid.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = [
    pytest.mark.slow,
    # loky (futures executor) replaces a worker whose memory grew and says so with a
    # UserWarning raised in its manager thread; the "error" filter of the test
    # configuration turns that into a broken process pool.
    pytest.mark.filterwarnings("ignore:A worker was restarted:UserWarning"),
    pytest.mark.skipif(os.environ.get("FOURTOPS_SLOW") != "1",
                       reason="full-chain truth test; set FOURTOPS_SLOW=1 to run it"),
]

TRUTH = "truth_background"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    pytest.importorskip("simulation")
    from analysis.config import default_config_path
    from run_analysis import main

    folder = tmp_path_factory.mktemp("truth")
    config = yaml.safe_load(default_config_path().read_text())
    config["cache_dir"] = str(folder / "cache")
    config["luminosity_fb"] = float(os.environ.get("FOURTOPS_TRUTH_LUMI", "2"))
    config["systematics"]["enabled"] = False
    # An independent sample of the true background (other seed than the pseudo-data).
    config["datasets"][TRUTH] = {"process": TRUTH, "kind": "data", "era": "synthetic",
                                 "generator": {"process": TRUTH, "seed": 299, "n_files": 2}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = folder / "out"
    assert main(["--config", str(path), "--outdir", str(out), "--executor", "futures",
                 "--no-plots", "--quiet"]) == 0
    return out


def test_morphed_prediction_matches_true_background(run_dir) -> None:
    import torch

    from analysis.abcdnn.settings import ABCDnnSettings
    from analysis.abcdnn.truth import truth_closure
    from workflows.morph import load_features, run_morph

    torch.set_num_threads(1)
    truth = pd.read_parquet(run_dir / "features" / f"{TRUTH}.parquet")
    if "dnn_score" not in truth.columns:
        pytest.skip("the feature tables have no dnn_score yet (event DNN not wired in)")
    table = load_features(run_dir)
    table = table[table["process"] != TRUTH]
    settings = ABCDnnSettings()
    result = run_morph(table, run_dir, settings)
    for key, grid in (("validation", settings.validation_grid), ("signal", settings.signal_grid)):
        numbers = truth_closure(result.templates[key], table, truth, grid, settings)
        print(f"truth closure {key}: chi2/ndf {numbers['chi2_ndf']:.2f} (raw simulation "
              f"{numbers['chi2_raw_ndf']:.2f}, raw/morphed chi2 {numbers['improvement']:.1f})")
        assert numbers["chi2_ndf"] <= 1.5, (key, numbers)
        assert numbers["improvement"] >= 3.0, (key, numbers)
