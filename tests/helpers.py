"""Small builders shared by tests (configs for real files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.config import AnalysisConfig, parse_config

TRIGGERS = {
    "2022": ["HLT_PFHT1050", "HLT_PFHT330PT30_QuadPFJet_75_60_45_40_TriplePFBTagDeepJet_4p5"],
    "2017": ["HLT_PFHT1050", "HLT_PFHT300PT30_QuadPFJet_75_60_45_40_TriplePFBTagCSV_3p0"],
}
WORKING_POINTS = {"2022": 0.3086, "2017": 0.3040}
HISTOGRAMS = {
    "ht": {"variable": "ht", "bins": 20, "start": 0, "stop": 3000, "label": "HT [GeV]"},
    "n_jets": {"variable": "n_jets", "bins": 10, "start": 4, "stop": 14, "label": "N jets"},
}


def real_files_config(nanoaod_dir: Path, **overrides: Any) -> AnalysisConfig:
    """A config over the real NanoAOD reference files, with the standard selection.

    ``overrides`` replace top-level sections (e.g. a looser ``preselection``).
    """
    data: dict[str, Any] = {
        "luminosity_fb": 1.0,
        "trigger": {"paths": TRIGGERS},
        "btag": {"working_points": WORKING_POINTS},
        "histograms": HISTOGRAMS,
        "datasets": {
            "tt_v12": {"process": "ttbar", "kind": "mc", "era": "2022", "xsec_pb": 834.0,
                       "files": [str(nanoaod_dir / "nano_tt_v12.root")]},
            "dy": {"process": "dy", "kind": "mc", "era": "2017", "xsec_pb": 6000.0,
                   "files": [str(nanoaod_dir / "nano_dy.root"),
                             str(nanoaod_dir / "nano_dy_empty.root")]},
            "pfnano": {"process": "ttbar", "kind": "mc", "era": "2017", "xsec_pb": 834.0,
                       "files": [str(nanoaod_dir / "pfnano.root")]},
        },
    }
    data.update(overrides)
    return parse_config(data)


def tt_file_inputs(nanoaod_dir: Path, path: str | None = None, ht_min: float = 0.0,
                   **fileset_options: Any) -> tuple[AnalysisConfig, Any, dict]:
    """(config, fileset, infos) of one tt̄ dataset on ``path`` (default: the real
    ``nano_tt_v12.root``) with a loose preselection, for runs of the processor."""
    from workflows.fileset import build_fileset
    from workflows.pipeline import dataset_infos

    path = path or str(nanoaod_dir / "nano_tt_v12.root")
    tt = {"process": "ttbar", "kind": "mc", "era": "2022", "xsec_pb": 834.0, "files": [path]}
    config = real_files_config(nanoaod_dir, datasets={"tt": tt},
                               preselection={"ht_min": ht_min, "n_jets_min": 0, "n_b_min": 0})
    fileset = build_fileset(config, {"tt": [path]}, skip_bad_files=False, **fileset_options)
    return config, fileset, dataset_infos(config, fileset, nanoaod_dir)
