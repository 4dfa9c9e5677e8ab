"""The b-tagging and top-tagger efficiency maps as correctionlib CorrectionSets (schema v2).

One correction per process, ``btag_efficiency_<process>``, with inputs
``(wp, flavour, abseta, pt, quantity)``: working point and hadron flavour as categories,
|η| × pT as a multi-binning (pT clamped to the table's range), and ``quantity`` =
``"efficiency"`` or ``"stat"`` (its statistical uncertainty). The top taggers' set has one
correction per tagger and process, ``top_tag_efficiency_<tagger>_<process>``, with inputs
``(origin, abseta, pt, quantity)`` (the score threshold is the analysis' own, in the
description). correctionlib's
``convert.from_histogram`` drops the variances, so the schema objects are built here.
"""

from __future__ import annotations

from pathlib import Path

import correctionlib.schemav2 as cs
import numpy as np

from analysis.publish.efficiency import FLAVOURS, WORKING_POINT, EfficiencyMap
from analysis.publish.top_origin import ORIGIN_DEFINITIONS
from analysis.publish.top_tag_efficiency import CANDIDATES, TAGGERS, TopTagMap


def _binning(values: np.ndarray, m: EfficiencyMap | TopTagMap) -> cs.MultiBinning:
    # content runs over the inputs in order, the last one (pT) fastest: rows of |η|
    return cs.MultiBinning(nodetype="multibinning", inputs=["abseta", "pt"],
                           edges=[m.abs_eta_edges.tolist(), m.pt_edges.tolist()],
                           content=[float(v) for v in values.T.ravel()], flow="clamp")


def _correction(process: str, maps: list[EfficiencyMap]) -> cs.Correction:
    codes = {name: code for code, name in FLAVOURS.items()}
    by_flavour = [
        cs.CategoryItem(key=codes[m.flavour], value=cs.Category(
            nodetype="category", input="quantity",
            content=[cs.CategoryItem(key="efficiency", value=_binning(m.efficiency, m)),
                     cs.CategoryItem(key="stat", value=_binning(m.uncertainty, m))]))
        for m in maps
    ]
    return cs.Correction(
        name=f"btag_efficiency_{process}", version=1,
        description=(f"b-tagging efficiency (b) and mistag rate (c, light) of selected AK4 "
                     f"jets in {process} simulation with the required number of jets "
                     "(before the b-tag and HT requirements), versus |eta| "
                     "and pT, per hadron flavour; 'stat' is its statistical uncertainty"),
        inputs=[
            cs.Variable(name="wp", type="string", description="working point (M: medium)"),
            cs.Variable(name="flavour", type="int",
                        description="Jet_hadronFlavour: 5 b, 4 c, 0 light"),
            cs.Variable(name="abseta", type="real", description="jet |eta|"),
            cs.Variable(name="pt", type="real", description="jet pT [GeV]"),
            cs.Variable(name="quantity", type="string",
                        description="'efficiency' or 'stat' (its statistical uncertainty)"),
        ],
        output=cs.Variable(name="value", type="real", description="efficiency or uncertainty"),
        data=cs.Category(nodetype="category", input="wp", content=[
            cs.CategoryItem(key=WORKING_POINT, value=cs.Category(
                nodetype="category", input="flavour", content=by_flavour))]),
    )


def correction_set(maps: list[EfficiencyMap]) -> cs.CorrectionSet:
    """A CorrectionSet with one correction per process of ``maps``."""
    processes = sorted({m.process for m in maps})
    return cs.CorrectionSet(schema_version=2, description="fourtops b-tagging efficiencies",
                            corrections=[_correction(p, [m for m in maps if m.process == p])
                                         for p in processes])


def write_correction_set(maps: list[EfficiencyMap], path: Path) -> Path:
    """Write :func:`correction_set` as JSON (validated by the schema on construction)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(correction_set(maps).model_dump_json(exclude_unset=True, indent=1) + "\n")
    return path


def _top_tag_correction(tagger: str, process: str, maps: list[TopTagMap]) -> cs.Correction:
    by_origin = [
        cs.CategoryItem(key=m.origin, value=cs.Category(
            nodetype="category", input="quantity",
            content=[cs.CategoryItem(key="efficiency", value=_binning(m.efficiency, m)),
                     cs.CategoryItem(key="stat", value=_binning(m.uncertainty, m))]))
        for m in maps
    ]
    what = CANDIDATES[tagger]
    origins = "; ".join(f"{m.origin}: {ORIGIN_DEFINITIONS[tagger][m.origin]}" for m in maps)
    return cs.Correction(
        name=f"top_tag_efficiency_{tagger}_{process}", version=1,
        description=(f"{TAGGERS[tagger]}: fraction of its candidates with score > "
                     f"{maps[0].threshold:g} (where the analysis counts a top) in preselected "
                     f"{process} simulation versus candidate |eta| and pT, per generator "
                     f"origin ({origins}); the efficiency for genuine tops, the mistag rate for "
                     "the others; 'stat' is its statistical uncertainty"),
        inputs=[
            cs.Variable(name="origin", type="string",
                        description="candidate origin: " + ", ".join(m.origin for m in maps)),
            cs.Variable(name="abseta", type="real", description=f"{what} |eta|"),
            cs.Variable(name="pt", type="real", description=f"{what} pT [GeV]"),
            cs.Variable(name="quantity", type="string",
                        description="'efficiency' or 'stat' (its statistical uncertainty)"),
        ],
        output=cs.Variable(name="value", type="real", description="efficiency or uncertainty"),
        data=cs.Category(nodetype="category", input="origin", content=by_origin),
    )


def top_tag_correction_set(maps: list[TopTagMap]) -> cs.CorrectionSet:
    """A CorrectionSet with one correction per (tagger, process) of ``maps``."""
    keys = sorted({(m.tagger, m.process) for m in maps})
    return cs.CorrectionSet(
        schema_version=2, description="fourtops top-tagger efficiencies and mistag rates",
        corrections=[_top_tag_correction(t, p, [m for m in maps
                                                if (m.tagger, m.process) == (t, p)])
                     for t, p in keys])


def write_top_tag_correction_set(maps: list[TopTagMap], path: Path) -> Path:
    """Write :func:`top_tag_correction_set` as JSON (validated by the schema)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(top_tag_correction_set(maps).model_dump_json(exclude_unset=True, indent=1)
                    + "\n")
    return path
