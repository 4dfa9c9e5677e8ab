"""Event weights and jet variations on a small generated NanoAOD sample."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

from analysis.variations import jet_variations
from analysis.weights import event_weights
from corrections.loader import load_corrections
from simulation import SampleSpec, generate_dataset


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> ak.Array:
    out = tmp_path_factory.mktemp("gen")
    files = generate_dataset(
        SampleSpec(process="tttt", n_events=2000, seed=4, n_files=1), out,
        luminosity_fb=10.0)
    return NanoEventsFactory.from_root({str(files[0]): "Events"}, schemaclass=NanoAODSchema,
                                       mode="virtual").events()


def select(jets: ak.Array) -> ak.Array:
    return jets[(jets.pt > 30) & (abs(jets.eta) < 2.4)]


# cross-reference completeness is the generator's business, tested in tests/simulation
@pytest.mark.filterwarnings("ignore:Missing cross-reference")
def test_generated_tttt_migrations_and_weights(generated: ak.Array) -> None:
    corr = load_corrections()
    varied = jet_variations(generated.Jet, generated, corr)
    n = {k: ak.to_numpy(ak.num(select(v))) for k, v in varied.items()}
    assert np.sum(n["JES_Total_up"] >= 9) > np.sum(n["nominal"] >= 9) > np.sum(
        n["JES_Total_down"] >= 9)
    jets = select(varied["nominal"])
    w = event_weights(generated, jets, corr)
    # the pileup payload's MC profile is the generator's: the mean weight stays ~1
    assert np.mean(w.factors["pileup"]) == pytest.approx(1.0, abs=0.03)
    nb = ak.to_numpy(ak.sum(jets.btagDeepFlavB > corr.btag_threshold(), axis=1))
    sel = (n["nominal"] >= 6) & (nb >= 3)
    assert w.weight("btag_hf_up")[sel].sum() > w.nominal[sel].sum() > w.weight(
        "btag_hf_down")[sel].sum()
