"""Truth labelling of fat jets and trijets from GenPart."""

from __future__ import annotations

import awkward as ak
import numpy as np
import uproot

from inference.training.truth import (
    LABEL_QCD,
    LABEL_TOP,
    LABEL_W,
    hadronic_top_decays,
    label_fatjets,
    label_trijets,
    match_jets_to_quarks,
)

LAST = (1 << 13) | (1 << 8)


def _genpart(rows):
    """rows: (pdgId, mother, eta, phi)."""
    rows = [rows]
    return ak.zip(
        {
            "pdgId": ak.Array([[r[0] for r in ev] for ev in rows]),
            "genPartIdxMother": ak.Array([[r[1] for r in ev] for ev in rows]),
            "statusFlags": ak.Array([[LAST for _ in ev] for ev in rows]),
            "eta": ak.Array([[float(r[2]) for r in ev] for ev in rows]),
            "phi": ak.Array([[float(r[3]) for r in ev] for ev in rows]),
        }
    )


def _event():
    # hadronic top at (0, 0): t -> b W, W -> W (copy) -> u dbar; leptonic anti-top at (1, 3)
    return _genpart(
        [
            (6, -1, 0.0, 0.0),
            (5, 0, 0.3, 0.1),
            (24, 0, -0.1, -0.1),
            (24, 2, -0.1, -0.1),
            (2, 3, -0.2, -0.3),
            (-1, 3, 0.1, -0.3),
            (-6, -1, 1.0, 3.0),
            (-5, 6, 1.1, 3.0),
            (-24, 6, 1.0, 2.9),
            (11, 8, 1.0, 2.8),
            (-12, 8, 0.9, 2.9),
        ]
    )


def test_finds_only_the_hadronic_top_following_w_copies():
    d = hadronic_top_decays(_event())
    assert ak.num(d).tolist() == [1]
    rec = d[0, 0]
    assert (rec.b_eta, rec.q1_eta, rec.q2_eta) == (0.3, -0.2, 0.1)


def test_fatjet_labels_top_w_qcd():
    fj = ak.zip({"eta": ak.Array([[0.0, -0.05, 2.0]]), "phi": ak.Array([[0.0, -0.75, 1.0]])})
    # jet 2 at phi -0.75: q's at dR ~0.47, b at dR ~0.85 -> W
    labels = label_fatjets(fj, hadronic_top_decays(_event())).tolist()
    assert labels == [[LABEL_TOP, LABEL_W, LABEL_QCD]]


def test_trijet_label_requires_b_q_q_of_one_top():
    d = hadronic_top_decays(_event())
    eta = np.array([[0.3, -0.2, 0.1, 1.1, 2.0]])
    phi = np.array([[0.1, -0.3, -0.3, 3.0, 0.0]])
    top, role = match_jets_to_quarks(eta, phi, d, 0.4)
    assert top.tolist() == [[0, 0, 0, -1, -1]]
    combos = np.array([[0, 1, 2], [0, 1, 3], [1, 2, 4]])
    assert label_trijets(top, role, combos).tolist() == [[1, 0, 0]]


def test_real_ttbar_matched_trijets_peak_at_top_mass(nanoaod_dir):
    """On real NanoAOD tt̄, jets matched to b, q, q' of one top reconstruct m_top."""
    tree = uproot.open(nanoaod_dir / "nano_tt_v12.root")["Events"]
    g = tree.arrays(filter_name="GenPart_*")
    gp = ak.zip({k[8:]: g[k] for k in g.fields})
    decays = hadronic_top_decays(gp)
    # a semileptonic sample: about one hadronic top per event, never more than two
    assert 0.8 <= ak.mean(ak.num(decays)) <= 1.4
    assert ak.max(ak.num(decays)) <= 2
    j = tree.arrays(["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass"])
    n = 8
    pad = {
        k: ak.to_numpy(ak.fill_none(ak.pad_none(j[f"Jet_{k}"], n, clip=True), np.nan))
        for k in ("pt", "eta", "phi", "mass")
    }
    top, role = match_jets_to_quarks(np.nan_to_num(pad["eta"], nan=99.0), pad["phi"], decays, 0.4)
    masses = []
    for i in range(len(top)):
        for t in set(top[i][top[i] >= 0]):
            idx = np.nonzero(top[i] == t)[0]
            if sorted(role[i][idx]) != [0, 1, 2]:
                continue
            pt, eta, phi, m = (pad[k][i, idx] for k in ("pt", "eta", "phi", "mass"))
            px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
            masses.append(np.sqrt(e.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2))
    assert len(masses) >= 20
    assert 150.0 < np.median(masses) < 190.0
