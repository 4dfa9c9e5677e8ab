"""b-tagging efficiency sums from jets, their maps, and the correctionlib form of them."""

from __future__ import annotations

import awkward as ak
import correctionlib
import correctionlib.schemav2 as cs
import numpy as np
import pytest

from analysis.publish.correctionlib_tables import write_correction_set
from analysis.publish.efficiency import (
    btag_efficiency_hist,
    efficiency_and_error,
    efficiency_maps,
    read_root,
    write_root,
)


def _jets():
    """Two events: b jets at 45 GeV (one of two tagged), a c jet at 120 GeV (tagged), a
    light jet at 2 TeV (not tagged; above the last edge)."""
    return ak.Array([
        [{"pt": 45.0, "eta": 0.3, "hadronFlavour": 5, "btag": 0.9},
         {"pt": 120.0, "eta": -1.5, "hadronFlavour": 4, "btag": 0.5}],
        [{"pt": 45.0, "eta": -0.2, "hadronFlavour": 5, "btag": 0.1},
         {"pt": 5000.0, "eta": 2.0, "hadronFlavour": 0, "btag": 0.2}],
    ])


def test_sums_count_jets_with_their_event_weight():
    h = btag_efficiency_hist(_jets(), np.array([2.0, 3.0]), "ttbar", 0.3, "btag")
    maps = {m.flavour: m for m in efficiency_maps(h)}
    b = maps["b"]
    # both b jets in the first pT and |eta| bin: weights 2 (tagged) and 3 (not)
    assert b.efficiency[0, 0] == pytest.approx(2 / 5)
    assert b.jets[0, 0] == pytest.approx(5.0)
    assert maps["c"].efficiency[3, 2] == 1.0  # 100-140 GeV, 1.2 < |eta| < 1.8
    assert maps["light"].jets[-1, 3] == pytest.approx(3.0)  # overflow in the last pT bin
    assert maps["light"].efficiency.sum() == 0.0


def test_weighted_error_reduces_to_binomial():
    eff, err = efficiency_and_error(np.array([30.0]), np.array([30.0]), np.array([70.0]),
                                    np.array([70.0]))
    assert eff[0] == pytest.approx(0.3)
    assert err[0] == pytest.approx(np.sqrt(0.3 * 0.7 / 100))


def test_root_round_trip_and_correctionlib_evaluation(tmp_path):
    rng = np.random.default_rng(3)
    n = 2000
    flavour = rng.choice([0, 4, 5], n)
    jets = ak.unflatten(ak.Array({
        "pt": rng.uniform(30, 500, n), "eta": rng.uniform(-2.4, 2.4, n),
        "hadronFlavour": flavour,
        "btag": np.where(rng.random(n) < np.select([flavour == 5, flavour == 4], [0.8, 0.2],
                                                   0.02), 0.9, 0.1)}), np.full(n // 5, 5))
    h = btag_efficiency_hist(jets, rng.uniform(0.5, 1.5, n // 5), "tttt", 0.3, "btag")
    back = read_root(write_root(h, tmp_path / "eff.root"))
    np.testing.assert_allclose(back.values(), h.values())
    np.testing.assert_allclose(back.variances(), h.variances())
    maps = efficiency_maps(back)
    path = write_correction_set(maps, tmp_path / "btag.json")
    cs.CorrectionSet.model_validate_json(path.read_text())  # the schema accepts it
    correction = correctionlib.CorrectionSet.from_file(str(path))["btag_efficiency_tttt"]
    for m in maps:
        code = {"b": 5, "c": 4, "light": 0}[m.flavour]
        for i, pt in enumerate([40.0, 60.0, 85.0, 120.0, 170.0, 250.0, 450.0]):
            for j, eta in enumerate([0.3, 0.9, 1.5, 2.1]):
                assert correction.evaluate("M", code, eta, pt, "efficiency") == \
                    pytest.approx(m.efficiency[i, j])
                assert correction.evaluate("M", code, eta, pt, "stat") == \
                    pytest.approx(m.uncertainty[i, j])
    b = next(m for m in maps if m.flavour == "b")
    assert np.average(b.efficiency, weights=b.jets) == pytest.approx(0.8, abs=0.05)
