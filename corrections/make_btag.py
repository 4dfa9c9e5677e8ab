"""Synthetic DeepJet b-tagging payload: scale factors, WP cuts and MC efficiencies.

Layout as in the CMS BTV payloads (``deepJet_comb`` for b/c jets, ``deepJet_incl`` for light
jets; inputs systematic, working_point, flavor, abseta, pt) so that method "1a" code works on
real payloads too. Scale-factor sizes follow CMS DeepJet measurements (b/c SF ~0.95 with
1-3 % uncertainty, light SF ~1.1-1.3 with ~10 %; CMS, JINST 13 (2018) P05011); the working
point cuts are the Summer22 DeepJet values published by CMS BTV (L 0.0583, M 0.3086,
T 0.7183) except M, which is the generator's 0.3. Efficiencies are those of the synthetic
generator (DESIGN: b ~0.80, c ~0.20, light ~0.015 at the medium WP); real analyses measure
them in their own MC (`efficiency_from_jets`).
"""

from __future__ import annotations

import numpy as np
from correctionlib import schemav2 as cs

# M is the synthetic generator's medium WP (DESIGN: ~0.3; Summer22 real value 0.3086)
WP_VALUES = {"L": 0.0583, "M": 0.3, "T": 0.7183}
ABSETA_EDGES = [0.0, 2.5]  # tracker acceptance; outside is an error, as in CMS payloads
PT_EDGES = [20.0, 30.0, 50.0, 70.0, 100.0, 140.0, 200.0, 300.0, 600.0, 1000.0]
# central SF at low pT per WP and its slope in pT; uncertainties (correlated, uncorrelated)
HEAVY_SF = {"L": (0.98, -0.02), "M": (0.96, -0.03), "T": (0.94, -0.04)}
LIGHT_SF = {"L": (1.05, 0.05), "M": (1.15, 0.08), "T": (1.25, 0.10)}
B_UNC = (0.012, 0.008)  # grows x(1 + pT/500)
C_FACTOR = 2.0  # c-jet uncertainties are twice the b-jet ones (CMS practice)
LIGHT_UNC = (0.08, 0.04)
EFFICIENCY = {  # (b, c, light) tagging efficiencies of the generator per WP
    "L": (0.92, 0.45, 0.10),
    "M": (0.80, 0.20, 0.015),
    "T": (0.62, 0.05, 0.002),
}
SYSTEMATICS = ("central", "up", "down", "up_correlated", "down_correlated",
               "up_uncorrelated", "down_uncorrelated")
FLAVOR_INDEX = {5: 0, 4: 1, 0: 2}


def _pt_centres() -> np.ndarray:
    e = np.array(PT_EDGES)
    return np.sqrt(e[1:] * e[:-1])


def _sf_values(wp: str, flavor: int, syst: str) -> list[float]:
    """SF per pT bin for one WP, hadron flavour and systematic."""
    pt = _pt_centres()
    if flavor == 0:
        base, slope = LIGHT_SF[wp]
        corr, unc = LIGHT_UNC
        central = base + slope * pt / 1000.0
        corr, unc = np.full_like(pt, corr), np.full_like(pt, unc)
    else:
        base, slope = HEAVY_SF[wp]
        central = base + slope * pt / 1000.0
        scale = (1.0 + pt / 500.0) * (C_FACTOR if flavor == 4 else 1.0)
        corr, unc = B_UNC[0] * scale, B_UNC[1] * scale
    delta = {
        "central": 0.0 * pt,
        "up": np.hypot(corr, unc), "down": -np.hypot(corr, unc),
        "up_correlated": corr, "down_correlated": -corr,
        "up_uncorrelated": unc, "down_uncorrelated": -unc,
    }[syst]
    return np.round(central + delta, 6).tolist()


def _eta_pt(values: list[float]) -> cs.Binning:
    pt_node = cs.Binning(nodetype="binning", input="pt", edges=PT_EDGES, content=values,
                         flow="clamp")
    return cs.Binning(nodetype="binning", input="abseta", edges=ABSETA_EDGES, content=[pt_node],
                      flow="error")


def _inputs(first: list[cs.Variable]) -> list[cs.Variable]:
    return first + [
        cs.Variable(name="working_point", type="string", description="L, M or T"),
        cs.Variable(name="flavor", type="int", description="hadronFlavour: 5 b, 4 c, 0 light"),
        cs.Variable(name="abseta", type="real", description="|eta| of the jet"),
        cs.Variable(name="pt", type="real", description="jet pT, GeV"),
    ]


