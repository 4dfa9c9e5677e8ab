"""The b-tagging efficiency maps as a correctionlib CorrectionSet (schema v2).

One correction per process, ``btag_efficiency_<process>``, with inputs
``(wp, flavour, abseta, pt, quantity)``: working point and hadron flavour as categories,
|η| × pT as a multi-binning (pT clamped to the table's range), and ``quantity`` =
``"efficiency"`` or ``"stat"`` (its statistical uncertainty). correctionlib's
``convert.from_histogram`` drops the variances, so the schema objects are built here.
"""

from __future__ import annotations

from pathlib import Path

import correctionlib.schemav2 as cs
import numpy as np

from analysis.publish.efficiency import FLAVOURS, WORKING_POINT, EfficiencyMap


def _binning(values: np.ndarray, m: EfficiencyMap) -> cs.MultiBinning:
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
