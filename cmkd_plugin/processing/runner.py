"""Run an engine command from a Processing algorithm: QGIS feedback in, outputs or
``QgsProcessingException`` out. The process handling itself is in ``engine/launcher.py``."""

from __future__ import annotations

import os
import shlex
import time
from typing import Any, Sequence

from qgis.core import QgsProcessingException, QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication

from ..engine import launcher
from ..engine.errors import CancelledError, EngineSetupError
from ..enginesetup.locate import SOURCE_PATH, missing_engine_packages
from .settings import engine_python

#: The algorithm that fixes a missing or broken engine; every such message names it.
SETUP_ALGORITHM = "cmkd:setupengine"
#: Seconds a package probe of one interpreter is trusted (canExecute is asked often; after
#: "Set up engine" or a manual pip install the answer must change soon).
_PROBE_TTL_S = 10.0
_probe_cache: dict[tuple[str, float], tuple[float, list[str]]] = {}


def tr(text: str) -> str:
    return QCoreApplication.translate("CmkdRunner", text)


def _missing_packages(exe: str) -> list[str]:
    try:
        stamp = os.stat(exe).st_mtime
    except OSError:
        stamp = 0.0
    now = time.monotonic()
    cached = _probe_cache.get((exe, stamp))
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]
    missing = missing_engine_packages(exe)
    _probe_cache[(exe, stamp)] = (now, missing)
    return missing


def forget_engine_status() -> None:
    """Drop cached package probes (after "Set up engine" changed an environment)."""
    _probe_cache.clear()


def engine_status() -> tuple[bool, str]:
    """(usable, message): whether the engine Python exists and has the engine's packages.

    The message is one sentence that names "Set up engine" (cmkd:setupengine) as the fix. The
    package check finds modules without importing them (a fraction of a second, cached briefly).
    """
    python, source = engine_python()
    if not python:
        return False, tr("The CMKD engine is not set up yet: run \"Set up engine\" ({}) from "
                         "the CMKD Survey menu or the Processing Toolbox.").format(SETUP_ALGORITHM)
    try:
        exe = launcher.resolve_python(python)
    except EngineSetupError:
        return False, tr("The engine Python '{}' (taken from {}) does not exist: run \"Set up "
                         "engine\" ({}) to install the engine, or correct that setting.").format(
            python, source, SETUP_ALGORITHM)
    try:
        missing = _missing_packages(exe)
    except EngineSetupError:
        return False, tr("The engine Python '{}' (taken from {}) does not run: run \"Set up "
                         "engine\" ({}) to repair the engine.").format(
            python, source, SETUP_ALGORITHM)
    if not missing:
        return True, ""
    package = "'{}'".format(missing[0]) + (
        tr(" (and {})").format(", ".join("'{}'".format(m) for m in missing[1:]))
        if len(missing) > 1 else "")
    if source == SOURCE_PATH:  # nothing configured: python3 on PATH was only a guess
        return False, tr("The CMKD engine is not set up yet (python3 on PATH, '{}', lacks the "
                         "package {}): run \"Set up engine\" ({}) from the CMKD Survey menu or "
                         "the Processing Toolbox.").format(exe, package, SETUP_ALGORITHM)
    return False, tr("The engine Python '{}' (taken from {}) lacks the package {}: run \"Set up "
                     "engine\" ({}) to repair the engine, or install its requirements yourself "
                     "with {}.").format(exe, source, package, SETUP_ALGORITHM,
                                       launcher.install_hint(exe))


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
    usable, message = engine_status()
    if not usable:  # before anything starts, so nothing is written
        raise QgsProcessingException(message)
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
        raise QgsProcessingException(_broken(exc, python, source, feedback)) from None
    except launcher.EngineRunError as exc:
        if exc.kind == EngineSetupError.kind:
            raise QgsProcessingException(_broken(exc, python, source, feedback)) from None
        raise QgsProcessingException(str(exc)) from None


def _broken(exc: Exception, python: str, source: str, feedback: QgsProcessingFeedback) -> str:
    """One sentence for an engine that cannot run; the details go to the log."""
    feedback.reportError(str(exc), False)
    return tr("The engine Python '{}' (taken from {}) cannot run the CMKD engine (details in the "
              "log above): run \"Set up engine\" ({}) to repair it.").format(
        python, source, SETUP_ALGORITHM)
