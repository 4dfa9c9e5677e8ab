"""The compatibility layer on branch-name sets and small arrays (no files needed)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from analysis.config import parse_config
from common.exceptions import CorrectionError, SchemaCompatibilityError
from corrections.jet_id import load_jet_id_criteria
from processors.compat import adapt_jets, detect_flavour

V12 = {"run", "luminosityBlock", "event", "genWeight", "Rho_fixedGridRhoFastjetAll",
       "Jet_pt", "Jet_eta", "Jet_jetId", "Jet_btagDeepFlavB", "Jet_btagPNetB",
       "LHEScaleWeight", "PSWeight", "Pileup_nTrueInt", "FatJet_particleNet_TvsQCD"}
V15 = (V12 - {"Jet_jetId", "Jet_btagDeepFlavB"}) | {
    "Jet_btagUParTAK4B", "Jet_neHEF", "Jet_neEmEF", "Jet_chHEF", "Jet_chEmEF", "Jet_muEF",
    "Jet_chMultiplicity", "Jet_neMultiplicity"}


def _config(**sections):
    data = {"luminosity_fb": 1.0, "trigger": {"paths": {"2024": ["HLT_PFHT1050"]}},
            "btag": {"working_points": {"2024": 0.13}}, "corrections": {},
            "histograms": {"ht": {"variable": "ht", "bins": 2, "start": 0, "stop": 1,
                                  "label": "HT"}},
            "datasets": {"x": {"process": "x", "kind": "mc", "era": "2024", "xsec_pb": 1.0,
                               "files": ["x.root"]}}}
    data.update(sections)
    return parse_config(data)


def test_an_eras_tagger_missing_from_the_file_is_a_gap_naming_it():
    with pytest.raises(SchemaCompatibilityError, match="'Jet_btagDeepFlavB'.*v15 or later"):
        detect_flavour("v15.root", V15, _config(), "2024", is_mc=True)


def test_the_eras_tagger_is_read_under_the_configured_name():
    cfg = _config(btag={"working_points": {"2024": 0.13},
                        "discriminant_by_era": {"2024": "btagUParTAK4B"}})
    flavour = detect_flavour("v15.root", V15, cfg, "2024", is_mc=True)
    assert flavour.btag == "btagUParTAK4B" and flavour.jet_id == "recomputed"
    assert any("Jet_btagUParTAK4B" in note for note in flavour.notes)
    jets = ak.Array([[{"pt": 50.0, "eta": 0.5, "btagUParTAK4B": 0.9, "neHEF": 0.1,
                       "neEmEF": 0.1, "chHEF": 0.5, "chEmEF": 0.1, "muEF": 0.0,
                       "chMultiplicity": 5, "neMultiplicity": 3}]])
    adapted = adapt_jets(jets, flavour, cfg, load_jet_id_criteria())
    assert adapted.btagDeepFlavB.tolist() == [[0.9]]  # the name the analysis reads
    assert adapted.passJetIdTight.tolist() == [[True]]


def test_recomputing_without_energy_fractions_is_a_gap():
    with pytest.raises(SchemaCompatibilityError, match="'Jet_neHEF'"):
        detect_flavour("x.root", V12, _config(inputs={"jet_id": "recompute"}), "2024", True)


def test_absent_weight_inputs_skip_exactly_their_variations():
    flavour = detect_flavour("x.root", V12 - {"PSWeight", "Pileup_nTrueInt"}, _config(),
                             "2024", is_mc=True)
    names = ["JES_Total_up", "pileup_up", "ISR_up", "FSR_down", "muRmuF_up", "btag_hf_up"]
    assert flavour.skipped(names) == ["pileup_up", "ISR_up", "FSR_down"]
    # a one-entry PSWeight is NanoAOD's placeholder for "no parton-shower weights"
    placeholder = detect_flavour("x.root", V12, _config(), "2024", True, ps_lengths={1})
    assert placeholder.skipped(names) == ["ISR_up", "FSR_down"]


@pytest.mark.parametrize("abseta,passes", [(2.6, True), (2.65, False), (3.0, True),
                                           (3.5, False)])
def test_jet_id_bins_are_lower_exclusive_upper_inclusive(abseta, passes):
    """One jet tuned to pass the |eta| <= 2.6 cuts (neHEF 0.95 fails 2.6-2.7's < 0.90,
    neEmEF 0.5 fails the forward < 0.40)."""
    values = {"neHEF": [0.95], "neEmEF": [0.5], "chHEF": [0.02], "multiplicity": [3],
              "chMultiplicity": [1], "neMultiplicity": [2]}
    got = load_jet_id_criteria().passes(np.array([abseta]),
                                        {k: np.array(v, float) for k, v in values.items()})
    assert got.tolist() == [passes]


def test_malformed_jet_id_criteria_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nbins:\n  - abs_eta: [0, 2.4]\n    cuts: {neHEF: ['~', 0.9]}\n")
    with pytest.raises(CorrectionError, match="bad.yaml.*malformed"):
        load_jet_id_criteria(bad)
