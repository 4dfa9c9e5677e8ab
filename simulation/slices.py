"""Pseudo-data of a large luminosity as independent slices, generated side by side.

The truth model simulates all parton events of a sample in memory at once (about 1.5 GB per
fb^-1), so 138 fb^-1 cannot be made in one piece. Poisson counts of independent slices add
up to the Poisson count of their sum, so slices of ``GeneratorSettings.data_slice_fb`` each
with its own seed and its own run numbers are the same pseudo-data statistically: slice
``k`` starts its runs where slice ``k - 1`` ended, so (run, luminosity block, event) stays
unique and the certified-luminosity JSON is the union of the slices'. A luminosity of one
slice or less is generated exactly as before (one piece, the sample's own seed).
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from simulation.memory import generation_allocator
from simulation.settings import GeneratorSettings, TruthModelSettings
from simulation.truth import certified_lumi_json, generate_data, lumi_sections


def slice_luminosities(luminosity_fb: float, slice_fb: float, section_pb: float) -> list[float]:
    """Nearly equal slices of at most about ``slice_fb`` adding up to ``luminosity_fb``, each
    a whole number of certified lumi sections of ``section_pb`` (so that the slices'
    certified sections add up to those of the whole)."""
    n = max(1, math.ceil(luminosity_fb / slice_fb - 1e-9))
    if n == 1:
        return [luminosity_fb]
    sections = round(luminosity_fb * 1000.0 / section_pb)
    edges = np.linspace(0, sections, n + 1).round().astype(int)
    return [float(b - a) * section_pb / 1000.0 for a, b in zip(edges[:-1], edges[1:],
                                                                 strict=True)]


def slice_truths(truth: TruthModelSettings, lumis: list[float]) -> list[TruthModelSettings]:
    """``truth`` per slice, each slice's runs numbered after those of the slices before."""
    out, first = [], truth.first_run
    for lumi in lumis:
        out.append(truth if first == truth.first_run else
                   truth.model_copy(update={"first_run": first}))
        runs, _, _ = lumi_sections(lumi, out[-1])
        first = int(runs.max()) + 1
    return out


def slice_seed(seed: int, k: int) -> int:
    """The seed of slice ``k``: the sample's own for slice 0, derived from it otherwise."""
    return seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def _one_slice(args: tuple) -> list[Path]:
    kind, out_dir, stem, n_files, seed, lumi, s, truth, mu = args
    with generation_allocator():  # in a worker process as in the parent
        return generate_data(kind, out_dir, stem, n_files, seed, lumi, s, truth, mu)


def generate_data_slices(kind: str, out_dir: Path, n_files: int, seed: int,
                         luminosity_fb: float, s: GeneratorSettings, truth: TruthModelSettings,
                         signal_strength: float, processes: int = 1,
                         progress: Callable[[str], None] | None = None,
                         ) -> tuple[list[Path], dict[str, list[list[int]]]]:
    """Files of ``kind`` (pseudodata, truth_background) for ``luminosity_fb`` in slices,
    ``processes`` at a time, and their certified-luminosity JSON content.

    One slice writes ``<kind>_<NNN>.root``; several write ``<kind>_<KKK>_<NNN>.root``.
    ``progress`` is called with a line after each slice (an hour of 138 fb^-1 is otherwise
    silent in a batch log).
    """
    lumis = slice_luminosities(luminosity_fb, s.data_slice_fb, truth.lumi_per_lumisection_pb)
    n = len(lumis)
    truths = slice_truths(truth, lumis)
    jobs = [(kind, Path(out_dir), kind if n == 1 else f"{kind}_{k:03d}",
             max(1, math.ceil(n_files / n)), slice_seed(seed, k), lumi, s, truths[k],
             signal_strength) for k, lumi in enumerate(lumis)]

    paths: list[list[Path]] = []

    def finished(slice_paths: list[Path]) -> None:
        paths.append(slice_paths)
        if progress is not None and n > 1:
            progress(f"{kind}: slice {len(paths)}/{n} written ({sum(lumis[:len(paths)]):.3g} "
                     f"of {luminosity_fb:g} fb^-1)")

    if processes <= 1 or n == 1:
        for job in jobs:
            finished(_one_slice(job))
    else:  # fork: no main-module guard needed in the caller's script (Linux, macOS)
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=min(processes, n), mp_context=ctx) as pool:
            for slice_paths in pool.map(_one_slice, jobs):  # in slice order
                finished(slice_paths)
    lumi_json: dict[str, list[list[int]]] = {}
    for job in jobs:
        lumi_json.update(certified_lumi_json(job[5], job[7]))
    return [p for slice_paths in paths for p in slice_paths], lumi_json
