"""Synthetic pileup weights from a Pileup_nTrueInt MC profile and a data profile.

The data profile is the distribution of the mean number of interactions per crossing,
mu = sigma_minbias * L_bunch / f_rev. Scaling sigma_minbias by +-4.6 % (the CMS uncertainty
on the inelastic cross section 69.2 mb, CMS JHEP 07 (2018) 161) stretches the mu axis by
the same factor; those are the up/down profiles. Both profiles are gamma distributions:
the MC one is the synthetic generator's, the data one is slightly different (mean and
width of the size of the Run 2 2018 profile) so that the weights do something.
``make_pileup_correction`` builds the payload from any pair of binned profiles, so the MC
profile can be replaced by the one measured on the generated samples.
"""

from __future__ import annotations

import numpy as np
from correctionlib import schemav2 as cs
from scipy import stats

EDGES = np.arange(0.0, 101.0, 1.0)  # Pileup_nTrueInt bins
# MC profile of the synthetic generator: gamma with shape 9 and mean 32 (simulation settings)
MC_MEAN, MC_STD = 32.0, 32.0 / 3.0
DATA_MEAN, DATA_STD = 33.0, 11.0  # data profile at sigma_minbias = 69.2 mb
MINBIAS_REL_UNC = 0.046
MAX_WEIGHT = 10.0  # cap where the MC profile is nearly empty


def gamma_profile(mean: float, std: float, edges: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Probability per bin of a gamma-distributed mu, with mu scaled by ``scale``."""
    shape = (mean / std) ** 2
    dist = stats.gamma(a=shape, scale=std**2 / mean * scale)
    p = np.diff(dist.cdf(edges))
    return p / p.sum()


def make_pileup_correction(
    mc: np.ndarray, data: dict[str, np.ndarray], edges: np.ndarray, name: str = "pileup_weight"
) -> cs.Correction:
    """Weights data/MC per bin for each systematic (keys e.g. nominal, up, down)."""
    mc = np.asarray(mc, dtype=float) / np.sum(mc)
    content = []
    for syst, prof in data.items():
        prof = np.asarray(prof, dtype=float) / np.sum(prof)
        w = np.divide(prof, mc, out=np.ones_like(prof), where=mc > 1e-9)
        w = np.round(np.minimum(w, MAX_WEIGHT), 6).tolist()
        content.append(cs.CategoryItem(key=syst, value=cs.Binning(
            nodetype="binning", input="NumTrueInteractions", edges=edges.tolist(), content=w,
            flow="clamp")))
    return cs.Correction(
        name=name, version=1, description="pileup weight data/MC in Pileup_nTrueInt",
        inputs=[
            cs.Variable(name="NumTrueInteractions", type="real", description="Pileup_nTrueInt"),
            cs.Variable(name="weights", type="string", description=", ".join(data)),
        ],
        output=cs.Variable(name="weight", type="real", description="event weight"),
        data=cs.Category(nodetype="category", input="weights", content=content),
    )


def make_pileup() -> cs.CorrectionSet:
    """The synthetic pileup payload with nominal/up/down."""
    mc = gamma_profile(MC_MEAN, MC_STD, EDGES)
    data = {
        "nominal": gamma_profile(DATA_MEAN, DATA_STD, EDGES),
        "up": gamma_profile(DATA_MEAN, DATA_STD, EDGES, 1.0 + MINBIAS_REL_UNC),
        "down": gamma_profile(DATA_MEAN, DATA_STD, EDGES, 1.0 - MINBIAS_REL_UNC),
    }
    return cs.CorrectionSet(schema_version=2, description="fourtops synthetic pileup",
                            corrections=[make_pileup_correction(mc, data, EDGES)])
