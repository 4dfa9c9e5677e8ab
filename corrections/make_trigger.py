"""Synthetic trigger scale factor (data/MC efficiency of the HT OR multijet+b-tag trigger).

Binned in offline HT and the number of b-tagged jets (2, >=3), nominal/up/down. Illustrative
values: the SF is below one on the turn-on edge near the HT >= 700 GeV preselection, where
the HT-only path is inefficient and the b-tag leg matters (more so with two b jets than with
three), and goes to one on the plateau; uncertainties of a few per cent on the edge, as is
typical of tag-and-probe measurements in a single-muon reference sample.
"""

from __future__ import annotations

from correctionlib import schemav2 as cs

HT_EDGES = [0.0, 500.0, 700.0, 800.0, 900.0, 1000.0, 1200.0, 1500.0, 4000.0]
NB_EDGES = [0.0, 2.5, 100.0]  # <= 2 b jets, >= 3 b jets (N b passed as a real number)
SF = {  # per N b bin, per HT bin
    "nb2": [0.85, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0],
    "nb3": [0.88, 0.95, 0.97, 0.98, 0.99, 0.995, 1.0, 1.0],
}
UNC = [0.06, 0.04, 0.03, 0.02, 0.015, 0.01, 0.005, 0.005]


def _row(values: list[float], sign: int) -> cs.Binning:
    content = [round(v + sign * u, 6) for v, u in zip(values, UNC, strict=True)]
    return cs.Binning(nodetype="binning", input="HT", edges=HT_EDGES, content=content,
                      flow="clamp")


def make_trigger() -> cs.CorrectionSet:
    """The synthetic trigger SF payload."""
    data = cs.Category(nodetype="category", input="systematic", content=[
        cs.CategoryItem(key=syst, value=cs.Binning(
            nodetype="binning", input="NBJets", edges=NB_EDGES, flow="clamp",
            content=[_row(SF["nb2"], sign), _row(SF["nb3"], sign)]))
        for syst, sign in (("nominal", 0), ("up", 1), ("down", -1))
    ])
    corr = cs.Correction(
        name="trigger_sf", version=1, description="synthetic trigger data/MC scale factor",
        inputs=[
            cs.Variable(name="systematic", type="string", description="nominal, up, down"),
            cs.Variable(name="HT", type="real", description="scalar sum of selected jet pT, GeV"),
            cs.Variable(name="NBJets", type="real", description="number of b-tagged jets"),
        ],
        output=cs.Variable(name="weight", type="real", description="scale factor"),
        data=data,
    )
    return cs.CorrectionSet(schema_version=2, description="fourtops synthetic trigger SF",
                            corrections=[corr])
