"""Run an engine command in another Python process and follow its protocol.

Used by the QGIS Processing glue (and by tests) to keep torch out of the caller's interpreter.
No qgis, no torch here: progress, messages and cancellation go through plain callables.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import protocol
from .atomic import remove_partials
from .errors import CancelledError, CmkdError, EngineSetupError
from .paths import package_parent, requirements_dir

#: Seconds between SIGTERM and SIGKILL when cancelling.
TERMINATE_GRACE_S = 5.0
#: Python this engine supports.
MIN_PYTHON = (3, 9)


class EngineRunError(CmkdError):
    """The engine reported an error (``kind`` is the engine's error kind)."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class EngineCallbacks:
    """What the caller wants to hear about; all optional."""

    progress: Callable[[float], None] = lambda p: None
    info: Callable[[str], None] = lambda m: None
    warning: Callable[[str], None] = lambda m: None
    log: Callable[[str], None] = lambda m: None
    is_cancelled: Callable[[], bool] = lambda: False
    poll_interval_s: float = 0.1
    extra_env: dict[str, str] = field(default_factory=dict)


def install_hint(python: str) -> str:
    """The command that installs the engine's requirements into ``python``."""
    try:
        req = requirements_dir()
        return (
            f'"{python}" -m pip install -c "{req / "constraints.txt"}" -r "{req / "engine.txt"}"'
        )
    except FileNotFoundError:
        return f'"{python}" -m pip install torch safetensors'


def resolve_python(python: str) -> str:
    """Check that ``python`` names an executable (a path or a command on PATH)."""
    if not python:
        raise EngineSetupError(
            "No engine Python is configured. Set 'Engine Python' in Processing > Options > "
            "Providers > CMKD Survey, or the CMKD_ENGINE_PYTHON environment variable."
        )
    found = python if os.path.sep in python else shutil.which(python)
    if not found or not Path(found).exists():
        raise EngineSetupError(
            f"The engine Python '{python}' does not exist. Set 'Engine Python' in Processing > "
            "Options > Providers > CMKD Survey (or CMKD_ENGINE_PYTHON) to a Python 3 interpreter "
            "that has torch and rasterio."
        )
    if not os.access(found, os.X_OK) or Path(found).is_dir():
        raise EngineSetupError(f"The engine Python '{found}' is not an executable program.")
    return found


#: Puts the given plugin copy first on sys.path, then runs ``python -m cmkd_plugin.engine``.
#: (Plain ``-m`` would put the current folder first, and a source checkout there would shadow
#: the installed plugin.)
_BOOT = ("import sys,runpy;sys.path.insert(0,sys.argv.pop(1));"
         "runpy.run_module('cmkd_plugin.engine',run_name='__main__')")


def engine_command(python: str, command: str, args: Sequence[str]) -> list[str]:
    """The argv that runs ``command`` in ``python`` with this copy of the plugin."""
    return [python, "-c", _BOOT, str(package_parent()), "--protocol", "jsonl", command, *args]


def _engine_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def stop_process_group(proc: subprocess.Popen) -> None:
    """Terminate a child started with ``start_new_session=True`` and everything it started,
    then kill them if they linger past :data:`TERMINATE_GRACE_S`."""
    if proc.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout=TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def run_engine(
    python: str,
    command: str,
    args: Sequence[str] = (),
    callbacks: EngineCallbacks | None = None,
    outputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``python -m cmkd_plugin.engine <command> <args>`` and return its result outputs.

    Args:
        python: the engine interpreter.
        command: engine command name (``enginecheck``, ``simulate``, ...).
        args: its command-line arguments.
        callbacks: progress, messages and cancellation.
        outputs: output paths of this run; their partial files are removed if the run is
            cancelled or dies, so nothing half-written is ever left.

    Raises:
        EngineSetupError: the interpreter is missing or cannot run the engine.
        EngineRunError: the engine reported an error (message is the engine's).
        CancelledError: ``callbacks.is_cancelled()`` became true; the process was stopped.
    """
    cb = callbacks or EngineCallbacks()
    exe = resolve_python(python)
    argv = engine_command(exe, command, args)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_engine_env(cb.extra_env),
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            start_new_session=(os.name == "posix"),
        )
    except OSError as exc:
        raise EngineSetupError(f"Cannot start the engine Python '{exe}': {exc}") from None

    stderr_tail: deque[str] = deque(maxlen=40)
    result: dict[str, Any] | None = None
    error: protocol.Message | None = None
    lock = threading.Lock()
    pending: deque[protocol.Message] = deque()

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                pending.append(protocol.decode(line))

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            stderr_tail.append(line)
            with lock:
                pending.append(protocol.Message("log", message=line))

    readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
    for t in readers:
        t.start()

    def dispatch() -> None:
        nonlocal result, error
        while True:
            with lock:
                if not pending:
                    return
                msg = pending.popleft()
            if msg.type == "progress":
                cb.progress(msg.percent)
            elif msg.type == "info":
                cb.info(msg.message)
            elif msg.type == "warning":
                cb.warning(msg.message)
            elif msg.type == "result":
                result = msg.outputs
            elif msg.type == "error":
                error = msg
            elif msg.message.strip():
                cb.log(msg.message)

    cancelled = False
    try:
        while proc.poll() is None:
            dispatch()
            if cb.is_cancelled():
                cancelled = True
                stop_process_group(proc)
                break
            time.sleep(cb.poll_interval_s)
    except BaseException:
        stop_process_group(proc)
        remove_partials(outputs)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        raise
    for t in readers:
        t.join(timeout=5)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    dispatch()

    if cancelled:
        remove_partials(outputs)
        raise CancelledError()
    if error is not None:
        remove_partials(outputs)
        if error.kind == "cancelled":
            raise CancelledError(error.message)
        raise EngineRunError(error.message, error.kind)
    if proc.returncode != 0 or result is None:
        remove_partials(outputs)
        tail = "\n".join(line for line in stderr_tail if line.strip())[-3000:]
        if ("No module named" in tail and "cmkd_plugin" in tail) or "SyntaxError" in tail:
            raise EngineSetupError(
                f"The engine Python '{exe}' cannot run the CMKD engine (it needs Python "
                f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer). Its output:\n{tail}"
            )
        raise EngineRunError(
            f"The engine process ended with exit code {proc.returncode} without a result. "
            f"Last output:\n{tail or '(none)'}"
        )
    return result
