"""Apply the real CMS Summer22 JERC payload to the real NanoAODv12 tt̄ jets and print how
the re-applied JEC compares with the pT stored in the file, plus the JES uncertainty,
resolution and JER scale factor of those jets (medians).

    python -m corrections.check_real_jerc [--data ../shared/data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from corrections.loader import load_corrections
from corrections.settings import CorrectionsSettings

JEC_TAG = "Summer22_22Sep2023_V3_MC"
JER_TAG = "Summer22_22Sep2023_JRV1_MC"


def main(argv: list[str] | None = None) -> int:
    """Print the comparison for ``<data>/nanoaod/nano_tt_v12.root``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args(argv)
    corr = load_corrections(CorrectionsSettings.model_validate({"jets": {
        "payload": str(args.data / "corrections" / "jet_jerc_Summer22_V3.json.gz"),
        "jec_tag": JEC_TAG, "jer_tag": JER_TAG, "reapply_jec": True, "jes_sources": ["Total"],
    }}))
    with uproot.open(args.data / "nanoaod" / "nano_tt_v12.root") as f:
        a = f["Events"].arrays(["Jet_pt", "Jet_eta", "Jet_area", "Jet_rawFactor",
                                "Rho_fixedGridRhoFastjetAll"])
    pt = ak.to_numpy(ak.flatten(a.Jet_pt)).astype(float)
    eta = ak.to_numpy(ak.flatten(a.Jet_eta)).astype(float)
    raw = pt * (1 - ak.to_numpy(ak.flatten(a.Jet_rawFactor)))
    rho = np.repeat(ak.to_numpy(a.Rho_fixedGridRhoFastjetAll), ak.num(a.Jet_pt))
    factor = corr.evaluate("jets", corr.jec_name(), JetA=ak.to_numpy(ak.flatten(a.Jet_area)),
                           JetEta=eta, JetPt=raw, Rho=rho)
    sel = pt > 30
    ratio = (factor * raw / pt)[sel]
    lo, hi = np.percentile(ratio, [16, 84])
    central = sel & (np.abs(eta) < 2.4)
    unc = corr.evaluate("jets", corr.jes_name("Total"), JetEta=eta[central], JetPt=pt[central])
    res_name, sf_name = corr.jer_names()
    res = corr.evaluate("jets", res_name, JetEta=eta[central], JetPt=pt[central],
                        Rho=rho[central])
    sf = corr.evaluate("jets", sf_name, JetEta=eta[central], JetPt=pt[central],
                       systematic="nom")
    print(f"jets with pT > 30 GeV            : {int(sel.sum())}")
    print(f"re-applied JEC pT / stored pT     : median {np.median(ratio):.4f}, "
          f"16-84% {lo:.4f} - {hi:.4f}")
    print(f"JES Total uncertainty (|eta|<2.4) : median {np.median(unc):.4f}")
    print(f"JER resolution sigma/pT           : median {np.median(res):.4f}")
    print(f"JER scale factor (nom)            : median {np.median(sf):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
