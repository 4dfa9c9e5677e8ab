"""ROC curves with statistical uncertainties from weighted scores."""

from __future__ import annotations

import numpy as np

from analysis.publish.efficiency import efficiency_and_error


def efficiency_above(scores: np.ndarray, weights: np.ndarray, thresholds: np.ndarray,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted fraction of entries with score > each threshold, and its uncertainty."""
    scores, weights = np.asarray(scores, np.float64), np.asarray(weights, np.float64)
    passed = scores[None, :] > np.asarray(thresholds, np.float64)[:, None]
    w, w2 = weights[None, :], weights[None, :] ** 2
    return efficiency_and_error((passed * w).sum(1), (passed * w2).sum(1),
                                (~passed * w).sum(1), (~passed * w2).sum(1))


def roc_curve(signal: np.ndarray, signal_w: np.ndarray, background: np.ndarray,
              background_w: np.ndarray, n_points: int = 41) -> dict[str, np.ndarray]:
    """Signal and background efficiencies (with errors) at ``n_points`` thresholds inside
    (0, 1) (scores in [0, 1]; the end points, 1 and 0 exactly, carry no information)."""
    thresholds = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    s, s_err = efficiency_above(signal, signal_w, thresholds)
    b, b_err = efficiency_above(background, background_w, thresholds)
    return {"thresholds": thresholds, "signal": s, "signal_err": s_err, "background": b,
            "background_err": b_err}
