"""A small ParticleNet-style boosted top tagger (EdgeConv on fat-jet constituents).

Architecture after Qu & Gouskos, Phys. Rev. D 101 (2020) 056019 (ParticleNet), sized for
a CPU budget of well under 1 ms per jet: k nearest neighbours in (delta eta, delta phi) for
the first block and in feature space for the next (dynamic graph), two EdgeConv blocks,
masked global average pooling, one hidden layer, a sigmoid top probability. The weaver-
style standardisation of the features is the first (fixed) layer, so the ONNX model takes
raw features.

Lorentz pooling (in the spirit of the Lorentz-aware pair features of ParT, Qu, Li, Qian,
ICML 2022, arXiv:2202.03772, and of energy-flow networks): each constituent's massless
four-momentum in the jet frame, (pT cos dphi, pT sin dphi, pT sinh deta, pT cosh deta),
is rebuilt inside the graph from the raw ``log_pt``, ``delta_eta``, ``delta_phi`` inputs
(invariant masses do not depend on the jet's own rapidity or azimuth). ``lorentz_heads``
learned per-constituent weights in [0, 1] (a learned grooming / subjet assignment, from
the EdgeConv embeddings) form weighted sums of these four-momenta; the masses of every
head and of every pair of heads, and each head's pT fraction, enter the classifier head.
So the network can measure groomed jet and subjet (W) masses directly.

Jet-level features (as the weaver ParticleNet trainings do for mass-aware taggers): the
fat jet's pT, mass, soft-drop mass, tau21 and tau32 from NanoAOD (``jet_features`` input,
:data:`~analysis.constituents.JET_FEATURES`), standardised inside the graph, are
concatenated to the pooled constituent embedding before the fully connected head.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from inference.training.settings import BoostedTaggerSettings

_FAR = 1e9  # shift of padded points so they are never anyone's neighbour
PADDED = ("points", "features", "mask")  # inputs with a (padded) constituent axis
_MASS_SCALE = 100.0  # GeV: head masses enter as m / 100 GeV and log(1 + m / 100 GeV)


def _knn(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (B, N, k) of the k nearest other points of x (B, N, C)."""
    inner = torch.matmul(x, x.transpose(1, 2))
    sq = (x * x).sum(dim=2, keepdim=True)
    neg_dist = 2 * inner - sq - sq.transpose(1, 2)
    return neg_dist.topk(k=k + 1, dim=-1)[1][:, :, 1:]


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Neighbour values (B, N, k, C) of x (B, N, C) at indices idx (B, N, k)."""
    b, n, c = x.shape
    k = idx.shape[-1]
    base = torch.arange(b, device=x.device).view(-1, 1, 1) * n
    return x.reshape(b * n, c)[(idx + base).reshape(-1)].view(b, n, k, c)


class EdgeConvBlock(nn.Module):
    """EdgeConv: shared MLP on edges (x_i, x_j - x_i), mean over neighbours, shortcut.

    Channels-last throughout. The first edge layer is linear, so W [x_i, x_j - x_i] =
    (W_c - W_n) x_i + W_n x_j is computed per point and only W_n x_j is gathered: the same
    function as the textbook form without building the (B, N, k, 2C) edge tensor, which
    dominates the CPU cost. No batch norm inside the block (it would not fold after the
    gather); inputs are standardised instead.
    """

    def __init__(self, k: int, c_in: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.k = k
        self.centre = nn.Linear(c_in, channels[0])
        self.neighbour = nn.Linear(c_in, channels[0], bias=False)
        layers: list[nn.Module] = [nn.ReLU()]
        prev = channels[0]
        for c in channels[1:]:
            layers += [nn.Linear(prev, c), nn.ReLU()]
            prev = c
        self.mlp = nn.Sequential(*layers)
        self.shortcut = nn.Linear(c_in, prev)
        self.act = nn.ReLU()

    def forward(self, idx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        edges = self.centre(x).unsqueeze(2) + _gather(self.neighbour(x), idx)
        y = self.mlp(edges).mean(dim=2)
        return self.act(y + self.shortcut(x))


class ParticleNetLite(nn.Module):
    """Inputs points (B,2,P), features (B,F,P), mask (B,1,P) and, when built with jet
    standardisation, jet_features (B,J); output top probability (B,1)."""

    def __init__(
        self,
        n_features: int,
        settings: BoostedTaggerSettings,
        median: np.ndarray,
        norm: np.ndarray,
        lower: float = -5.0,
        upper: float = 5.0,
        jet_median: np.ndarray | None = None,
        jet_norm: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("median", torch.tensor(median, dtype=torch.float32).view(1, 1, -1))
        self.register_buffer("norm", torch.tensor(norm, dtype=torch.float32).view(1, 1, -1))
        self.n_jet = 0 if jet_median is None else len(jet_median)
        if self.n_jet:
            self.register_buffer(
                "jet_median", torch.tensor(jet_median, dtype=torch.float32).view(1, -1)
            )
            self.register_buffer(
                "jet_norm", torch.tensor(jet_norm, dtype=torch.float32).view(1, -1)
            )
        self.lower, self.upper = lower, upper
        self.k = settings.k_neighbours
        self.dynamic = settings.dynamic_graph
        blocks, c_in = [], n_features
        for chans in settings.edge_channels:
            blocks.append(EdgeConvBlock(settings.k_neighbours, c_in, tuple(chans)))
            c_in = chans[-1]
        self.blocks = nn.ModuleList(blocks)
        self.n_heads = settings.lorentz_heads
        n_lorentz = 0
        if self.n_heads:
            from analysis.constituents import PARTICLE_FEATURES

            names = [f[0] for f in PARTICLE_FEATURES]
            self.i_logpt = names.index("log_pt")
            self.i_deta, self.i_dphi = names.index("delta_eta"), names.index("delta_phi")
            self.assign = nn.Linear(c_in, self.n_heads)
            pairs = torch.triu_indices(self.n_heads, self.n_heads, offset=1)
            self.register_buffer("pair_a", pairs[0].clone())
            self.register_buffer("pair_b", pairs[1].clone())
            # per head: m, log(1+m), pT fraction; per pair of heads: m, log(1+m)
            n_lorentz = 3 * self.n_heads + 2 * pairs.shape[1]
        layers: list[nn.Module] = []
        prev = c_in + n_lorentz + self.n_jet
        for _ in range(settings.fc_layers):
            layers += [nn.Linear(prev, settings.fc_channels), nn.ReLU(), nn.Dropout(0.1)]
            prev = settings.fc_channels
        self.head = nn.Sequential(*layers, nn.Linear(prev, 1))

    @property
    def input_names(self) -> list[str]:
        return ["points", "features", "mask", *(["jet_features"] if self.n_jet else [])]

    def logits(self, points, features, mask, jet_features=None):
        """Pre-sigmoid score (B, 1)."""
        m = mask.transpose(1, 2)  # (B, P, 1)
        raw = features.transpose(1, 2)
        x = torch.clamp((raw - self.median) * self.norm, self.lower, self.upper) * m
        # first graph in (delta eta, delta phi), later ones in feature space (dynamic graph,
        # as in ParticleNet); padded points are pushed far away so they are nobody's neighbour
        shift = (1.0 - m) * _FAR
        idx = _knn(points.transpose(1, 2) * m + shift, self.k)
        for i, block in enumerate(self.blocks):
            if i > 0 and self.dynamic:
                idx = _knn(x + shift, self.k)
            x = block(idx, x) * m
        pooled = x.sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        if self.n_heads:
            pooled = torch.cat([pooled, self._lorentz(raw, x, m)], dim=1)
        if self.n_jet:
            j = (jet_features - self.jet_median) * self.jet_norm
            pooled = torch.cat([pooled, torch.clamp(j, self.lower, self.upper)], dim=1)
        return self.head(pooled)

    def _lorentz(self, raw: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Masses and pT fractions of learned weighted four-momentum sums (B, n_lorentz)."""
        pt = torch.exp(raw[:, :, self.i_logpt : self.i_logpt + 1].clamp(max=20.0)) * m
        deta = raw[:, :, self.i_deta : self.i_deta + 1]
        dphi = raw[:, :, self.i_dphi : self.i_dphi + 1]
        ep, em = torch.exp(deta.clamp(-5.0, 5.0)), torch.exp(-deta.clamp(-5.0, 5.0))
        # sinh / cosh written with exp (no ONNX opset-17 export for aten::sinh)
        p4 = torch.cat(
            [pt * torch.cos(dphi), pt * torch.sin(dphi), pt * (ep - em) / 2, pt * (ep + em) / 2],
            dim=2,
        )  # (B, P, 4)
        w = torch.sigmoid(self.assign(x)) * m  # (B, P, H)
        heads = torch.matmul(w.transpose(1, 2), p4)  # (B, H, 4)
        pairs = heads[:, self.pair_a, :] + heads[:, self.pair_b, :]  # (B, H(H-1)/2, 4)

        def mass(v: torch.Tensor) -> torch.Tensor:
            m2 = v[..., 3] ** 2 - v[..., 0] ** 2 - v[..., 1] ** 2 - v[..., 2] ** 2
            return torch.sqrt(m2.clamp(min=0.0) + 1e-6) / _MASS_SCALE

        mh, mp = mass(heads), mass(pairs)
        pt_jet = pt.sum(dim=1).clamp(min=1e-3)  # (B, 1)
        frac = torch.sqrt(heads[..., 0] ** 2 + heads[..., 1] ** 2 + 1e-6) / pt_jet
        return torch.cat([mh, torch.log(1.0 + mh), frac, mp, torch.log(1.0 + mp)], dim=1)

    def forward(self, points, features, mask, jet_features=None):
        return torch.sigmoid(self.logits(points, features, mask, jet_features))


