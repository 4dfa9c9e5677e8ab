"""Synthetic jet energy scale uncertainties and jet energy resolution (correctionlib v2).

Names follow the CMS JERC payloads (``{tag}_{level}_{jet_type}``), so the loader handles
these and real CMS files alike. The numbers are a model for the synthetic NanoAOD, not a
measurement:

* relative pT resolution sigma/pT = sqrt(N^2/pT^2 + S^2/pT + C^2) (the CMS JER
  parameterisation, JINST 12 (2017) P02014, Sec. 8); N^2, S^2, C^2 are solved so that the
  resolution is 15 % at 30 GeV, 8 % at 100 GeV and 5 % at 1 TeV, the same numbers as the
  synthetic generator's detector response (which has no eta or pileup dependence). The
  payload keeps the CMS inputs (eta, pT, rho) and carries an eta factor and a rho slope
  per bin; both are neutral (1 and 0) so the payload matches the generator exactly.
* JER data/MC scale factors by |eta|: nominal 1, because the synthetic pseudo-data are
  made with the same detector resolution as the simulation; the uncertainties have the
  size of the CMS Run 2 measurements (same reference), so JER up/down still move jets.
* JES uncertainty sources with the typical pT/eta dependence of the CMS sources of the same
  names; ``Total`` is their quadrature sum plus an ``other`` term, so Total >= every source.
"""

from __future__ import annotations

import numpy as np
from correctionlib import schemav2 as cs

JET_TYPE = "AK4PFPuppi"
JEC_TAG = "Synthetic_V1_MC"
JER_TAG = "Synthetic_JRV1_MC"

# --- resolution: solved from 15 % @ 30, 8 % @ 100, 5 % @ 1000 GeV (see module docstring)
RES_N2 = 7.94  # GeV^2, noise term squared at RHO_REF
RES_S2 = 0.346  # GeV, stochastic term squared
RES_C2 = 0.00215  # constant term squared
RHO_REF = 20.0  # GeV, typical fixedGridRhoFastjetAll in Run 2/3 simulation
RES_N2_PER_RHO = 0.0  # GeV^2 per GeV of rho (0: the generator has no pileup dependence)
RES_ETA_EDGES = [0.0, 1.3, 2.5, 3.0, 5.2]
RES_ETA_FACTOR = [1.0, 1.0, 1.0, 1.0]  # 1: the generator has no eta dependence

# --- JER scale factor (data/MC resolution ratio) by |eta|
SF_ETA_EDGES = [0.0, 0.5, 0.8, 1.1, 1.3, 1.7, 1.9, 2.1, 2.3, 2.5, 2.8, 3.0, 3.2, 5.2]
SF_NOM = [1.0] * 13  # pseudo-data resolution = simulation resolution
SF_UNC = [0.03, 0.03, 0.03, 0.04, 0.05, 0.05, 0.06, 0.06, 0.08, 0.10, 0.12, 0.08, 0.06]

# --- JES uncertainty grid
JES_ETA_EDGES = [-5.4, -4.7, -3.0, -2.5, -2.0, -1.3, -0.5, 0.0, 0.5, 1.3, 2.0, 2.5, 3.0, 4.7, 5.4]
JES_PT_EDGES = [10, 15, 20, 30, 45, 60, 80, 110, 150, 200, 300, 450, 700, 1000, 1500, 2500, 6500]
JES_SOURCES = ("AbsoluteStat", "FlavorQCD", "RelativeBal", "PileUpPtRef")


