"""Generator-level origin of top-tagger candidates, for the efficiency and mistag tables.

Hadronic tops come from the GenPart collection through
:func:`analysis.top_truth.hadronic_top_decays` (a last-copy top with a b and a W
decaying to two quarks), the same decays the taggers were trained to find.

AK8 jets (the boosted tagger), with the merging categories of the CMS top-tagging paper
(JINST 15 (2020) P06005: fully merged, semi-merged, not merged): a jet is

* ``top``: the b, q and q' of one hadronic top are all within ΔR < 0.8 of its axis (a fully
  merged top, what the tagger is meant to find);
* ``partial``: two of the three decay quarks of one hadronic top lie in the cone (a merged
  W whose b is outside, or b + q): a semi-merged top;
* ``other``: at most one decay quark of any one hadronic top in the cone: a single-quark
  or gluon jet, whatever its origin (in busy tt̄tt̄ events most AK8 jets hold one top-decay
  quark, and such a jet looks to the tagger like any quark jet).

Trijets (the resolved tagger): each AK4 jet is matched to the closest top-decay quark
within ΔR < 0.4 (:func:`~analysis.top_truth.match_jets_to_quarks`, the training's
labelling); a trijet is ``matched`` when its three jets are the b, q and q' of one top,
one-to-one, and ``unmatched`` otherwise.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from analysis.top_truth import label_trijets, match_jets_to_quarks
from common.kinematics import delta_r

#: origin codes of AK8 jets and their names in the tables
FATJET_ORIGINS: dict[int, str] = {2: "top", 1: "partial", 0: "other"}
#: origin codes of trijets and their names in the tables
TRIJET_ORIGINS: dict[int, str] = {1: "matched", 0: "unmatched"}
#: per tagger, what each origin means (for the tables' descriptions)
ORIGIN_DEFINITIONS: dict[str, dict[str, str]] = {
    "boosted": {"top": "b, q and q' of one hadronic top within DeltaR < 0.8: fully merged",
                "partial": "two of the three decay quarks of one hadronic top within "
                           "DeltaR < 0.8: semi-merged",
                "other": "at most one decay quark of any hadronic top within DeltaR < 0.8"},
    "resolved": {"matched": "the three jets matched one-to-one (DeltaR < 0.4) to b, q and q' "
                            "of one hadronic top",
                 "unmatched": "not all three jets matched to the decay quarks of one top"},
}
#: the genuine-top origin of each tagger (its efficiency; the others give mistag rates)
GENUINE = {"boosted": 2, "resolved": 1}
FATJET_RADIUS = 0.8
JET_MATCH_RADIUS = 0.4


def fatjet_origin(eta: ak.Array, phi: ak.Array, decays: ak.Array,
                  radius: float = FATJET_RADIUS) -> ak.Array:
    """Origin code (:data:`FATJET_ORIGINS`) per fat jet, jagged like ``eta``.

    ``eta``, ``phi``: the fat jets of each event; ``decays``: the events'
    :func:`~analysis.top_truth.hadronic_top_decays`.
    """
    jets = ak.zip({"eta": eta, "phi": phi})
    pair = ak.cartesian({"j": jets, "d": decays}, axis=1, nested=True)
    j, d = pair.j, pair.d
    inside = [delta_r(j.eta, j.phi, d[f"{q}_eta"], d[f"{q}_phi"]) < radius
              for q in ("b", "q1", "q2")]
    n_inside = ak.values_astype(inside[0], np.int64) + inside[1] + inside[2]  # per (jet, top)
    most = ak.fill_none(ak.max(n_inside, axis=2), 0)
    origin = ak.where(most == 3, 2, ak.where(most == 2, 1, 0))
    return ak.values_astype(origin, np.int64)


def trijet_origin(eta: np.ndarray, phi: np.ndarray, decays: ak.Array,
                  radius: float = JET_MATCH_RADIUS) -> np.ndarray:
    """Origin code (:data:`TRIJET_ORIGINS`) per trijet candidate.

    ``eta``, ``phi``: (n_candidates, 3) of the candidates' jets; ``decays``: the
    hadronic-top decays of each candidate's event (one entry per candidate).
    """
    if len(eta) == 0:  # (awkward's max of nothing is None, not its initial value)
        return np.zeros(0, np.int64)
    top, role = match_jets_to_quarks(np.asarray(eta, np.float64), np.asarray(phi, np.float64),
                                     decays, radius)
    return label_trijets(top, role, np.array([[0, 1, 2]]))[:, 0].astype(np.int64)
