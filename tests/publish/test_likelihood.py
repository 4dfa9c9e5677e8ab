"""The published likelihood: pyhf patchset apply of the patchset on BkgOnly.json gives the
workspace whose digest is quoted and whose fit returns the published mu-hat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyhf
import yaml

from analysis.fit.results import mle_fit, model_and_data
from analysis.fit.settings import FitSettings


def _pyhf(*args: str) -> str:
    # pyhf's own command line, installed beside this environment's python
    return subprocess.run([str(Path(sys.executable).with_name("pyhf")), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_patched_workspace_has_the_quoted_digest_and_the_published_mu(small_run, tmp_path):
    bundle = small_run / "export" / "bundle"
    patched = tmp_path / "tttt.json"
    _pyhf("patchset", "apply", str(bundle / "likelihood" / "BkgOnly.json"),
          str(bundle / "likelihood" / "patchset.json"), "--name", "tttt",
          "--output-file", str(patched))
    digest = _pyhf("digest", str(patched), "--plaintext")
    quoted = json.loads((bundle / "digests.json").read_text())
    assert digest == quoted["patched workspace"]
    head = next(yaml.safe_load_all(
        (small_run / "export" / "hepdata" / "submission.yaml").read_text()))
    (resource,) = [r for r in head["additional_resources"] if r.get("type") == "HistFactory"]
    assert digest in resource["description"]
    bkg = json.loads((bundle / "likelihood" / "BkgOnly.json").read_text())
    assert f"sha256:{pyhf.utils.digest(bkg)}" in resource["description"]
    # the fit of the patched workspace returns the published mu-hat
    spec = json.loads(patched.read_text())
    model, data = model_and_data(spec)
    fit = mle_fit(model, data, FitSettings())
    published = json.loads((bundle / "results.json").read_text())["mu_hat"]
    assert abs(float(fit.bestfit[model.config.poi_index]) - published) < 1e-6
    assert pyhf.Workspace(spec).model().config.poi_name == "mu"
