"""Plain progress / message / cancel callbacks used by every engine function.

Engine code never knows whether it runs under QGIS, a terminal or a test: it receives a
:class:`Feedback` and calls :meth:`Feedback.progress` (0-100), :meth:`Feedback.info`,
:meth:`Feedback.warning` and :meth:`Feedback.check_cancelled` (once per batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .errors import CancelledError


def _ignore(*_args: object) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class Feedback:
    """Callbacks for progress in percent, messages and cancellation."""

    on_progress: Callable[[float], None] = _ignore
    on_info: Callable[[str], None] = _ignore
    on_warning: Callable[[str], None] = _ignore
    is_cancelled: Callable[[], bool] = _never
    _start: float = field(default=0.0, repr=False)
    _span: float = field(default=100.0, repr=False)

    def progress(self, percent: float) -> None:
        """Report progress of this (sub-)task, ``percent`` in [0, 100]."""
        percent = min(max(float(percent), 0.0), 100.0)
        self.on_progress(self._start + self._span * percent / 100.0)

    def info(self, message: str) -> None:
        self.on_info(message)

    def warning(self, message: str) -> None:
        self.on_warning(message)

    def check_cancelled(self) -> None:
        """Raise :class:`CancelledError` if the user asked to stop."""
        if self.is_cancelled():
            raise CancelledError()

    def step(self, start: float, end: float) -> "Feedback":
        """A child feedback whose 0-100 maps onto ``[start, end]`` percent of this one."""
        return Feedback(
            on_progress=self.on_progress,
            on_info=self.on_info,
            on_warning=self.on_warning,
            is_cancelled=self.is_cancelled,
            _start=self._start + self._span * start / 100.0,
            _span=self._span * (end - start) / 100.0,
        )
