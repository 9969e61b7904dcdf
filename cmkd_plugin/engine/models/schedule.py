"""Distillation temperature annealed from a start to an end value over the epochs (torch-free)."""

from __future__ import annotations

import math

SCHEDULE_KINDS = ("linear", "cosine")


def temperature_at(epoch: float, n_epochs: int, start: float, end: float, kind: str = "linear") -> float:
    """Temperature for ``epoch`` (0-based, may be fractional for per-step annealing).

    The first epoch (0) uses ``start`` and the last (``n_epochs - 1``) uses ``end``; in between
    the value follows a straight line (``linear``) or a half cosine (``cosine``: slow change
    at both ends). A single-epoch run uses ``start``. Works for rising and falling schedules.

    Args:
        epoch: 0-based epoch in ``[0, n_epochs - 1]``.
        n_epochs: number of epochs (>= 1).
        start: temperature at the first epoch (> 0).
        end: temperature at the last epoch (> 0).
        kind: one of :data:`SCHEDULE_KINDS`.

    Raises:
        ValueError: invalid arguments (message says which).
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"unknown temperature schedule '{kind}'; use one of {', '.join(SCHEDULE_KINDS)}")
    if isinstance(n_epochs, bool) or not isinstance(n_epochs, int) or n_epochs < 1:
        raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}")
    if not (start > 0 and end > 0 and math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"temperatures must be finite and > 0, got start={start}, end={end}")
    if not 0 <= epoch <= n_epochs - 1:
        raise ValueError(f"epoch must be in [0, {n_epochs - 1}], got {epoch}")
    if n_epochs == 1:
        return float(start)
    progress = float(epoch) / (n_epochs - 1)
    if kind == "cosine":
        progress = (1.0 - math.cos(math.pi * progress)) / 2.0
    return float(start + (end - start) * progress)
