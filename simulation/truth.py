"""The "truth" world behind the pseudo-data, its certified-luminosity JSON, and data files.

The truth model differs from the MC in documented ways (:class:`TruthModelSettings`, with
the measurements behind them): tt extra-radiation rate x1.25 (more jets), the measured
softer top pT (weight exp(-0.0005 pT/GeV)), tt+bb x1.3, and QCD multijet, which is not in
the MC used for the estimate and whose HT and DNN-score shapes differ from tt. Pseudo-data = truth
background + tttt at signal strength mu; ``truth_background`` is the same world without
tttt. Event counts are Poisson for the certified luminosity; like a real data skim,
only events with reco HT >= skim_min_ht and >= skim_min_jets jets are written. Events are
spread uniformly over all lumi sections, of which a fraction is not certified (the JSON
marks them), so the data carry extra, uncertified events that a lumi mask must remove.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from simulation.events import build_events
from simulation.mc import files_needed, filter_efficiency, generate_filtered, split
from simulation.processes import Modifiers
from simulation.settings import MC_PROCESSES, GeneratorSettings, TruthModelSettings
from simulation.writer import chunks, write_file

_BACKGROUNDS = ("ttbar", "ttW", "ttZ", "ttH", "qcd")


def modifiers(process: str, truth: TruthModelSettings,
              settings: GeneratorSettings | None = None) -> Modifiers:
    """Truth-model shifts for one process: tt radiation, top pT and tt+bb; the QCD
    spectrum and heavy flavour; none for the minor backgrounds.

    The top-pT weight exp(-b pT) on the Gamma(k=2) spectrum of scale theta is a Gamma(k=2)
    of scale theta / (1 + b theta) (see :class:`TruthModelSettings`).
    """
    if process == "ttbar":
        theta = (settings or GeneratorSettings()).processes["ttbar"].top_pt_scale_gev
        return Modifiers(radiation_scale=truth.radiation_scale,
                         top_pt_scale=1.0 / (1.0 + truth.top_pt_slope_per_gev * theta),
                         extra_bb_scale=truth.extra_bb_scale)
    if process == "qcd":
        return Modifiers(radiation_scale=truth.qcd_radiation_scale,
                         qcd_pt_power_shift=truth.qcd_pt_power_shift,
                         qcd_heavy_flavour_scale=truth.qcd_heavy_flavour_scale)
    return Modifiers()


def lumi_sections(luminosity_fb: float, truth: TruthModelSettings
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(run, lumi block, certified) of every synthetic lumi section.

    The certified sections add up to ``luminosity_fb``; uncertified ones come on top.
    """
    n_good = max(1, round(luminosity_fb * 1000.0 / truth.lumi_per_lumisection_pb))
    n_all = max(n_good + 1, round(n_good / (1.0 - truth.bad_lumi_fraction)))
    rng = np.random.default_rng(12345)  # fixed: the same JSON for every sample
    certified = np.ones(n_all, bool)
    # bad sections come in short contiguous chunks, like detector problems do
    n_bad = n_all - n_good
    while (~certified).sum() < n_bad:
        start = int(rng.integers(0, n_all))
        length = int(min(rng.integers(1, 6), n_bad - (~certified).sum()))
        certified[start: start + length] = False
    idx = np.arange(n_all)
    run = truth.first_run + idx // truth.lumisections_per_run
    lumi = 1 + idx % truth.lumisections_per_run
    return run.astype(np.uint32), lumi.astype(np.uint32), certified


def certified_lumi_json(luminosity_fb: float, truth: TruthModelSettings | None = None
                        ) -> dict[str, list[list[int]]]:
    """Golden JSON ({"run": [[first, last], ...]}) of the synthetic data."""
    truth = truth or TruthModelSettings()
    run, lumi, ok = lumi_sections(luminosity_fb, truth)
    out: dict[str, list[list[int]]] = {}
    for r in np.unique(run):
        ls = lumi[(run == r) & ok]
        if len(ls) == 0:
            continue
        breaks = np.flatnonzero(np.diff(ls) != 1)
        starts = np.concatenate([[ls[0]], ls[breaks + 1]])
        ends = np.concatenate([ls[breaks], [ls[-1]]])
        out[str(int(r))] = [[int(a), int(b)] for a, b in zip(starts, ends, strict=True)]
    return out


def write_certified_lumi_json(path: Path, luminosity_fb: float,
                              truth: TruthModelSettings | None = None) -> Path:
    """Write :func:`certified_lumi_json` to ``path``."""
    path = Path(path)
    path.write_text(json.dumps(certified_lumi_json(luminosity_fb, truth), indent=1))
    return path


def expected_counts(luminosity_fb: float, s: GeneratorSettings, truth: TruthModelSettings,
                    signal_strength: float, include_signal: bool, seed: int
                    ) -> dict[str, float]:
    """Expected filter-passing events per process, for the delivered (all-section) lumi."""
    run, _, ok = lumi_sections(luminosity_fb, truth)
    delivered_pb = luminosity_fb * 1000.0 * len(ok) / ok.sum()
    procs = [p for p in MC_PROCESSES if p != "qcd" or truth.include_qcd]
    if not include_signal:
        procs = [p for p in procs if p != "tttt"]
    out = {}
    for i, p in enumerate(procs):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7, i]))
        eff = filter_efficiency(rng, p, s, modifiers(p, truth, s))
        mu = {"tttt": signal_strength, "qcd": truth.qcd_xsec_scale}.get(p, 1.0)
        out[p] = s.processes[p].xsec_pb * delivered_pb * eff * mu
    return out


