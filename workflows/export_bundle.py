"""The reinterpretation bundle (``<run>/export/bundle``): models with their metadata and
validation files, the likelihood, the b-tagging efficiency maps as correctionlib, the
published numbers and a README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.config import AnalysisConfig
from analysis.ml_features import MLFeatureSettings
from analysis.publish.correctionlib_tables import (
    write_correction_set,
    write_top_tag_correction_set,
)
from workflows import bundle as models
from workflows.outputs import write_json

README = """# fourtops reinterpretation bundle

Everything here is usable without the fourtops code.

- `models/*.onnx`: the published models. Their `metadata_props` carry the model card
  (JSON `inputs`, `outputs`, training samples, metrics, licence), weaver-style
  `preprocess_json`, and flat keys with comma-separated vectors (`input_names`,
  `<input>.var_names`, `<input>.median`, `<input>.norm_factor`, `<input>.lower_bound`,
  `<input>.upper_bound`, `<input>.preprocessing_in_model`, `<input>.transform`), as Rivet's
  RivetONNXrt reads them with `retrieve<T>(key)`.
- `validation/<model>.npz`: raw inputs (`input:<input>:<variable>`, or a whole tensor
  `input:<input>`) and the analysis pipeline's outputs on them (`output:<output>`): apply
  the metadata's preprocessing, run the model and compare.
- `likelihood/BkgOnly.json`, `likelihood/patchset.json`: the likelihood;
  `pyhf patchset apply likelihood/BkgOnly.json likelihood/patchset.json --name tttt` gives
  the signal-plus-background workspace, whose `pyhf digest` is in `digests.json`.
- `efficiency/btag_efficiency.json`: b-tagging efficiency and mistag rates versus pT and
  abs(eta) per hadron flavour (correctionlib; inputs wp, flavour, abseta, pt and quantity,
  `efficiency` or `stat`).
- `efficiency/top_tag_efficiency.json`: efficiency (genuine tops) and mistag rates of the
  boosted and resolved top taggers versus candidate pT and abs(eta) per generator origin
  (correctionlib; inputs origin, abseta, pt and quantity).
- `results.json`: the published numbers: mu-hat (MINOS), significance, limits.
- `example/generator_level.py`: the worked example (numpy, onnx and onnxruntime only):
  the generator-level selection and event-DNN recipe of its docstring applied to your
  GenJets (`python example/generator_level.py events.npz`); your efficiency should agree
  with `example/published_efficiency.json` within the statistical uncertainties.

