"""The reinterpretation bundle (``<run>/export/bundle``): models with their metadata and
validation files, the likelihood, the b-tagging efficiency maps as correctionlib, the
published numbers and a README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.config import AnalysisConfig
from analysis.ml_features import MLFeatureSettings
from analysis.publish.correctionlib_tables import write_correction_set
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
- `results.json`: the published numbers: mu-hat (MINOS), significance, limits.

Preprocessing, per input with `<input>.preprocessing_in_model = 0`: take the variables in
the order of `<input>.var_names`; apply `<input>.transform` where given (`logit`: clip the
score to [eps, 1 - eps] with eps = `<input>.logit_epsilon`, then log(s / (1 - s)); `log`:
natural log); then `clip((x - median) * norm_factor, lower_bound, upper_bound)`. With
`preprocessing_in_model = 1` feed the raw variables in that order: the graph standardizes.
The event DNN has two folds: apply each only to events of its `apply_to_event_parity`.
The ABCDnn map's conditions `c` are a one-hot N-jets block followed by a one-hot N-b block:
cell `<c>.cells[i]` has N-jets bin `<c>.n_jets_bin[i]` and N-b bin `<c>.n_b_bin[i]`.
"""


def pfnano_file(outdir: Path) -> Path | None:
    """A simulated PFNano input file of the run (from the process stage's summary) that is
    still on disk: the boosted tagger's validation events. None if there is none."""
    summary = Path(outdir) / "process" / "summary.json"
    if not summary.is_file():
        return None
    inputs = json.loads(summary.read_text()).get("inputs", {})
    for dataset in sorted(inputs, key=lambda d: d != "tttt"):  # the signal first
        for path, info in inputs[dataset].get("files", {}).items():
            if dataset != "data" and info.get("pfnano") and Path(path).is_file():
                return Path(path)
    return None


def write_bundle(outdir: Path, config: AnalysisConfig, folder: Path,
                 features: pd.DataFrame | None, maps: list, digests: dict[str, str],
                 ) -> dict[str, Any]:
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
            source = pfnano_file(outdir)
            boosted = (models.boosted_model(repository, settings, source, client, folder)
                       if source is not None else None)
            if boosted is not None:
                written[settings.boosted_model] = boosted
        finally:
            client.close()
    abcdnn = Path(outdir) / "models" / "abcdnn_map" / "1" / "model.onnx"
    if abcdnn.is_file() and features is not None:
        written["abcdnn_map"] = models.abcdnn_model(abcdnn, features, folder)
    if maps:
        write_correction_set(maps, folder / "efficiency" / "btag_efficiency.json")
    results = json.loads((Path(outdir) / "fit" / "results.json").read_text())
    write_json({k: results[k] for k in ("region", "luminosity_fb", "mu_hat", "mu_uncertainty",
                                        "mu_minos", "significance", "limit") if k in results},
               folder / "results.json")
    write_json(digests, folder / "digests.json")
    (folder / "README.md").write_text(README)
    index = {"models": written, "efficiency": bool(maps)}
    write_json(index, folder / "index.json")
    return index
