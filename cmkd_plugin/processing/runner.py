"""Run an engine command from a Processing algorithm: QGIS feedback in, outputs or
``QgsProcessingException`` out. The process handling itself is in ``engine/launcher.py``."""

from __future__ import annotations

import shlex
from typing import Any, Sequence

from qgis.core import QgsProcessingException, QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication

from ..engine import launcher
from ..engine.errors import CancelledError, EngineSetupError
from .settings import engine_python


def tr(text: str) -> str:
    return QCoreApplication.translate("CmkdRunner", text)


def engine_status() -> tuple[bool, str]:
    """(usable, message): whether the configured engine Python exists (cheap; no process)."""
    python, source = engine_python()
    try:
        launcher.resolve_python(python)
    except EngineSetupError as exc:
        return False, tr("{} (engine Python taken from {})").format(str(exc), source)
    return True, ""


def run_engine(
    command: str,
    args: Sequence[str],
    feedback: QgsProcessingFeedback | None,
    outputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``python -m cmkd_plugin.engine <command> <args>`` in the engine Python.

    Progress goes to the progress bar, engine messages to the log, cancelling stops the process.
    Any failure becomes a ``QgsProcessingException`` carrying the engine's own message.
    """
    feedback = feedback or QgsProcessingFeedback()
    python, source = engine_python()
    callbacks = launcher.EngineCallbacks(
        progress=feedback.setProgress,
        info=feedback.pushInfo,
        warning=feedback.pushWarning,
        log=feedback.pushConsoleInfo,
        is_cancelled=feedback.isCanceled,
    )
    feedback.pushCommandInfo(" ".join(shlex.quote(a) for a in
                                      launcher.engine_command(python, command, args)))
    try:
        return launcher.run_engine(python, command, args, callbacks, outputs)
    except CancelledError as exc:
        raise QgsProcessingException(str(exc)) from None
    except EngineSetupError as exc:
        raise QgsProcessingException(
            tr("{} (engine Python taken from {})").format(str(exc), source)
        ) from None
    except launcher.EngineRunError as exc:
        raise QgsProcessingException(str(exc)) from None
