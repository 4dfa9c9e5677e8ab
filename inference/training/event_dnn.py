"""Event DNN: an MLP separating tt̄tt̄ from tt̄(+X) on :data:`analysis.ml_features.DNN_FEATURES`.

Two folds by event-number parity: fold 0 trains on even events (and is applied to odd ones
in processing), fold 1 on odd events. Standardisation (median / norm_factor / clip,
weaver style) is the first fixed layer of the graph, so the ONNX model takes raw features.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from inference.training.settings import EventDNNSettings

CLIP = 5.0


def fit_standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column median and norm_factor = 1 / (half the 16-84 % interval, or the std)."""
    lo, med, hi = np.percentile(x, [16, 50, 84], axis=0)
    half = (hi - lo) / 2
    std = x.std(axis=0)
    scale = np.where(half > 1e-6, half, np.where(std > 1e-6, std, 1.0))
    return med.astype(np.float32), (1.0 / scale).astype(np.float32)


class EventMLP(nn.Module):
    """features (B, F) raw -> score (B, 1), P(tt̄tt̄)."""

    def __init__(self, median: np.ndarray, norm: np.ndarray, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("median", torch.tensor(median).view(1, -1))
        self.register_buffer("norm", torch.tensor(norm).view(1, -1))
        layers: list[nn.Module] = []
        prev = len(median)
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.ReLU(), nn.Dropout(0.1)]
            prev = h
        layers.append(nn.Linear(prev, 1))
        self.net = nn.Sequential(*layers)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid output."""
        return self.net(torch.clamp((x - self.median) * self.norm, -CLIP, CLIP))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


def train_event_dnn(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, settings: EventDNNSettings, seed: int
) -> EventMLP:
    """Train on raw features ``x`` with labels ``y`` (1 = tt̄tt̄) and per-event weights ``w``.

    Weights are normalised so signal and background carry equal total weight.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    med, norm = fit_standardisation(x)
    model = EventMLP(med, norm, settings.hidden)
    w = np.asarray(w, np.float64)
    w = np.where(y == 1, w / w[y == 1].sum(), w / w[y == 0].sum()) * len(y) / 2
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32)).view(-1, 1)
    wt = torch.from_numpy(w.astype(np.float32)).view(-1, 1)
    opt = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    model.train()
    for _ in range(settings.epochs):
        perm = rng.permutation(len(y))
        for s in range(0, len(y), settings.batch_size):
            b = torch.from_numpy(perm[s : s + settings.batch_size])
            loss = (loss_fn(model.logits(xt[b]), yt[b]) * wt[b]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def predict(model: EventMLP, x: np.ndarray) -> np.ndarray:
    """Scores (n,) with the torch model."""
    with torch.no_grad():
        return model(torch.from_numpy(x.astype(np.float32))).numpy()[:, 0]


def export_onnx(model: EventMLP, n_features: int, path: str) -> None:
    """Export with a dynamic batch axis: input ``features`` (B, F), output ``score`` (B, 1)."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.zeros(2, n_features),),
            path,
            input_names=["features"],
            output_names=["score"],
            dynamo=False,
            opset_version=17,
            dynamic_axes={"features": {0: "batch"}, "score": {0: "batch"}},
        )
