"""Cost of all systematic variations relative to nominal corrections only.

    python benchmarks/bench_variations.py [n_events] [repeats]

Times, on toy events (`corrections.testing.toy_events`), (a) nominal only: JER-smeared
nominal jets and nominal weights; (b) everything: all jet variations, and for each the
jet selection and the nominal weights (b-tag SF and trigger SF depend on the jets), plus all
weight variations on the nominal jets. Prints the best of ``repeats`` runs.
"""

from __future__ import annotations

import sys
import time

from analysis.config import JetSelection
from analysis.selection import select_jets
from analysis.variations import jet_variations
from analysis.weights import event_weights
from corrections.loader import load_corrections
from corrections.testing import toy_events


def nominal_only(events, corr) -> None:
    jets = jet_variations(events.Jet, events, corr, [])["nominal"]
    event_weights(events, select_jets(jets, JetSelection()), corr, [])


def everything(events, corr) -> None:
    varied = jet_variations(events.Jet, events, corr)
    for name, jets in varied.items():
        names = None if name == "nominal" else []
        event_weights(events, select_jets(jets, JetSelection()), corr, names)


def best_of(fn, events, corr, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(events, corr)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    n_events = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    corr = load_corrections()
    events = toy_events(n_events, seed=1)
    everything(events, corr)  # warm up (payload loading, JIT-free but caches)
    t_nom = best_of(nominal_only, events, corr, repeats)
    t_all = best_of(everything, events, corr, repeats)
    n_var = len(jet_variations(events.Jet[:1], events[:1], corr)) - 1
    print(f"events: {n_events}, jet variations: {n_var}, repeats: {repeats} (best of)")
    print(f"nominal only   : {t_nom:8.3f} s  ({n_events / t_nom:,.0f} events/s)")
    print(f"all variations : {t_all:8.3f} s  ({n_events / t_all:,.0f} events/s)")
    print(f"cost ratio all/nominal: {t_all / t_nom:.1f}")


if __name__ == "__main__":
    main()
