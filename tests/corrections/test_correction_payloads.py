"""The shipped synthetic payloads: schema-valid, up to date, vectorized, physically sensible."""

from __future__ import annotations

import numpy as np
import pytest

from corrections import settings
from corrections.loader import Corrections, validate_payload
from corrections.make_payloads import MAKERS, payload_bytes
from simulation.detector import jet_resolution
from simulation.settings import GeneratorSettings

PAYLOADS = list(MAKERS)


@pytest.fixture(scope="module")
def corr() -> Corrections:
    return Corrections()


@pytest.mark.parametrize("rel", PAYLOADS)
def test_payload_validates_against_schema_v2(rel: str) -> None:
    cset = validate_payload(settings.PACKAGE_DIR / rel)
    assert cset.schema_version == 2
    assert len(cset.corrections) >= 1


@pytest.mark.parametrize("rel", PAYLOADS)
def test_shipped_payload_is_what_the_script_makes(rel: str) -> None:
    # regenerating must reproduce the shipped file byte for byte (deterministic, up to date)
    assert payload_bytes(MAKERS[rel]()) == (settings.PACKAGE_DIR / rel).read_bytes()


def test_every_correction_evaluates_vectorized(corr: Corrections) -> None:
    n = 1000
    rng = np.random.default_rng(3)
    eta, pt, rho = rng.uniform(-2.4, 2.4, n), rng.uniform(20, 900, n), rng.uniform(5, 40, n)
    for src in corr.settings.jets.jes_sources:
        out = corr.evaluate("jets", corr.jes_name(src), JetEta=eta, JetPt=pt)
        assert out.shape == (n,) and np.all((out > 0) & (out < 0.2))
    res_name, sf_name = corr.jer_names()
    assert corr.evaluate("jets", res_name, JetEta=eta, JetPt=pt, Rho=rho).shape == (n,)
    sf = corr.evaluate("jets", sf_name, JetEta=eta, JetPt=pt, systematic="nom")
    assert np.all((sf >= 1.0) & (sf < 1.5))
    flav = rng.choice([0, 4, 5], n)
    eff = corr.evaluate("btag", "deepJet_eff", working_point="M", flavor=flav,
                        abseta=np.abs(eta), pt=pt)
    assert eff.shape == (n,)
    pu = corr.evaluate("pileup", "pileup_weight", NumTrueInteractions=rng.uniform(0, 99, n),
                       weights="nominal")
    assert pu.shape == (n,) and np.all(pu >= 0)
    trig = corr.evaluate("trigger", "trigger_sf", systematic="nominal",
                         HT=rng.uniform(700, 2000, n), NBJets=rng.integers(2, 6, n).astype(float))
    assert trig.shape == (n,) and np.all((trig > 0.8) & (trig <= 1.0))


def test_jet_resolution_matches_generator_model(corr: Corrections) -> None:
    # DESIGN: roughly 15 % at 30 GeV, 8 % at 100 GeV, 5 % at 1 TeV (barrel, typical pileup)
    res_name, _ = corr.jer_names()
    res = corr.evaluate("jets", res_name, JetEta=np.zeros(3), JetPt=np.array([30.0, 100.0, 1e3]),
                        Rho=np.full(3, 20.0))
    np.testing.assert_allclose(res, [0.15, 0.08, 0.05], rtol=0.03)


def test_jet_resolution_equals_the_generators(corr: Corrections) -> None:
    pt = np.geomspace(15, 3000, 40)
    eta = np.linspace(-4.7, 4.7, 40)
    det = GeneratorSettings().detector
    payload = corr.evaluate("jets", corr.jer_names()[0], JetEta=eta, JetPt=pt,
                            Rho=np.linspace(2, 50, 40))
    np.testing.assert_allclose(payload, jet_resolution(pt, det), rtol=1e-4)


def test_jes_total_covers_each_source(corr: Corrections) -> None:
    eta, pt = np.meshgrid(np.linspace(-4.5, 4.5, 19), np.geomspace(15, 3000, 25))
    eta, pt = eta.ravel(), pt.ravel()
    total = corr.evaluate("jets", corr.jes_name("Total"), JetEta=eta, JetPt=pt)
    quad = sum(corr.evaluate("jets", corr.jes_name(s), JetEta=eta, JetPt=pt) ** 2
               for s in corr.settings.jets.jes_sources if s != "Total")
    assert np.all(total**2 >= quad - 1e-9)
    # pileup-offset and flavour uncertainties fall with pT: low-pT jets are less certain
    assert np.all(total[pt < 20] > np.median(total[(pt > 200) & (np.abs(eta) < 2.5)]))


def test_btag_systematics_are_ordered_and_add_in_quadrature(corr: Corrections) -> None:
    pt = np.geomspace(25, 900, 12)
    for name, flavor in (("deepJet_comb", 5), ("deepJet_comb", 4), ("deepJet_incl", 0)):
        def sf(syst: str, name: str = name, flavor: int = flavor) -> np.ndarray:
            return corr.evaluate("btag", name, systematic=syst, working_point="M",
                                 flavor=np.full(pt.size, flavor), abseta=np.full(pt.size, 1.0),
                                 pt=pt)
        central = sf("central")
        assert np.all(sf("up") > central) and np.all(sf("down") < central)
        np.testing.assert_allclose(
            (sf("up") - central) ** 2,
            (sf("up_correlated") - central) ** 2 + (sf("up_uncorrelated") - central) ** 2,
            rtol=1e-3,
        )
    assert 0.25 < corr.btag_threshold() < 0.35  # DeepJet medium WP ~0.3


def test_pileup_weights_normalised_and_minbias_shift() -> None:
    from corrections.make_pileup import EDGES, MC_MEAN, MC_STD, gamma_profile

    corr = Corrections()
    centres = 0.5 * (EDGES[1:] + EDGES[:-1])
    mc = gamma_profile(MC_MEAN, MC_STD, EDGES)
    means = {}
    for syst in ("nominal", "up", "down"):
        w = corr.evaluate("pileup", "pileup_weight", NumTrueInteractions=centres, weights=syst)
        # reweighted MC is a probability distribution again (up to the capped tails)
        assert abs(np.sum(mc * w) - 1.0) < 0.01
        means[syst] = np.sum(mc * w * centres)
    # a larger minimum-bias cross section means more pileup in data
    assert means["down"] < means["nominal"] < means["up"]
    assert means["up"] / means["nominal"] == pytest.approx(1.046, abs=0.01)
