"""Top-tagger truth origins on hand-built generator records, the sums, their ROOT form
beside the b-tag sums, and the correctionlib maps."""

from __future__ import annotations

import awkward as ak
import correctionlib
import correctionlib.schemav2 as cs
import numpy as np
import pytest

from analysis.publish import efficiency as btag
from analysis.publish.correctionlib_tables import write_top_tag_correction_set
from analysis.publish.top_origin import fatjet_origin, trijet_origin
from analysis.publish.top_tag_efficiency import (
    empty_hists,
    read_root,
    top_tag_hists,
    top_tag_maps,
    write_root,
)
from analysis.top_truth import hadronic_top_decays

LAST_COPY = 1 << 13


def _top(first: int, b: tuple[float, float], q1: tuple[float, float],
         q2: tuple[float, float]) -> list[dict]:
    """GenPart rows of t -> b W, W -> q q' (eta, phi of each quark); ``first``: the index of
    the top in the event's list."""
    row = {"pdgId": 6, "genPartIdxMother": -1, "statusFlags": LAST_COPY, "eta": 0.0,
           "phi": 0.0}
    return [row,
            {**row, "pdgId": 5, "genPartIdxMother": first, "eta": b[0], "phi": b[1]},
            {**row, "pdgId": 24, "genPartIdxMother": first},
            {**row, "pdgId": 2, "genPartIdxMother": first + 2, "eta": q1[0], "phi": q1[1]},
            {**row, "pdgId": -1, "genPartIdxMother": first + 2, "eta": q2[0], "phi": q2[1]}]


def _genpart(*events: list[dict]) -> ak.Array:
    return ak.Array([list(ev) for ev in events])


def test_fatjet_origin_counts_the_decay_quarks_in_the_cone():
    # one top: b at (0, 0), q at (0.3, 0.2), q' at (-0.2, 0.3); a second one far away whose
    # b alone lies near the third jet
    decays = hadronic_top_decays(_genpart(
        _top(0, (0.0, 0.0), (0.3, 0.2), (-0.2, 0.3)) + _top(5, (1.5, 2.5), (0.0, -2.0),
                                                         (-0.5, -2.5))))
    assert ak.num(decays).tolist() == [2]
    # jet 1 on the first top (all three inside 0.8); jet 2 at (0.1, 0.8): q (dR 0.63) and
    # q' (0.58) inside, b (0.81) outside; jet 3 at (1.5, 2.3): only the second top's b;
    # jet 4 far from all
    eta = ak.Array([[0.05, 0.1, 1.5, -2.0]])
    phi = ak.Array([[0.15, 0.8, 2.3, 1.0]])
    assert fatjet_origin(eta, phi, decays).tolist() == [[2, 1, 0, 0]]


def test_fatjet_without_hadronic_tops_is_other():
    # a leptonic top (W -> e nu) is no hadronic-top decay
    rows = _top(0, (0.0, 0.0), (0.1, 0.1), (-0.1, 0.1))
    rows[3]["pdgId"], rows[4]["pdgId"] = 11, -12
    decays = hadronic_top_decays(_genpart(rows))
    assert fatjet_origin(ak.Array([[0.0]]), ak.Array([[0.0]]), decays).tolist() == [[0]]


def test_trijet_origin_needs_one_jet_per_quark_of_one_top():
    decays = hadronic_top_decays(_genpart(
        _top(0, (0.0, 0.0), (1.0, 1.0), (-1.0, 2.0)) + _top(5, (2.0, -1.0), (-2.0, -2.0),
                                                          (0.5, -2.5))))
    per_candidate = decays[np.zeros(4, np.int64)]
    eta = np.array([[0.05, 1.0, -1.1],      # b, q, q' of the first top: matched
                    [0.05, 1.0, 1.05],      # b, q, and q again: not one-to-one
                    [0.05, 1.0, -2.0],      # q' of the other top
                    [0.05, 1.0, -1.6]])     # third jet 0.6 from q': outside 0.4
    phi = np.array([[0.0, 1.1, 2.0], [0.0, 1.1, 1.0], [0.0, 1.1, -2.0], [0.0, 1.1, 2.0]])
    assert trijet_origin(eta, phi, per_candidate).tolist() == [1, 0, 0, 0]


