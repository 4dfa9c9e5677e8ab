"""Classifier figures of merit: ROC AUC and background rejection at a signal efficiency."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve (signal = label 1)."""
    return float(roc_auc_score(labels, scores, sample_weight=weights))


def background_efficiency_at(
    labels: np.ndarray,
    scores: np.ndarray,
    signal_efficiency: float,
    weights: np.ndarray | None = None,
) -> float:
    """Background efficiency of the cut on ``scores`` that keeps ``signal_efficiency``."""
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights)
    return float(np.interp(signal_efficiency, tpr, fpr))


def signal_efficiency_at(
    labels: np.ndarray,
    scores: np.ndarray,
    background_efficiency: float,
    weights: np.ndarray | None = None,
) -> float:
    """Signal efficiency of the cut on ``scores`` that keeps ``background_efficiency``."""
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights)
    return float(np.interp(background_efficiency, fpr, tpr))


def tagger_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUC and rejection 1/eps_bkg at 30 % and 50 % signal efficiency.

    Where no background event passes, the rejection is reported as the number of
    background events (a lower bound) and ``rejection_at_X_is_lower_bound`` is set.
    """
    out: dict[str, float] = {"auc": auc(labels, scores)}
    n_bkg = max(int((labels == 0).sum()), 1)
    for eff in (0.3, 0.5):
        eb = background_efficiency_at(labels, scores, eff)
        key = f"rejection_at_{int(eff * 100)}"
        out[key] = float(1.0 / max(eb, 1.0 / n_bkg))
        out[key + "_is_lower_bound"] = bool(eb < 1.0 / n_bkg)
    out["n_signal"] = int((labels == 1).sum())
    out["n_background"] = int((labels == 0).sum())
    return out
