"""Compare the tight jet ID recomputed from energy fractions (the v15 way) with the
``Jet_jetId`` tight bit stored in a real NanoAOD file, overall and per |η| bin, and list
the jets where they differ.

    python -m corrections.check_jet_id [--data ../shared/data] [--file nano_tt_v12.root]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from corrections.jet_id import FRACTIONS, jet_id_from_fractions, load_jet_id_criteria

ETA_BINS = ((0.0, 2.4), (2.4, 2.6), (2.6, 2.7), (2.7, 3.0), (3.0, np.inf))
TIGHT_BIT = 2


def main(argv: list[str] | None = None) -> int:
    """Print the agreement for ``<data>/nanoaod/<file>``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--file", default="nano_tt_v12.root")
    args = ap.parse_args(argv)
    cols = ["eta", "pt", "jetId", "nConstituents", *FRACTIONS]
    arrays = uproot.open(args.data / "nanoaod" / args.file)["Events"].arrays(
        [f"Jet_{c}" for c in cols])
    jets = ak.zip({c: arrays[f"Jet_{c}"] for c in cols})
    recomputed = np.asarray(ak.flatten(jet_id_from_fractions(jets, load_jet_id_criteria())))
    stored = np.asarray(ak.flatten((jets.jetId & TIGHT_BIT) != 0))
    flat = {c: np.asarray(ak.flatten(jets[c])) for c in cols}
    abseta = np.abs(flat["eta"])
    same = recomputed == stored
    print(f"{args.file}: {same.sum()} of {len(same)} jets agree ({same.mean():.2%})")
    for low, high in ETA_BINS:
        m = (abseta > low) & (abseta <= high)
        print(f"  {low} < |eta| <= {high}: {same[m].sum()} of {m.sum()} agree")
    sel = (flat["pt"] > 30) & (abseta < 2.4)
    print(f"  selected jets (pT > 30 GeV, |eta| < 2.4): {same[sel].sum()} of {sel.sum()} agree")
    for i in np.flatnonzero(~same):
        values = ", ".join(f"{c}={flat[c][i]:.6g}" for c in cols)
        print(f"  differs: recomputed={recomputed[i]} stored={stored[i]}: {values}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
