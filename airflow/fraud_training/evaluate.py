"""Holdout split, metrics, the decision-threshold rule and the score-histogram baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.model_selection import train_test_split

TARGET_PRECISION = 0.90
# Bucket edges of the scorer's score histogram (docs/DESIGN.md); the card stores the holdout's CDF at each.
SCORE_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0]


def split_holdout(
    X: np.ndarray, y: np.ndarray, seed: int, holdout_fraction: float = 0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified split, so the holdout keeps the data's fraud prevalence. Returns X_train, X_hold, y_train, y_hold."""
    counts = np.bincount(y, minlength=2)
    if counts.min() < 4:
        raise ValueError(
            f"need at least 4 rows of each class for a stratified holdout; got {counts[0]} legit, {counts[1]} fraud"
        )
    X_train, X_hold, y_train, y_hold = train_test_split(
        X, y, test_size=holdout_fraction, stratify=y, random_state=seed
    )
    return X_train, X_hold, y_train, y_hold


def choose_threshold(y: np.ndarray, scores: np.ndarray) -> tuple[float, str]:
    """Max recall among thresholds with holdout precision >= 0.90 (ties: the highest threshold, fewer alerts).

    If no threshold reaches that precision, the threshold with the best F1 is used and the rule says so.
    A transaction is fraud when its score is >= the threshold.
    """
    precision, recall, thresholds = precision_recall_curve(y, scores)
    # precision/recall have one more entry than thresholds (the final point has no threshold).
    precision, recall = precision[:-1], recall[:-1]
    ok = precision >= TARGET_PRECISION
    if ok.any():
        best_recall = recall[ok].max()
        candidates = np.flatnonzero(ok & (recall == best_recall))
        return float(thresholds[candidates].max()), f"max recall at precision >= {TARGET_PRECISION:.2f}"
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return float(
        thresholds[int(np.argmax(f1))]
    ), f"max F1 (no threshold reached precision {TARGET_PRECISION:.2f})"


def recall_at_precision(y: np.ndarray, scores: np.ndarray, target: float = TARGET_PRECISION) -> float:
    precision, recall, _ = precision_recall_curve(y, scores)
    ok = precision >= target
    return float(recall[ok].max()) if ok.any() else 0.0


def baseline(scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """The holdout's score distribution, for drift alerts against live traffic."""
    n = len(scores)
    cumulative = [round(float(np.count_nonzero(scores <= edge)) / n, 6) for edge in SCORE_BUCKETS]
    return {
        "score_buckets": SCORE_BUCKETS,
        "score_cumulative_fraction": cumulative,
        "fraud_rate_at_threshold": round(float(np.count_nonzero(scores >= threshold)) / n, 6),
    }


def evaluate_scores(y: np.ndarray, scores: np.ndarray, threshold: float | None = None) -> dict[str, Any]:
    """All model-card metrics for fraud scores on labelled rows; picks the threshold unless one is given."""
    scores = np.asarray(scores, dtype=np.float64)
    rule = "given"
    if threshold is None:
        threshold, rule = choose_threshold(y, scores)
    flagged = scores >= threshold
    tp = int(np.count_nonzero(flagged & (y == 1)))
    positives = int(np.count_nonzero(y == 1))
    precision_at = tp / int(np.count_nonzero(flagged)) if flagged.any() else 0.0
    return {
        "threshold": threshold,
        "threshold_rule": rule,
        "metrics": {
            "roc_auc": float(roc_auc_score(y, scores)),
            "pr_auc": float(average_precision_score(y, scores)),
            "recall_at_90_precision": recall_at_precision(y, scores),
            "precision_at_threshold": precision_at,
            "recall_at_threshold": tp / positives if positives else 0.0,
            "holdout_prevalence": positives / len(y),
        },
        "baseline": baseline(scores, threshold),
    }


def evaluate_onnx(
    model_path: str, X: np.ndarray, y: np.ndarray, threshold: float | None = None
) -> dict[str, Any]:
    """Scores a model.onnx (e.g. the champion) on the same holdout, so challenger and champion compare fairly.

    Pass the champion card's threshold to evaluate its decisions as served; leave it out to re-choose one.
    """
    from .onnx_export import onnx_fraud_probability

    return evaluate_scores(y, onnx_fraud_probability(model_path, X), threshold)
