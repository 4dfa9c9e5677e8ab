"""The array-wise hadronic-top finder against a plain per-event walk of the decay chain,
on real NanoAOD tt̄ and generated tt̄tt̄ records (W copies, leptonic tops, radiation)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from analysis.top_truth import DECAY_FIELDS, hadronic_top_decays

LAST_COPY_BIT = 13


def _walked(genpart: ak.Array) -> list[list[tuple[float, ...]]]:
    """Per event, (b, q1, q2) eta/phi of each hadronic top, found by walking each event's
    list: a last-copy top, its first b and first W child, the W followed down its copies,
    and exactly two quark children of the last W."""
    columns = {f: ak.to_list(genpart[f]) for f in ("pdgId", "genPartIdxMother", "statusFlags",
                                                  "eta", "phi")}
    out = []
    for i in range(len(genpart)):
        ev = {f: column[i] for f, column in columns.items()}
        pdg = [abs(p) for p in ev["pdgId"]]
        mother = ev["genPartIdxMother"]
        tops = []
        for t, p in enumerate(pdg):
            if p != 6 or not (ev["statusFlags"][t] >> LAST_COPY_BIT) & 1:
                continue
            kids = [k for k, m in enumerate(mother) if m == t]
            bs = [k for k in kids if pdg[k] == 5]
            ws = [k for k in kids if pdg[k] == 24]
            if not bs or not ws:
                continue
            w = ws[0]
            while copies := [k for k, m in enumerate(mother) if m == w and pdg[k] == 24]:
                w = copies[0]
            qs = [k for k, m in enumerate(mother) if m == w and 1 <= pdg[k] <= 5]
            if len(qs) == 2:
                tops.append(tuple(ev[c][i] for i in (bs[0], qs[0], qs[1]) for c in ("eta", "phi")))
        out.append(tops)
    return out


def _as_tuples(decays: ak.Array) -> list[list[tuple[float, ...]]]:
    return [[tuple(top[f] for f in DECAY_FIELDS) for top in ev] for ev in ak.to_list(decays)]


def _genpart(path, entries: int | None = None) -> ak.Array:
    tree = uproot.open(path)["Events"]
    g = tree.arrays(filter_name="GenPart_*", entry_stop=entries)
    return ak.zip({k[8:]: g[k] for k in g.fields})


def test_same_tops_as_the_walk_on_real_nanoaod(nanoaod_dir):
    gp = _genpart(nanoaod_dir / "nano_tt_v12.root")
    found = _as_tuples(hadronic_top_decays(gp))
    assert found == _walked(gp)
    assert sum(map(len, found)) > 0.8 * len(found)  # a semileptonic sample: ~1 per event


def test_same_tops_as_the_walk_on_generated_four_tops(tmp_path):
    from simulation import SampleSpec, generate_dataset

    path = generate_dataset(SampleSpec(process="tttt", n_events=300, seed=5, n_files=1),
                            tmp_path, luminosity_fb=1.0)[0]
    gp = _genpart(path)
    found = _as_tuples(hadronic_top_decays(gp))
    assert found == _walked(gp)
    # four tops, each hadronic with the W branching fraction ~0.67: ~2.7 per event
    assert 2.2 < np.mean([len(ev) for ev in found]) < 3.2


def test_no_particles_and_a_self_mother_do_not_break_it():
    empty = ak.zip({"pdgId": ak.Array([[]]), "genPartIdxMother": ak.Array([[]]),
                    "statusFlags": ak.Array([[]]), "eta": ak.Array([[]]),
                    "phi": ak.Array([[]])})
    assert ak.num(hadronic_top_decays(ak.values_astype(empty, np.float64))).tolist() == [0]
    # a W that names itself as its mother (a broken record) must not loop forever
    last = 1 << LAST_COPY_BIT
    ev = {"pdgId": [6, 5, 24], "genPartIdxMother": [-1, 0, 2], "statusFlags": [last] * 3,
          "eta": [0.0] * 3, "phi": [0.0] * 3}
    broken = ak.zip({k: ak.Array([v]) for k, v in ev.items()})
    assert ak.num(hadronic_top_decays(broken)).tolist() == [0]


@pytest.mark.parametrize("events", [1, 7])
def test_empty_events_keep_their_place(events):
    last = 1 << LAST_COPY_BIT
    top = {"pdgId": [6, 5, 24, 2, -1], "genPartIdxMother": [-1, 0, 0, 2, 2],
           "statusFlags": [last] * 5, "eta": [0.0, 0.1, 0.0, 0.2, 0.3],
           "phi": [0.0] * 5}
    none = {k: [] for k in top}
    rows = [none] * (events - 1) + [top]
    gp = ak.zip({k: ak.Array([r[k] for r in rows]) for k in top})
    decays = hadronic_top_decays(gp)
    assert ak.num(decays).tolist() == [0] * (events - 1) + [1]
    assert decays[-1, 0].q2_eta == 0.3