def _sf_correction(name: str, flavors: tuple[int, ...]) -> cs.Correction:
    syst_var = cs.Variable(name="systematic", type="string", description=", ".join(SYSTEMATICS))
    data = cs.Category(nodetype="category", input="systematic", content=[
        cs.CategoryItem(key=syst, value=cs.Category(nodetype="category", input="working_point",
            content=[
                cs.CategoryItem(key=wp, value=cs.Category(nodetype="category", input="flavor",
                    content=[cs.CategoryItem(key=f, value=_eta_pt(_sf_values(wp, f, syst)))
                             for f in flavors]))
                for wp in WP_VALUES
            ]))
        for syst in SYSTEMATICS
    ])
    return cs.Correction(
        name=name, version=1, description="synthetic DeepJet fixed-WP scale factor",
        inputs=_inputs([syst_var]),
        output=cs.Variable(name="weight", type="real", description="data/MC scale factor"),
        data=data,
    )


def _efficiency() -> cs.Correction:
    data = cs.Category(nodetype="category", input="working_point", content=[
        cs.CategoryItem(key=wp, value=cs.Category(nodetype="category", input="flavor", content=[
            cs.CategoryItem(key=f, value=_eta_pt([EFFICIENCY[wp][FLAVOR_INDEX[f]]]
                                                 * (len(PT_EDGES) - 1)))
            for f in (5, 4, 0)
        ]))
        for wp in WP_VALUES
    ])
    return cs.Correction(
        name="deepJet_eff", version=1, description="MC tagging efficiency of the synthetic jets",
        inputs=_inputs([]),
        output=cs.Variable(name="efficiency", type="real", description="P(tag | flavour)"),
        data=data,
    )


def _wp_values() -> cs.Correction:
    return cs.Correction(
        name="deepJet_wp_values", version=1, description="btagDeepFlavB cut per working point",
        inputs=[cs.Variable(name="working_point", type="string", description="L, M or T")],
        output=cs.Variable(name="wp", type="real", description="discriminant threshold"),
        data=cs.Category(nodetype="category", input="working_point", content=[
            cs.CategoryItem(key=k, value=v) for k, v in WP_VALUES.items()
        ]),
    )


def make_btag() -> cs.CorrectionSet:
    """The synthetic b-tagging payload (comb, incl, wp_values, eff)."""
    return cs.CorrectionSet(schema_version=2, description="fourtops synthetic DeepJet b-tagging",
                            corrections=[_sf_correction("deepJet_comb", (5, 4)),
                                         _sf_correction("deepJet_incl", (0,)),
                                         _wp_values(), _efficiency()])


def efficiency_from_jets(
    pt: np.ndarray, abseta: np.ndarray, flavor: np.ndarray, tagged: np.ndarray,
    working_point: str = "M", *, pt_edges: list[float] | None = None,
    abseta_edges: list[float] | None = None, name: str = "deepJet_eff",
) -> cs.Correction:
    """Tagging-efficiency correction measured on MC jets (flat arrays of selected jets).

    Efficiency per (flavour, |eta|, pT) bin = tagged / all; empty bins get the flavour's
    inclusive efficiency. Same inputs as the shipped ``deepJet_eff`` (one working point).
    """
    pt_edges = PT_EDGES if pt_edges is None else pt_edges
    abseta_edges = ABSETA_EDGES if abseta_edges is None else abseta_edges
    pt_c = np.clip(pt, pt_edges[0], np.nextafter(pt_edges[-1], 0))  # clamp like the payload
    items = []
    for f in (5, 4, 0):
        sel = flavor == f
        bins = (abseta_edges, pt_edges)
        total, _, _ = np.histogram2d(abseta[sel], pt_c[sel], bins=bins)
        passed, _, _ = np.histogram2d(abseta[sel & tagged], pt_c[sel & tagged], bins=bins)
        inclusive = passed.sum() / total.sum() if total.sum() else 0.0
        eff = np.divide(passed, total, out=np.full_like(total, inclusive), where=total > 0)
        rows = [cs.Binning(nodetype="binning", input="pt", edges=list(pt_edges),
                           content=np.round(row, 6).tolist(), flow="clamp") for row in eff]
        items.append(cs.CategoryItem(key=f, value=cs.Binning(
            nodetype="binning", input="abseta", edges=list(abseta_edges), content=rows,
            flow="error")))
    data = cs.Category(nodetype="category", input="working_point", content=[
        cs.CategoryItem(key=working_point,
                        value=cs.Category(nodetype="category", input="flavor", content=items))
    ])
    return cs.Correction(
        name=name, version=1, description=f"MC tagging efficiency measured on {len(pt)} jets",
        inputs=_inputs([]),
        output=cs.Variable(name="efficiency", type="real", description="P(tag | flavour)"),
        data=data,
    )
