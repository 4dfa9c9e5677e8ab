"""Train the taggers and the two-fold event DNN and write them into a model repository.

``train_all`` is what ``python run_analysis.py train`` runs: thin orchestration over the
training modules, one per model family (``inference.training.boosted``, ``.resolved``,
``.dnn_training``). Samples come from the synthetic NanoAOD generator
(``inference.training.samples``); event samples pass the analysis preselection of the
default config. Everything is deterministic for ``settings.seed``. Metrics are measured on
held-out events and stored in each model's metadata (and returned).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from common.exceptions import ConfigError
from inference.settings import DEFAULT_REPOSITORY
from inference.training.boosted import train_boosted_tagger
from inference.training.dnn_training import dnn_training_table, train_event_dnn
from inference.training.resolved import train_resolved_tagger
from inference.training.samples import AnalysisSelection, sample_dir
from inference.training.settings import TrainingSettings

log = logging.getLogger(__name__)
MODELS = ("boosted_top_tagger", "resolved_top_tagger", "event_dnn")


def train_all(
    repo_dir: Path = DEFAULT_REPOSITORY,
    settings: TrainingSettings | None = None,
    *,
    data_dir: Path | None = None,
    models: tuple[str, ...] = MODELS,
    selection: AnalysisSelection | None = None,
) -> dict[str, dict[str, Any]]:
    """Train ``models`` (taggers before the DNN, which uses them) into ``repo_dir``.

    Generated samples are cached under ``data_dir`` (a temporary folder when None);
    ``selection``: the analysis preselection of the samples (default config).
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ConfigError(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    settings = settings or TrainingSettings()
    selection = selection or AnalysisSelection()
    torch.set_num_threads(1)
    repo_dir = Path(repo_dir)
    out: dict[str, dict[str, Any]] = {}
    with sample_dir(data_dir) as d:
        if "boosted_top_tagger" in models:
            out["boosted_top_tagger"] = train_boosted_tagger(repo_dir, settings, d)
            log.info("boosted tagger: %s", out["boosted_top_tagger"])
        if "resolved_top_tagger" in models:
            out["resolved_top_tagger"] = train_resolved_tagger(repo_dir, settings, d, selection)
            log.info("resolved tagger: %s", out["resolved_top_tagger"])
        if "event_dnn" in models:
            table = dnn_training_table(repo_dir, settings, d, selection)
            out["event_dnn"] = train_event_dnn(repo_dir, settings, table)
            log.info("event DNN: %s", out["event_dnn"])
    return out


def main(argv: list[str] | None = None) -> int:
    """``python run_analysis.py train``: retrain the shipped models (generated samples)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(
        prog="run_analysis.py train",
        description="Train the boosted and resolved top taggers and the two-fold event DNN "
        "on generated samples and write them (with model cards) into a model repository.",
    )
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    parser.add_argument("--data-dir", type=Path, default=None, help="cache of generated samples")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--config", type=Path, default=None,
                        help="analysis config whose preselection the samples pass (default: "
                        "the shipped one)")
    args = parser.parse_args(argv)
    settings = TrainingSettings() if args.seed is None else TrainingSettings(seed=args.seed)
    from analysis.config import load_config

    selection = AnalysisSelection(load_config(args.config))
    start = time.perf_counter()
    metrics = train_all(args.repository, settings, data_dir=args.data_dir,
                        models=tuple(args.models), selection=selection)
    print(json.dumps(metrics, indent=1))
    print(
        f"trained {', '.join(args.models)} into {args.repository} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