def _jes_source(source: str, abseta: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Relative uncertainty of one source at (|eta|, pT): shapes as in the CMS sources."""
    if source == "AbsoluteStat":  # statistics of the high-pT reference samples
        return 0.0015 + 0.004 * pt / 2000.0
    if source == "FlavorQCD":  # gluon/quark response difference: largest at low pT
        return 0.004 + 0.012 * (30.0 / pt) ** 0.7
    if source == "RelativeBal":  # dijet balance method: grows with |eta|
        return np.minimum(0.001 + 0.004 * (abseta / 1.3) ** 2, 0.03)
    if source == "PileUpPtRef":  # offset uncertainty ~ 1/pT
        return 0.02 * (20.0 / pt) * (1.0 + 0.5 * abseta)
    if source == "Other":  # everything not listed, only in Total
        return 0.006 + 0.01 * (abseta > 2.5)
    raise ValueError(f"unknown JES source {source!r}")


def _grid_values(source: str) -> list[list[float]]:
    """Source evaluated at the bin centres of the (eta, pT) grid (pT centre is geometric)."""
    eta_c = 0.5 * (np.array(JES_ETA_EDGES[1:]) + np.array(JES_ETA_EDGES[:-1]))
    pt_e = np.array(JES_PT_EDGES, dtype=float)
    pt_c = np.sqrt(pt_e[1:] * pt_e[:-1])
    abseta, pt = np.meshgrid(np.abs(eta_c), pt_c, indexing="ij")
    if source == "Total":
        parts = [_jes_source(s, abseta, pt) for s in (*JES_SOURCES, "Other")]
        vals = np.sqrt(np.sum(np.square(parts), axis=0))
    else:
        vals = _jes_source(source, abseta, pt)
    return np.round(vals, 6).tolist()


def _jes_correction(source: str) -> cs.Correction:
    """One JES uncertainty source: binning eta (flow error) x pT (clamp) -> relative unc."""
    rows = _grid_values(source)
    return cs.Correction(
        name=f"{JEC_TAG}_{source}_{JET_TYPE}",
        description=f"synthetic relative JES uncertainty, source {source}",
        version=1,
        inputs=[
            cs.Variable(name="JetEta", type="real", description="jet pseudorapidity"),
            cs.Variable(name="JetPt", type="real", description="jet pT after all corrections"),
        ],
        output=cs.Variable(name="correction", type="real", description="relative uncertainty"),
        data=cs.Binning(
            nodetype="binning",
            input="JetEta",
            edges=JES_ETA_EDGES,
            flow="error",
            content=[
                cs.Binning(nodetype="binning", input="JetPt", edges=JES_PT_EDGES, content=row,
                           flow="clamp")
                for row in rows
            ],
        ),
    )


def _signed(edges: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    """Mirror |eta| bins to signed eta bins (CMS payloads bin in signed eta)."""
    signed = [-e for e in reversed(edges[1:])] + edges
    return signed, list(reversed(values)) + values


def _resolution() -> cs.Correction:
    """sigma(pT)/pT as a formula in (pT, rho) per eta bin."""
    expr = "[3]*sqrt(max([0]+[4]*(y-[5]),0.5)/(x*x)+[1]/x+[2])"
    formula = cs.FormulaRef  # alias to keep lines short
    edges, factors = _signed(RES_ETA_EDGES, RES_ETA_FACTOR)
    content = [
        formula(nodetype="formularef", index=0,
                parameters=[RES_N2, RES_S2, RES_C2, f, RES_N2_PER_RHO, RHO_REF])
        for f in factors
    ]
    return cs.Correction(
        name=f"{JER_TAG}_PtResolution_{JET_TYPE}",
        description="synthetic relative jet pT resolution sigma/pT",
        version=1,
        inputs=[
            cs.Variable(name="JetEta", type="real", description="jet pseudorapidity"),
            cs.Variable(name="JetPt", type="real", description="jet pT after all corrections"),
            cs.Variable(name="Rho", type="real", description="fixedGridRhoFastjetAll, GeV"),
        ],
        output=cs.Variable(name="correction", type="real", description="sigma(pT)/pT"),
        generic_formulas=[
            cs.Formula(nodetype="formula", expression=expr, parser="TFormula",
                       variables=["JetPt", "Rho"])
        ],
        data=cs.Binning(nodetype="binning", input="JetEta", edges=edges, content=content,
                        flow="clamp"),
    )


def _scale_factor() -> cs.Correction:
    """JER data/MC scale factor nom/up/down by eta (JetPt is an input, unused, as in CMS)."""
    edges, nom = _signed(SF_ETA_EDGES, SF_NOM)
    _, unc = _signed(SF_ETA_EDGES, SF_UNC)
    content = [
        cs.Category(nodetype="category", input="systematic", content=[
            cs.CategoryItem(key="nom", value=n),
            cs.CategoryItem(key="up", value=round(n + u, 6)),
            cs.CategoryItem(key="down", value=round(n - u, 6)),
        ])
        for n, u in zip(nom, unc, strict=True)
    ]
    return cs.Correction(
        name=f"{JER_TAG}_ScaleFactor_{JET_TYPE}",
        description="synthetic JER data/MC scale factor",
        version=1,
        inputs=[
            cs.Variable(name="JetEta", type="real", description="jet pseudorapidity"),
            cs.Variable(name="JetPt", type="real", description="jet pT (unused)"),
            cs.Variable(name="systematic", type="string", description="nom, up, down"),
        ],
        output=cs.Variable(name="correction", type="real", description="scale factor"),
        data=cs.Binning(nodetype="binning", input="JetEta", edges=edges, content=content,
                        flow="clamp"),
    )


def make_jerc() -> cs.CorrectionSet:
    """The synthetic JERC payload: JES Total + sources, JER resolution and scale factor."""
    corrections = [_jes_correction(s) for s in ("Total", *JES_SOURCES)]
    corrections += [_resolution(), _scale_factor()]
    return cs.CorrectionSet(schema_version=2, description="fourtops synthetic JERC",
                            corrections=corrections)