def test_sums_by_origin_and_threshold_with_the_event_weight():
    genpart = _genpart(_top(0, (0.0, 0.0), (0.3, 0.2), (-0.2, 0.3)),
                       _top(0, (0.0, 0.0), (0.3, 0.2), (-0.2, 0.3)))
    boosted = ak.Array([[{"pt": 450.0, "eta": 0.05, "phi": 0.15, "score": 0.9},
                         {"pt": 5000.0, "eta": -2.0, "phi": 1.0, "score": 0.7}],
                        [{"pt": 450.0, "eta": 0.05, "phi": 0.15, "score": 0.2}]])
    resolved = ak.Array([[{"pt": 150.0, "eta": 0.1, "score": 0.8, "jet_eta": [0.0, 0.3, -0.2],
                           "jet_phi": [0.0, 0.2, 0.3]}], []])
    hists = top_tag_hists(genpart, boosted, resolved, np.array([2.0, 3.0]), "ttbar",
                          {"boosted": 0.5, "resolved": 0.5})
    maps = {(m.tagger, m.origin): m for m in top_tag_maps(hists, {"boosted": 0.5,
                                                                  "resolved": 0.5})}
    top = maps["boosted", "top"]
    assert top.genuine and not maps["boosted", "other"].genuine
    assert top.efficiency[1, 0] == pytest.approx(2 / 5)  # 400-500 GeV, |eta| < 0.8
    assert top.candidates[1, 0] == pytest.approx(5.0)
    assert maps["boosted", "other"].efficiency[-1, -1] == 1.0  # overflow: the last bins
    assert maps["resolved", "matched"].efficiency[1, 0] == 1.0
    assert ("resolved", "unmatched") not in maps  # no candidates of that origin


def test_chunk_without_candidates_gives_empty_sums():
    genpart = _genpart(_top(0, (0.0, 0.0), (0.3, 0.2), (-0.2, 0.3)))
    empty = ak.Array([[{"pt": 1.0, "eta": 0.0, "phi": 0.0, "score": 1.0,
                        "jet_eta": [0.0] * 3, "jet_phi": [0.0] * 3}]])[:, :0]
    hists = top_tag_hists(genpart, empty, empty, np.ones(1), "ttbar",
                          {"boosted": 0.5, "resolved": 0.5})
    assert all(h.sum().value == 0.0 for h in hists.values())


def test_root_file_holds_both_taggers_beside_the_btag_sums(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "efficiency.root"
    jets = ak.Array([[{"pt": 45.0, "eta": 0.3, "hadronFlavour": 5, "btag": 0.9}]])
    h_btag = btag.btag_efficiency_hist(jets, np.ones(1), "ttbar", 0.3, "btag")
    btag.write_root(h_btag, path)
    hists = empty_hists()
    for h in hists.values():
        origins = list(h.axes["origin"])
        n = 500
        h.fill(process="tttt", origin=rng.choice(origins, n), pt=rng.uniform(0, 900, n),
               abs_eta=rng.uniform(0, 2.4, n), tagged=rng.random(n) < 0.4,
               weight=rng.uniform(0.5, 1.5, n))
    write_root(hists, path)
    back = read_root(path)
    for tagger, h in hists.items():
        np.testing.assert_allclose(back[tagger].values(), h.values())
        np.testing.assert_allclose(back[tagger].variances(), h.variances())
    np.testing.assert_allclose(btag.read_root(path).values(), h_btag.values())
    maps = top_tag_maps(back, {"boosted": 0.5, "resolved": 0.5})
    out = write_top_tag_correction_set(maps, tmp_path / "top.json")
    cs.CorrectionSet.model_validate_json(out.read_text())  # the schema accepts it
    cset = correctionlib.CorrectionSet.from_file(str(out))
    for m in maps:
        correction = cset[f"top_tag_efficiency_{m.tagger}_tttt"]
        pt = 0.5 * (m.pt_edges[1:] + m.pt_edges[:-1])
        eta = 0.5 * (m.abs_eta_edges[1:] + m.abs_eta_edges[:-1])
        for i, j in np.ndindex(m.efficiency.shape):
            assert correction.evaluate(m.origin, eta[j], pt[i], "efficiency") == \
                pytest.approx(m.efficiency[i, j])
            assert correction.evaluate(m.origin, eta[j], pt[i], "stat") == \
                pytest.approx(m.uncertainty[i, j])
