"""Quality of a category model on held-out products, at a threshold.

micro precision / recall / F1 (every (product, category) decision pooled), macro (the mean over categories
that occur in the truth or the predictions), precision@1 (is the best-scoring category one of the product's),
coverage (share of products without any category that get at least one prediction), and per-category F1 for
the best and worst lists of the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLD = 0.5  # Robotoff's neural category threshold


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def quality(
    scores: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    *,
    threshold: float = THRESHOLD,
    uncategorized: np.ndarray | None = None,
    top: int = 20,
) -> dict:
    """The report's figures; ``uncategorized`` scores rows of products without categories (for coverage)."""
    predicted = scores >= threshold
    tp = np.logical_and(predicted, truth).sum(axis=0).astype(np.float64)
    fp = np.logical_and(predicted, ~truth).sum(axis=0).astype(np.float64)
    fn = np.logical_and(~predicted, truth).sum(axis=0).astype(np.float64)
    micro_p = tp.sum() / (tp.sum() + fp.sum()) if tp.sum() + fp.sum() else 0.0
    micro_r = tp.sum() / (tp.sum() + fn.sum()) if tp.sum() + fn.sum() else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        r = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    active = (tp + fp + fn) > 0
    labelled = truth.any(axis=1)
    best = scores.argmax(axis=1) if scores.shape[1] else np.zeros(len(scores), dtype=np.int64)
    hits = truth[np.arange(len(truth)), best] if scores.shape[1] else np.zeros(len(truth), dtype=bool)
    ranked = sorted(
        (
            {"category": labels[i], "f1": round(float(f1[i]), 4), "support": int(tp[i] + fn[i])}
            for i in np.flatnonzero(active)
        ),
        key=lambda row: (-row["f1"], row["category"]),
    )
    report = {
        "threshold": threshold,
        "products": len(truth),
        "micro_precision": round(float(micro_p), 4),
        "micro_recall": round(float(micro_r), 4),
        "micro_f1": round(_f1(float(micro_p), float(micro_r)), 4),
        "macro_precision": round(float(p[active].mean()) if active.any() else 0.0, 4),
        "macro_recall": round(float(r[active].mean()) if active.any() else 0.0, 4),
        "macro_f1": round(float(f1[active].mean()) if active.any() else 0.0, 4),
        "precision_at_1": round(float(hits[labelled].mean()) if labelled.any() else 0.0, 4),
        "best": ranked[:top],
        "worst": list(reversed(ranked[-top:])),
    }
    if uncategorized is not None:
        covered = (uncategorized >= threshold).any(axis=1) if len(uncategorized) else np.zeros(0, bool)
        report["coverage"] = round(float(covered.mean()) if len(covered) else 0.0, 4)
        report["uncategorized_products"] = len(uncategorized)
    return report
