"""Jagged awkward inputs: flatten / pad, back to the event structure, empty cases."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from common.exceptions import ModelInputError
from inference.awkward_adapter import run_on_jagged
from inference.client import make_client
from tests.inference.onnx_models import N_POINTS


@pytest.fixture(scope="module")
def client(model_repo: Path):
    """In-process client on the test repository."""
    return make_client({"mode": "inprocess", "repository": model_repo})


def test_flatten_runs_per_object_and_restores_events(client) -> None:
    pt = ak.Array([[1.0, 2.0], [], [3.0, 4.0, 5.0]])
    eta = ak.Array([[0.5, -1.0], [], [0.0, 1.0, 2.0]])
    phi = ak.Array([[0.1, 0.2], [], [0.3, 0.4, 0.5]])
    out = run_on_jagged(client, "linear", {"x": [pt, eta, phi]})["y"]
    assert ak.to_list(ak.num(out, axis=1)) == [2, 0, 3]
    # y = pt + 2 eta + 3 phi + 1 for every jet.
    expected = pt + 2 * eta + 3 * phi + 1
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(out[..., 0])), ak.to_numpy(ak.flatten(expected)), rtol=1e-6
    )


def test_zero_events_and_zero_objects(client) -> None:
    none = ak.Array([[1.0]])[:0]
    out = run_on_jagged(client, "linear", {"x": [none, none, none]})["y"]
    assert len(out) == 0
    empty_events = ak.Array([[], []])
    out = run_on_jagged(client, "linear", {"x": [empty_events] * 3})["y"]
    assert ak.to_list(ak.num(out, axis=1)) == [0, 0]


def _random_points(rng, counts: list[int]) -> tuple[ak.Array, ak.Array]:
    total = sum(counts)
    points = ak.unflatten(rng.normal(size=(total, 2)).astype(np.float32), counts)
    features = ak.unflatten(rng.normal(size=(total, 4)).astype(np.float32), counts)
    return points, features


def test_pad_layout_matches_manual_padding_and_clips(client, rng) -> None:
    counts = [3, 0, N_POINTS + 5, N_POINTS]
    points, features = _random_points(rng, counts)
    out = run_on_jagged(
        client,
        "graphnet",
        {"points": points, "features": features},
        layout="pad",
        mask_input="mask",
    )
    # Manual padding: zeros after the real points, first N_POINTS kept, mask of real points.
    manual = {
        "points": np.zeros((4, N_POINTS, 2), np.float32),
        "features": np.zeros((4, N_POINTS, 4), np.float32),
        "mask": np.zeros((4, N_POINTS, 1), np.float32),
    }
    for i, n in enumerate(counts):
        k = min(n, N_POINTS)
        manual["points"][i, :k] = ak.to_numpy(points[i])[:k]
        manual["features"][i, :k] = ak.to_numpy(features[i])[:k]
        manual["mask"][i, :k] = 1.0
    expected = client.infer("graphnet", manual)
    np.testing.assert_allclose(out["prob"], expected["prob"], atol=1e-6)
    # Per-point outputs come back jagged, cut to each event's (clipped) points.
    assert ak.to_list(ak.num(out["point_score"], axis=1)) == [3, 0, N_POINTS, N_POINTS]
    np.testing.assert_allclose(
        ak.to_numpy(out["point_score"][0]), expected["point_score"][0, :3], atol=1e-6
    )


def test_pad_length_must_fit_the_model(client, rng) -> None:
    points, features = _random_points(rng, [2, 1])
    with pytest.raises(ModelInputError, match="'points': expected shape \\[-1, 16, 2\\]"):
        run_on_jagged(
            client,
            "graphnet",
            {"points": points, "features": features},
            layout="pad",
            mask_input="mask",
            pad_length=8,
        )
    with pytest.raises(ModelInputError, match="different number of events"):
        run_on_jagged(
            client,
            "graphnet",
            {"points": points, "features": features[:1]},
            layout="pad",
            mask_input="mask",
        )