def generate_data(kind: str, out_dir: Path, stem: str, n_files: int, seed: int,
                  luminosity_fb: float, s: GeneratorSettings, truth: TruthModelSettings,
                  signal_strength: float) -> list[Path]:
    """Write pseudodata (``kind="pseudodata"``) or ``truth_background`` files."""
    ss = np.random.SeedSequence([seed, 99])
    expected = expected_counts(luminosity_fb, s, truth, signal_strength,
                               kind == "pseudodata", seed)
    rng = np.random.default_rng(ss.spawn(1)[0])
    parts = []
    for i, (p, mu) in enumerate(expected.items()):
        n = int(rng.poisson(mu))
        g = generate_filtered(np.random.default_rng(np.random.SeedSequence([seed, 11, i])),
                              p, n, s, modifiers(p, truth, s))
        parts.append((p, g.table))
    # shuffle processes together, then assign run/lumi uniformly over all sections
    run, lumi, _ = lumi_sections(luminosity_fb, truth)
    total = sum(t.n_events for _, t in parts)
    order = rng.permutation(total)
    # uniform over all sections, independent of the process (blocks below are per process)
    which = rng.integers(0, len(run), total)
    skim = (truth.skim_min_ht, truth.skim_min_jets)
    n_files = files_needed(total, n_files, s.max_events_per_file)
    paths = []
    file_seeds = ss.spawn(n_files + 1)[1:]
    offsets = np.cumsum([0] + [t.n_events for _, t in parts])
    for k, (a, b) in enumerate(split(total, n_files)):
        rngs = [np.random.default_rng(sd) for sd in file_seeds[k].spawn(len(parts))]
        runs_seen: list[np.ndarray] = []

        def blocks(a=a, b=b, rngs=rngs, runs_seen=runs_seen):
            for c0, c1 in chunks(a, b):
                block, kept_pos = _data_block(parts, offsets, order[c0:c1], np.arange(c0, c1),
                                              rngs, s, skim)
                block.flat["run"] = run[which[kept_pos]]
                block.flat["luminosityBlock"] = lumi[which[kept_pos]]
                block.flat["event"] = kept_pos.astype(np.uint64) + 1
                runs_seen.append(block.flat["run"])
                yield block

        def runs_tree(runs_seen=runs_seen) -> dict[str, np.ndarray]:
            runs_here = np.unique(np.concatenate(runs_seen))
            if not len(runs_here):
                runs_here = np.array([truth.first_run])
            zeros = np.zeros(len(runs_here))
            return {"run": runs_here, "genEventCount": zeros.astype(int),
                    "genEventSumw": zeros, "genEventSumw2": zeros}

        paths.append(write_file(out_dir / f"{stem}_{k:03d}.root", blocks(), runs_tree))
    return paths


def _data_block(parts: list, offsets: np.ndarray, ids: np.ndarray, pos: np.ndarray,
                rngs: list[np.random.Generator], s: GeneratorSettings,
                skim: tuple[float, int]) -> tuple[object, np.ndarray]:
    """The skimmed events ``ids`` (indices into the processes' tables laid end to end,
    at event positions ``pos``) as one block, with the positions of the events kept."""
    blocks, ev_pos = [], []
    for j, (p, t) in enumerate(parts):
        in_p = (ids >= offsets[j]) & (ids < offsets[j + 1])
        srt = np.argsort(ids[in_p])
        mine, mine_pos = ids[in_p][srt] - offsets[j], pos[in_p][srt]
        if len(mine):
            blk = build_events(rngs[j], t.take(mine), p, s, is_data=True, skim=skim)
            blocks.append(blk)
            ev_pos.append(mine_pos[blk.kept])
    if not blocks:  # an empty file still gets every branch
        p, t = parts[0]
        blocks = [build_events(np.random.default_rng(0), t.take(np.arange(0)), p, s,
                               is_data=True)]
        ev_pos = [np.zeros(0, int)]
    return _merge(blocks), np.concatenate(ev_pos)


def _merge(blocks: list) -> object:
    """Concatenate EventBlocks event-wise, padding collections to a common width."""
    from simulation.events import EventBlock

    out = EventBlock()
    if not blocks:
        raise ValueError("no events to merge")
    for k in blocks[0].flat:
        out.flat[k] = np.concatenate([b.flat[k] for b in blocks])
    for c in blocks[0].collections:
        if "counts" in blocks[0].collections[c]:  # flat collections: plain concatenation
            out.collections[c] = {f: np.concatenate([b.collections[c][f] for b in blocks])
                                  for f in blocks[0].collections[c]}
            continue
        width = max(b.collections[c]["valid"].shape[1] for b in blocks)
        out.collections[c] = {
            f: np.concatenate([np.pad(b.collections[c][f],
                                      ((0, 0), (0, width - b.collections[c][f].shape[1])))
                               for b in blocks])
            for f in blocks[0].collections[c]
        }
    return out
