"""Flat-array collections against the jagged awkward operations they replace, bit for bit."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from analysis.config import load_config
from analysis.flat import FlatCollection
from analysis.selection import preselect, preselect_flat
from common.exceptions import FourTopsError


@pytest.fixture(scope="module")
def jagged() -> ak.Array:
    """Float32 jets, 0-14 per event, some events empty and some pT values repeated."""
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 15, size=2000)
    n = int(counts.sum())
    pt = (20.0 + rng.exponential(60.0, size=n)).astype(np.float32)
    pt[rng.random(n) < 0.05] = np.float32(45.5)  # ties: the sort must keep their order
    return ak.unflatten(ak.zip({
        "pt": pt,
        "eta": rng.uniform(-3, 3, size=n).astype(np.float32),
        "index": np.arange(n),
        "w": rng.uniform(0.5, 1.5, size=n),  # float64 factors for the product
    }), counts)


@pytest.fixture(scope="module")
def flat(jagged: ak.Array) -> FlatCollection:
    return FlatCollection.from_awkward(jagged, ("pt", "eta", "index", "w"))


def test_sums_and_products_equal_awkward_bit_for_bit(jagged, flat) -> None:
    ht = flat.event_sum(flat["pt"])
    assert ht.dtype == np.float32
    np.testing.assert_array_equal(ht, ak.to_numpy(ak.sum(jagged.pt, axis=1)))
    np.testing.assert_array_equal(flat.event_prod(flat["w"]),
                                  ak.to_numpy(ak.prod(jagged.w, axis=1)))
    high = flat["pt"] > 100
    np.testing.assert_array_equal(flat.event_count(high), ak.to_numpy(ak.sum(jagged.pt > 100, 1)))


def test_descending_pt_order_is_awkwards_stable_argsort(jagged, flat) -> None:
    expected = jagged[ak.argsort(jagged.pt, axis=1, ascending=False)]
    ordered = flat.pt_ordered()
    np.testing.assert_array_equal(ordered["index"], ak.to_numpy(ak.flatten(expected.index)))
    # the same through the general path (float64 pT cannot be packed into one sort key)
    wide = flat.replace(pt=flat["pt"].astype(np.float64)).pt_ordered()
    np.testing.assert_array_equal(wide["index"], ordered["index"])


def test_selection_and_padding_match_awkward(jagged, flat) -> None:
    keep = flat["pt"] > 50
    sub = flat.select(keep)
    reference = jagged[jagged.pt > 50]
    np.testing.assert_array_equal(sub.counts, ak.to_numpy(ak.num(reference)))
    padded = ak.to_numpy(ak.fill_none(ak.pad_none(reference.eta, 4, clip=True), 0.0))
    np.testing.assert_array_equal(sub.padded("eta", 4), padded)
    events = ak.to_numpy(ak.num(jagged)) % 3 == 0
    np.testing.assert_array_equal(flat.events(events)["index"],
                                  ak.to_numpy(ak.flatten(jagged[events].index)))
    assert len(flat.events(events)) == int(events.sum())


def test_a_field_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(FourTopsError, match="'eta' has 2 values for 3 jets"):
        FlatCollection(np.array([1, 2]), {"pt": np.ones(3), "eta": np.ones(2)})


def test_flat_preselection_equals_the_jagged_one(generated_ttbar) -> None:
    from coffea.nanoevents import NanoEventsFactory

    from workflows.pipeline import PipelineSchema

    config = load_config()
    events = NanoEventsFactory.from_root({str(generated_ttbar): "Events"},
                                         schemaclass=PipelineSchema, mode="virtual").events()
    jets = events.Jet
    # a varied pT (scaled per jet) so that re-ordering matters
    scale = np.random.default_rng(5).uniform(0.9, 1.1, size=int(ak.sum(ak.num(jets))))
    pt = (ak.to_numpy(ak.flatten(jets.pt)) * scale).astype(np.float32)
    jets = ak.with_field(jets, ak.unflatten(pt, ak.num(jets)), "pt")
    jets = ak.with_field(jets, (jets.jetId & 2) != 0, "passJetIdTight")
    flat = FlatCollection.from_awkward(jets, ("pt", "eta", "passJetIdTight", "btagDeepFlavB"))
    for reorder in (False, True):
        fast = preselect_flat(flat, config, 0.3, reorder)
        slow = preselect(jets, config, 0.3, reorder)
        for name in ("n_jets", "n_b", "ht", "sel", "sel_j", "sel_b"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
        np.testing.assert_array_equal(fast.jets["pt"], ak.to_numpy(ak.flatten(slow.jets.pt)))
        assert fast.sel.sum() > 0
