"""Classification accuracy metrics from a confusion matrix (numpy, torch-free).

Convention: ``cm[i, j]`` counts pixels whose reference (true) class is ``i`` and whose
predicted class is ``j`` (rows = reference, columns = map), as in remote-sensing accuracy
assessment. Producer's accuracy is per-class recall (row-wise), user's accuracy per-class
precision (column-wise). Quantities with an empty denominator are NaN, never a made-up 0.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

IGNORE_LABELS = (-1, 255)


def confusion_matrix(
    reference: np.ndarray, predicted: np.ndarray, n_classes: int, valid: np.ndarray | None = None
) -> np.ndarray:
    """(K, K) int64 counts over pixels that are valid and labelled.

    Args:
        reference: true class per pixel; -1 and 255 mean "no label" and are skipped.
        predicted: predicted class per pixel (same shape).
        n_classes: K.
        valid: optional boolean mask of pixels to count (e.g. not nodata).

    Raises:
        ValueError: shape mismatch, or a class index outside ``[0, K)``.
    """
    ref = np.asarray(reference).astype(np.int64, copy=False).ravel()
    pred = np.asarray(predicted).astype(np.int64, copy=False).ravel()
    if ref.shape != pred.shape:
        raise ValueError(f"reference and prediction differ in size: {ref.size} vs {pred.size}")
    keep = ~np.isin(ref, IGNORE_LABELS)
    if valid is not None:
        v = np.asarray(valid, dtype=bool).ravel()
        if v.shape != ref.shape:
            raise ValueError("valid mask differs in size from the labels")
        keep &= v
    ref, pred = ref[keep], pred[keep]
    for name, arr in (("reference", ref), ("prediction", pred)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} has class indices outside [0, {n_classes})")
    return np.bincount(ref * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def overall_accuracy(cm: np.ndarray) -> float:
    """Share of counted pixels on the diagonal (NaN if nothing was counted)."""
    return float(_divide(np.trace(cm), cm.sum()))


def cohen_kappa(cm: np.ndarray) -> float:
    """Cohen's kappa ``(p_o - p_e) / (1 - p_e)``; 1.0 when agreement is perfect even if ``p_e = 1``."""
    total = cm.sum()
    if total == 0:
        return float("nan")
    p_o = np.trace(cm) / total
    p_e = float((cm.sum(axis=0) * cm.sum(axis=1)).sum()) / float(total) ** 2
    if p_e >= 1.0:
        return 1.0 if p_o >= 1.0 else 0.0
    return float((p_o - p_e) / (1.0 - p_e))


def producers_accuracy(cm: np.ndarray) -> np.ndarray:
    """Per class: correct / reference pixels of that class (recall); NaN for absent classes."""
    return _divide(np.diag(cm), cm.sum(axis=1))


def users_accuracy(cm: np.ndarray) -> np.ndarray:
    """Per class: correct / pixels mapped as that class (precision); NaN if never predicted."""
    return _divide(np.diag(cm), cm.sum(axis=0))


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """Per class ``2 TP / (2 TP + FP + FN)``; NaN for a class neither present nor predicted."""
    tp = np.diag(cm).astype(np.float64)
    return _divide(2 * tp, cm.sum(axis=0) + cm.sum(axis=1))


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over classes present in the reference or the prediction."""
    f1 = per_class_f1(cm)
    return float(np.nanmean(f1)) if np.isfinite(f1).any() else float("nan")


def _json_float(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def accuracy_report(cm: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """All metrics of ``cm`` as a JSON-ready dict (NaN written as ``null``).

    Keys: ``n_pixels``, ``overall_accuracy``, ``kappa``, ``macro_f1``, ``confusion_matrix``
    (rows = reference), and ``per_class``: name -> ``f1``, ``producers_accuracy``,
    ``users_accuracy``, ``reference_pixels``.
    """
    cm = np.asarray(cm)
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(class_names)} class names")
    f1, pa, ua = per_class_f1(cm), producers_accuracy(cm), users_accuracy(cm)
    return {
        "n_pixels": int(cm.sum()),
        "overall_accuracy": _json_float(overall_accuracy(cm)),
        "kappa": _json_float(cohen_kappa(cm)),
        "macro_f1": _json_float(macro_f1(cm)),
        "confusion_matrix": cm.astype(int).tolist(),
        "per_class": {
            name: {
                "f1": _json_float(f1[i]),
                "producers_accuracy": _json_float(pa[i]),
                "users_accuracy": _json_float(ua[i]),
                "reference_pixels": int(cm[i].sum()),
            }
            for i, name in enumerate(class_names)
        },
    }
