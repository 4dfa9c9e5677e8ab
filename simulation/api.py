"""Public entry point: :func:`generate_dataset`, cached by a manifest beside the files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.exceptions import GeneratorError
from simulation.mc import Written, generate_filtered, write_mc
from simulation.memory import generation_allocator
from simulation.settings import MC_PROCESSES, GeneratorSettings, SampleSpec
from simulation.slices import generate_data_slices

_PROCESS_IDS = {p: i for i, p in enumerate(MC_PROCESSES + ("pseudodata", "truth_background"))}


def code_version() -> str:
    """Hash of the generator's source: a code change invalidates cached samples."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _key(spec: SampleSpec, settings: GeneratorSettings, luminosity_fb: float) -> str:
    payload = json.dumps({"spec": spec.model_dump(mode="json"),
                          "settings": settings.model_dump(mode="json"),
                          "luminosity_fb": luminosity_fb if spec.process in (
                              "pseudodata", "truth_background") else None,
                          "code": code_version()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _step(events: int, sumw: float) -> dict[str, float]:
    return {"events": int(events), "weighted": float(sumw)}


def generator_cutflow(out_dir: Path, process: str) -> dict[str, dict[str, float]] | None:
    """Events and Σ genWeight generated, passing the generator filter and written (after
    the skim) of an MC sample in ``out_dir``, from its manifest; None without one (data,
    or a sample from before these were recorded)."""
    manifest = Path(out_dir) / f"{process}.manifest.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text()).get("cutflow")


def generate_dataset(spec: SampleSpec, out_dir: Path, *, luminosity_fb: float,
                     settings: GeneratorSettings | None = None, processes: int = 1,
                     progress: Callable[[str], None] | None = None) -> list[Path]:
    """Generate (or reuse) the NanoAOD files of one sample; returns their paths.

    Files are ``<out_dir>/<process>_<NNN>.root``; ``<out_dir>/<process>.manifest.json``
    records the spec, settings and code version (and, for MC, the generator's cutflow:
    :func:`generator_cutflow`). When it matches and all files exist,
    nothing is regenerated. For pseudodata/truth_background, ``luminosity_fb`` is the
    certified luminosity and ``<out_dir>/certified_lumi.json`` is written beside them;
    for MC it only enters the manifest (weights are xsec*lumi*genWeight/sumw downstream).
    Pseudo-data above ``settings.data_slice_fb`` are made in slices
    (:mod:`simulation.slices`), ``processes`` at a time (the files do not depend on it).
    ``progress``, when given, gets a line when a sample starts and after each slice.
    """
    settings = settings or GeneratorSettings()
    if luminosity_fb <= 0:
        raise GeneratorError(f"luminosity_fb must be positive, got {luminosity_fb!r}")
    if spec.process in MC_PROCESSES and spec.process not in settings.processes:
        raise GeneratorError(f"no ProcessSettings for {spec.process!r} in settings.processes; "
                             f"known: {sorted(settings.processes)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / f"{spec.process}.manifest.json"
    key = _key(spec, settings, luminosity_fb)
    if manifest.exists():
        old = json.loads(manifest.read_text())
        paths = [out_dir / p for p in old.get("files", [])]
        if old.get("key") == key and paths and all(p.exists() for p in paths):
            return paths
        for p in paths:  # stale sample: remove its files before regenerating
            p.unlink(missing_ok=True)
        manifest.unlink()
    if progress is not None:
        what = (f"{spec.n_events} events" if spec.process in MC_PROCESSES
                else f"{luminosity_fb:g} fb^-1")
        progress(f"generating {spec.process} ({what}) in {out_dir}")
    with generation_allocator():  # see simulation.memory: page faults, not physics
        seed_seq = np.random.SeedSequence([spec.seed, _PROCESS_IDS[spec.process]])
        if spec.process in MC_PROCESSES:
            rng = np.random.default_rng(seed_seq.spawn(1)[0])
            gen = generate_filtered(rng, spec.process, spec.n_events, settings)
            written = Written()
            paths = write_mc(gen, spec.process, out_dir, spec.process, spec.n_files,
                             seed_seq.spawn(2)[1], settings, written)
            info = {"n_generated": gen.n_generated, "genEventSumw": gen.sumw,
                    "cutflow": {"generated": _step(gen.n_generated, gen.sumw),
                                "generator_filter": _step(gen.table.n_events,
                                                          float(gen.gen_weight.sum())),
                                "generator_skim": _step(written.events, written.sumw)}}
        else:
            paths, lumi_json = generate_data_slices(
                spec.process, out_dir, spec.n_files, spec.seed, luminosity_fb, settings,
                spec.truth, spec.signal_strength, processes, progress)
            (out_dir / "certified_lumi.json").write_text(json.dumps(lumi_json, indent=1))
            info = {}
    manifest.write_text(json.dumps({"key": key, "spec": spec.model_dump(mode="json"),
                                    "luminosity_fb": luminosity_fb,
                                    "code_version": code_version(),
                                    "files": [p.name for p in paths], **info}, indent=1))
    return paths
