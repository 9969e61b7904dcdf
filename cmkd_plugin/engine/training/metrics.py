"""Evaluation helpers of the training reports, built on :mod:`..models.metrics` (the one place
the formulas live): a compact dict per evaluated model."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..models.metrics import accuracy_report, confusion_matrix


def evaluate(truth: np.ndarray, pred: np.ndarray, class_names: Sequence[str],
             mask: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of ``pred`` against ``truth`` (255 = no label) over ``mask``.

    Returns:
        ``{"pixels", "oa", "kappa", "macro_f1", "per_class_f1": {name: f1}, "confusion"}``
        (None where undefined, e.g. no evaluated pixel).
    """
    cm = confusion_matrix(truth, pred, len(class_names), mask)
    rep = accuracy_report(cm, class_names)
    return {
        "pixels": rep["n_pixels"],
        "oa": rep["overall_accuracy"],
        "kappa": rep["kappa"],
        "macro_f1": rep["macro_f1"],
        "per_class_f1": {k: v["f1"] for k, v in rep["per_class"].items()},
        "confusion": rep["confusion_matrix"],
    }


def selection_score(metrics: Mapping[str, Any]) -> float:
    """Model-selection score of teachers, students and baselines: overall accuracy, ties broken
    by macro-F1 (both in [0, 1])."""
    return (metrics["oa"] or 0.0) + 1e-3 * (metrics["macro_f1"] or 0.0)
