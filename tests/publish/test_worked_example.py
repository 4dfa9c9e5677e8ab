"""The bundle's worked example: the published event DNN applied at generator level to
events a user makes (another seed than the published sample) reproduces the published
efficiency within the statistical uncertainties."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import awkward as ak
import numpy as np
import uproot

from simulation import SampleSpec, generate_dataset


def _user_events(tmp_path) -> dict[str, np.ndarray]:
    (path,) = generate_dataset(SampleSpec(process="tttt", n_events=1000, seed=12, n_files=1),
                               tmp_path / "mine", luminosity_fb=1.0)
    with uproot.open(path) as f:
        a = f["Events"].arrays([f"GenJet_{k}" for k in
                                ("pt", "eta", "phi", "mass", "hadronFlavour")] + ["event"])
    out = {k: ak.to_numpy(ak.flatten(a[f"GenJet_{k}"]))
           for k in ("pt", "eta", "phi", "mass", "hadronFlavour")}
    return out | {"counts": ak.to_numpy(ak.num(a["GenJet_pt"])),
                  "event": ak.to_numpy(a["event"])}


def test_user_events_reproduce_the_published_efficiency(small_run, tmp_path):
    example = small_run / "export" / "bundle" / "example"
    published = json.loads((example / "published_efficiency.json").read_text())
    events = _user_events(tmp_path)
    np.savez(tmp_path / "events.npz", **events)
    # the shipped script, run as a user runs it
    printed = subprocess.run([sys.executable, str(example / "generator_level.py"),
                              str(tmp_path / "events.npz")], check=True, capture_output=True,
                             text=True).stdout
    mine = json.loads(printed)
    assert mine["events"] == 1000 and published["events"] == 600
    for key in ("selection", "selection_and_dnn"):
        sigma = np.hypot(mine[f"{key}_stat"], published[f"{key}_stat"])
        assert 0.05 < mine[key] < 0.95
        assert abs(mine[key] - published[key]) < 2 * sigma, (key, mine, published)


def test_example_script_needs_only_numpy_onnx_onnxruntime(small_run):
    path = small_run / "export" / "bundle" / "example" / "generator_level.py"
    spec = importlib.util.spec_from_file_location("example", path)
    source = path.read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "json", "pathlib", "numpy", "onnx", "onnxruntime"}
    assert spec is not None
