"""Loader behaviour: clear CorrectionErrors, picklability, settings."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pydantic import ValidationError

from common.exceptions import CorrectionError
from corrections.loader import Corrections, load_corrections, validate_payload
from corrections.settings import CorrectionsSettings, WeightPayloadSettings


def test_missing_correction_names_it_and_lists_available() -> None:
    s = CorrectionsSettings(pileup=WeightPayloadSettings(
        payload="synthetic_pileup.json.gz", correction="pileup_weight_2099"))
    with pytest.raises(CorrectionError, match="pileup_weight_2099") as err:
        load_corrections(s)
    assert "pileup_weight'" in str(err.value)  # the available name is listed


def test_missing_jes_source_is_reported() -> None:
    s = CorrectionsSettings()
    s.jets.jes_sources = ["Total", "TimePtEta"]
    with pytest.raises(CorrectionError, match="Synthetic_V1_MC_TimePtEta_AK4PFPuppi"):
        load_corrections(s)


def test_missing_payload_file(tmp_path) -> None:
    s = CorrectionsSettings(trigger=WeightPayloadSettings(
        payload=str(tmp_path / "nope.json.gz"), correction="trigger_sf"))
    with pytest.raises(CorrectionError, match="nope.json.gz"):
        load_corrections(s)
    with pytest.raises(CorrectionError, match="does not exist"):
        validate_payload(tmp_path / "nope.json")


def test_invalid_payload_is_rejected(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 2, "corrections": [{"name": "x"}]}')
    with pytest.raises(CorrectionError, match="not valid correctionlib v2"):
        validate_payload(bad)


def test_input_outside_validity_with_flow_error_names_correction_and_input() -> None:
    corr = load_corrections()
    name = corr.jes_name("Total")
    with pytest.raises(CorrectionError) as err:
        corr.evaluate("jets", name, JetEta=np.array([0.1, 6.0]), JetPt=np.array([50.0, 50.0]))
    assert name in str(err.value) and "'JetEta'" in str(err.value)
    # b-tag SFs are defined inside the tracker only (|eta| < 2.5)
    with pytest.raises(CorrectionError, match="deepJet_comb.*'abseta'"):
        corr.evaluate("btag", "deepJet_comb", systematic="central", working_point="M",
                      flavor=np.array([5]), abseta=np.array([2.7]), pt=np.array([50.0]))


def test_missing_input_is_reported() -> None:
    corr = load_corrections()
    with pytest.raises(CorrectionError, match="missing \\['Rho'\\]"):
        corr.evaluate("jets", corr.jer_names()[0], JetEta=0.0, JetPt=50.0)


def test_unknown_kind() -> None:
    with pytest.raises(CorrectionError, match="unknown correction kind 'muon'"):
        Corrections().payload_path("muon")


def test_corrections_pickle_and_evaluate_after_unpickling() -> None:
    corr = load_corrections()
    before = corr.evaluate("jets", corr.jes_name("Total"), JetEta=0.5, JetPt=40.0)
    clone = pickle.loads(pickle.dumps(corr))
    assert clone._sets == {}  # compiled evaluators are rebuilt lazily on the worker
    assert clone.evaluate("jets", clone.jes_name("Total"), JetEta=0.5, JetPt=40.0) == before


def test_settings_reject_unknown_keys_and_resolve_paths(tmp_path) -> None:
    with pytest.raises(ValidationError, match="jes_sauces"):
        CorrectionsSettings.model_validate({"jets": {"jes_sauces": ["Total"]}})
    s = CorrectionsSettings()
    assert s.resolve("synthetic_btag.json.gz").is_file()
    assert s.resolve(str(tmp_path / "x.json")) == tmp_path / "x.json"
