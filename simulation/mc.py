"""Filtered event generation in batches, and turning kept events into written files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulation import eventinfo
from simulation.events import EventBlock, build_events
from simulation.partons import PartonTable
from simulation.processes import NO_SHIFT, Modifiers, generate_batch, generate_partons
from simulation.settings import GeneratorSettings
from simulation.writer import chunks, write_file

BATCH = 20_000  # parton-level events per batch (fixed: determinism does not depend on n)


@dataclass
class Generated:
    """Kept (filter-passing) parton events with their weights and generation totals."""

    table: PartonTable
    gen_weight: np.ndarray
    n_generated: int
    sumw: float
    sumw2: float


def generate_filtered(rng: np.random.Generator, process: str, n_keep: int,
                      s: GeneratorSettings, mod: Modifiers = NO_SHIFT) -> Generated:
    """Generate until ``n_keep`` events pass the parton-HT filter.

    Counts (and sums the genWeight of) every generated event, including those removed by
    the filter, up to the last kept one: the inputs of Runs.genEventCount/genEventSumw.
    Kept events are written straight into the returned table; rejected ones never get
    table rows.
    """
    ps = s.processes[process]
    table, weights = None, []
    n_gen, sumw, sumw2, have = 0, 0.0, 0.0, 0
    while have < n_keep:
        batch = generate_batch(rng, process, BATCH, s, mod)
        w = eventinfo.gen_weights(rng, BATCH, ps)
        passed = batch.ht() >= s.ht_filter_gev
        idx = np.flatnonzero(passed)
        need = n_keep - have
        if len(idx) > need:  # stop right after the last needed event
            last = idx[need - 1]
            idx = idx[:need]
            w_all = w[: last + 1]
        else:
            w_all = w
        n_gen += len(w_all)
        sumw += float(w_all.sum())
        sumw2 += float((w_all**2).sum())
        if table is None:
            table = PartonTable.empty(n_keep, batch.width)
        batch.fill(table, have, idx)
        del batch  # free its arrays before the next batch is generated
        weights.append(w[idx])
        have += len(idx)
    if table is None:
        table = generate_partons(rng, process, 0, s, mod)
        weights = [np.zeros(0)]
    return Generated(table, np.concatenate(weights), n_gen, sumw, sumw2)


def filter_efficiency(rng: np.random.Generator, process: str, s: GeneratorSettings,
                      mod: Modifiers = NO_SHIFT, n: int = 4 * BATCH) -> float:
    """Fraction of generated events passing the parton-HT filter (pilot estimate)."""
    passed = 0
    for _ in range(n // BATCH):
        passed += int((generate_batch(rng, process, BATCH, s, mod).ht()
                       >= s.ht_filter_gev).sum())
    return passed / (BATCH * (n // BATCH))


def files_needed(n: int, n_files: int, max_per_file: int) -> int:
    """At least ``n_files``, and enough that none holds more than ``max_per_file`` events."""
    return max(n_files, -(-n // max_per_file))


def split(n: int, n_files: int) -> list[tuple[int, int]]:
    """(start, stop) ranges cutting n events into n_files nearly equal parts."""
    edges = np.linspace(0, n, n_files + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


@dataclass
class Written:
    """Events (and their Σ genWeight) that the generator-level skim let through."""

    events: int = 0
    sumw: float = 0.0

    def add(self, block: EventBlock) -> EventBlock:
        """Count a block's events; returns it (for use inside a generator expression)."""
        self.events += len(block.flat["event"])
        self.sumw += float(np.sum(block.flat["genWeight"], dtype=np.float64))
        return block


def write_mc(gen: Generated, process: str, out_dir: Path, stem: str, n_files: int,
             seed_seq: np.random.SeedSequence, s: GeneratorSettings,
             written: Written | None = None) -> list[Path]:
    """Detector-simulate and write kept MC events into ``n_files`` files (more when a file
    would exceed ``s.max_events_per_file``).

    Runs.genEventCount/Sumw are shared out in proportion to the events in each file so
    that their sum over the files is the sample total (all generated events, also those
    the skim, ``s.skim``, does not write). ``written`` counts the events written.
    """
    paths = []
    written = written if written is not None else Written()
    n = gen.table.n_events
    n_files = files_needed(n, n_files, s.max_events_per_file)
    children = seed_seq.spawn(n_files)
    for i, (a, b) in enumerate(split(n, n_files)):
        rng = np.random.default_rng(children[i])
        blocks = (written.add(_mc_block(rng, gen, c0, c1, process, s))
                  for c0, c1 in chunks(a, b))
        fa, fb = (a / n, b / n) if n else (i / n_files, (i + 1) / n_files)
        count = round(gen.n_generated * fb) - round(gen.n_generated * fa)
        runs = {"run": [1], "genEventCount": [count],
                "genEventSumw": [gen.sumw * (fb - fa)], "genEventSumw2": [gen.sumw2 * (fb - fa)]}
        paths.append(write_file(out_dir / f"{stem}_{i:03d}.root", blocks, runs))
    return paths


def _mc_block(rng: np.random.Generator, gen: Generated, a: int, b: int, process: str,
              s: GeneratorSettings) -> EventBlock:
    """Kept events a..b-1 detector-simulated, with run, lumi block and event numbers
    (those the skim removes leave gaps in the numbering, as in a real skim)."""
    block = build_events(rng, gen.table.take(np.arange(a, b)), process, s, is_data=False,
                         gen_weight=gen.gen_weight[a:b])
    ev = (np.arange(a, b, dtype=np.uint64) + 1)[block.kept]
    block.flat["run"] = np.ones(len(ev), np.uint32)
    block.flat["luminosityBlock"] = (1 + (ev - 1) // s.events_per_lumiblock).astype(np.uint32)
    block.flat["event"] = ev
    return block