Preprocessing, per input with `<input>.preprocessing_in_model = 0`: take the variables in
the order of `<input>.var_names`; apply `<input>.transform` where given (`logit`: clip the
score to [eps, 1 - eps] with eps = `<input>.logit_epsilon`, then log(s / (1 - s)); `log`:
natural log); then `clip((x - median) * norm_factor, lower_bound, upper_bound)`. With
`preprocessing_in_model = 1` feed the raw variables in that order: the graph standardizes.
The event DNN has two folds: apply each only to events of its `apply_to_event_parity`.
The ABCDnn map's conditions `c` are a one-hot N-jets block followed by a one-hot N-b block:
cell `<c>.cells[i]` has N-jets bin `<c>.n_jets_bin[i]` and N-b bin `<c>.n_b_bin[i]`.
"""


def input_file(outdir: Path, signal: str, pfnano: bool = False,
               only_signal: bool = False) -> Path | None:
    """A simulated input file of the run (from the process stage's summary) still on disk,
    the signal's first; with ``pfnano`` one with PF candidates. None if there is none."""
    summary = Path(outdir) / "process" / "summary.json"
    if not summary.is_file():
        return None
    inputs = json.loads(summary.read_text()).get("inputs", {})
    for dataset in sorted(inputs, key=lambda d: d != signal):
        if dataset == "data" or (only_signal and dataset != signal):
            continue
        for path, info in inputs[dataset].get("files", {}).items():
            if (info.get("pfnano") or not pfnano) and Path(path).is_file():
                return Path(path)
    return None


def genjet_arrays(path: Path, entries: int | None = None) -> dict[str, np.ndarray]:
    """GenJets of a NanoAOD file as the worked example takes them (flat arrays + counts)."""
    import awkward as ak
    import uproot

    with uproot.open(path) as f:
        tree = f["Events"]
        names = [f"GenJet_{k}" for k in ("pt", "eta", "phi", "mass", "hadronFlavour")]
        arrays = tree.arrays([*names, "event"], entry_stop=entries)
    out = {k.removeprefix("GenJet_"): ak.to_numpy(ak.flatten(arrays[k])) for k in names}
    out["counts"] = ak.to_numpy(ak.num(arrays["GenJet_pt"]))
    out["event"] = ak.to_numpy(arrays["event"])
    return out


def worked_example(folder: Path, source: Path | None) -> dict[str, Any] | None:
    """``example/``: the standalone generator-level script and the efficiency it gives on
    the run's signal sample (the published number a user reproduces with their events)."""
    import shutil

    from analysis.publish import generator_level

    example = folder / "example"
    example.mkdir(parents=True, exist_ok=True)
    shutil.copy2(generator_level.__file__, example / "generator_level.py")
    if source is None:
        return None
    arrays = genjet_arrays(source)
    models = sorted((folder / "models").glob("event_dnn_fold*.onnx"))
    published = generator_level.efficiency(
        models, arrays["counts"], arrays["pt"], arrays["eta"], arrays["phi"], arrays["mass"],
        arrays["hadronFlavour"], arrays["event"])
    published["source"] = f"generator-level events of {source.name} (the analysis' signal sample)"
    write_json(published, example / "published_efficiency.json")
    return published


def write_bundle(outdir: Path, config: AnalysisConfig, folder: Path,
                 features: pd.DataFrame | None, maps: list, digests: dict[str, str],
                 top_maps: list | None = None) -> dict[str, Any]:
    """Write the bundle into ``folder``; returns its index (also ``index.json``)."""
    from inference.client import make_client

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, str]] = {}
    ml = config.ml
    if ml is not None and ml.enabled and features is not None:
        repository = Path(ml.inference.repository)
        settings = MLFeatureSettings()
        written |= models.dnn_models(repository, settings.dnn_fold_models, features, folder)
        client = make_client(ml.inference)
        try:
            written[settings.resolved_model] = models.resolved_model(
                repository, settings.resolved_model, features, client,
                settings.resolved_max_jets, folder)
            source = input_file(outdir, config.fit.signal, pfnano=True)
            boosted = (models.boosted_model(repository, settings, source, client, folder)
                       if source is not None else None)
            if boosted is not None:
                written[settings.boosted_model] = boosted
        finally:
            client.close()
    example = None
    if any(name.startswith("event_dnn") for name in written):
        example = worked_example(folder, input_file(outdir, config.fit.signal,
                                                    only_signal=True))
    abcdnn = Path(outdir) / "models" / "abcdnn_map" / "1" / "model.onnx"
    if abcdnn.is_file() and features is not None:
        written["abcdnn_map"] = models.abcdnn_model(abcdnn, features, folder)
    if maps:
        write_correction_set(maps, folder / "efficiency" / "btag_efficiency.json")
    if top_maps:
        write_top_tag_correction_set(top_maps, folder / "efficiency" / "top_tag_efficiency.json")
    results = json.loads((Path(outdir) / "fit" / "results.json").read_text())
    write_json({k: results[k] for k in ("region", "luminosity_fb", "mu_hat", "mu_uncertainty",
                                        "mu_minos", "significance", "limit") if k in results},
               folder / "results.json")
    write_json(digests, folder / "digests.json")
    (folder / "README.md").write_text(README)
    index = {"models": written, "efficiency": bool(maps), "top_tag_efficiency": bool(top_maps),
             "worked_example": example}
    write_json(index, folder / "index.json")
    return index