def train_particlenet(
    data: dict[str, np.ndarray],
    labels: np.ndarray,
    preprocessing: list[dict],
    settings: BoostedTaggerSettings,
    seed: int,
    jet_preprocessing: list[dict] | None = None,
) -> ParticleNetLite:
    """Train on padded constituents (``points``, ``features``, ``mask``; ``jet_features``
    too when ``jet_preprocessing`` is given) with 0/1 labels."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    jp = jet_preprocessing or []
    model = ParticleNetLite(
        data["features"].shape[1],
        settings,
        np.array([p["median"] for p in preprocessing]),
        np.array([p["norm_factor"] for p in preprocessing]),
        jet_median=np.array([p["median"] for p in jp]) if jp else None,
        jet_norm=np.array([p["norm_factor"] for p in jp]) if jp else None,
    )
    tensors = [torch.from_numpy(data[k]) for k in model.input_names]
    y = torch.from_numpy(labels.astype(np.float32)).view(-1, 1)
    # balance classes so the score does not encode the sample composition
    pos = float(labels.mean())
    w = torch.from_numpy(np.where(labels == 1, 0.5 / pos, 0.5 / (1 - pos)).astype(np.float32))
    opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    n = len(y)
    steps = settings.epochs * max(1, n // settings.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, settings.learning_rate, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss(reduction="none")
    model.train()
    step = 0
    for _ in range(settings.epochs):
        perm = rng.permutation(n)
        for start in range(0, n - settings.batch_size + 1, settings.batch_size):
            if step >= steps:
                break
            b = torch.from_numpy(perm[start : start + settings.batch_size])
            out = model.logits(*(t[b] for t in tensors))
            loss = (loss_fn(out, y[b]).view(-1) * w[b]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    model.eval()
    return model


def predict(model: ParticleNetLite, data: dict[str, np.ndarray], batch: int = 2048) -> np.ndarray:
    """Top probabilities (n,) with the torch model."""
    out = []
    with torch.no_grad():
        for s in range(0, len(data["mask"]), batch):
            args = [torch.from_numpy(data[k][s : s + batch]) for k in model.input_names]
            out.append(model(*args).numpy()[:, 0])
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def export_onnx(model: ParticleNetLite, pad_length: int, n_features: int, path: str) -> None:
    """Export with dynamic batch and constituent axes; inputs ``model.input_names``, output
    ``score``."""
    model.eval()
    args: tuple[torch.Tensor, ...] = (
        torch.zeros(2, 2, pad_length),
        torch.zeros(2, n_features, pad_length),
        torch.ones(2, 1, pad_length),
    )
    if model.n_jet:
        args = (*args, torch.zeros(2, model.n_jet))
    names = model.input_names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter deprecation / tracer notices
        torch.onnx.export(
            model,
            args,
            path,
            input_names=names,
            output_names=["score"],
            dynamo=False,
            # the constituent axis is free too: a batch of jets with few constituents can be
            # fed with less padding (padded slots are masked and nobody's neighbour)
            dynamic_axes={n: {0: "batch", **({2: "constituents"} if n in PADDED else {})}
                          for n in [*names, "score"]},
            opset_version=17,
        )
