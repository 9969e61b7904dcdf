"""Which Python runs the engine, and which Python can build the engine's environment.

Two different interpreters matter here:

* the *engine Python* runs ``python -m cmkd_plugin.engine``; :func:`choose_engine_python` is the
  one place that says how it is chosen (setting, environment variable, managed environment,
  ``python3`` on PATH) and takes everything it looks at as arguments, so the order is testable
  without QGIS;
* the *base Python* makes the engine's virtual environment. QGIS's own ``sys.executable`` is often
  not a Python at all (``/usr/bin/qgis`` on Linux, ``qgis-bin.exe`` on Windows), so
  :func:`find_base_python` looks beside it, in its prefix and on PATH, and runs each candidate to
  see whether it can make a venv with pip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..engine.errors import EngineSetupError
from ..engine.launcher import MIN_PYTHON

#: Environment variable naming the engine Python (second in the resolution order).
ENGINE_PYTHON_ENV = "CMKD_ENGINE_PYTHON"
#: A value of ENGINE_PYTHON_ENV that means "not set: choose automatically" (an empty value cannot
#: be told apart from an unset one by every shell and launcher script).
AUTO = "auto"

SOURCE_SETTING = "the 'Engine Python' setting"
SOURCE_ENV = f"the {ENGINE_PYTHON_ENV} environment variable"
SOURCE_MANAGED = "the engine environment made by Set up engine"
SOURCE_PATH = "python3 on PATH"

#: Top-level modules the engine imports; the first one missing is named in messages, so the
#: heaviest and most often missing comes first.
ENGINE_MODULES = ("torch", "safetensors", "numpy", "rasterio", "geopandas", "scipy")

#: Seconds a probe of an interpreter may take (a cold start on a slow disk).
PROBE_TIMEOUT_S = 60.0


def venv_python(venv: Path) -> Path:
    """The interpreter inside the virtual environment folder ``venv``."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def clean_child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python that must see only its own packages.

    QGIS sets PYTHONHOME/PYTHONPATH on some platforms (OSGeo4W on Windows, the macOS bundle);
    inherited, they make another interpreter load QGIS's standard library and break it.
    """
    env = dict(os.environ if environ is None else environ)
    for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE",
                 "__PYVENV_LAUNCHER__", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def choose_engine_python(
    setting: str,
    environ: Mapping[str, str],
    managed_python: Path,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[str, str]:
    """The engine interpreter and, for messages, where that choice came from.

    First that is set wins: the provider setting "Engine Python"; the ``CMKD_ENGINE_PYTHON``
    environment variable (``auto`` counts as unset); the managed environment made by
    "Set up engine" if it exists; ``python3`` on PATH. Returns ``("", SOURCE_PATH)`` when none
    is found.

    Args:
        setting: the provider setting's value ('' when unset).
        environ: the process environment.
        managed_python: the interpreter of the managed environment (may not exist).
        which: how to look a command up on PATH.
    """
    value = (setting or "").strip()
    if value:
        return value, SOURCE_SETTING
    value = environ.get(ENGINE_PYTHON_ENV, "").strip()
    if value and value.lower() != AUTO:
        return value, SOURCE_ENV
    if managed_python.exists():
        return str(managed_python), SOURCE_MANAGED
    return which("python3") or "", SOURCE_PATH


_MISSING_PROBE = ("import importlib.util as u,json,sys;"
                  "print(json.dumps([m for m in sys.argv[1:] if u.find_spec(m) is None]))")


def missing_engine_packages(python: str, modules: Sequence[str] = ENGINE_MODULES,
                            timeout_s: float = PROBE_TIMEOUT_S) -> list[str]:
    """The engine modules that ``python`` cannot find, in ``modules`` order.

    Cheap (finds, does not import: well under a second even for torch), so it can gate
    ``canExecute``. A deleted package folder whose metadata pip still lists counts as missing.

    Raises:
        EngineSetupError: ``python`` does not start or does not answer.
    """
    try:
        done = subprocess.run([python, "-c", _MISSING_PROBE, *modules], capture_output=True,
                              text=True, timeout=timeout_s, env=clean_child_env(),
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineSetupError(f"The engine Python '{python}' does not start: {exc}") from None
    try:
        missing = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (done.stderr or done.stdout).strip()[-500:]
        raise EngineSetupError(
            f"The engine Python '{python}' does not run (exit code {done.returncode}): {tail}"
        ) from None
    return [str(m) for m in missing]


@dataclass(frozen=True)
class BasePython:
    """An interpreter that can make the engine's virtual environment."""

    #: The interpreter to run ``-m venv`` with (the candidate's own base, never a venv's shim).
    executable: str
    version: tuple[int, int, int]
    #: Where it was found, for messages ("the Python QGIS runs on", ...).
    origin: str
    #: numpy (1.x), rasterio and geopandas are installed in it: the engine environment shares
    #: them (``--system-site-packages``) so the geospatial stack is the one QGIS uses.
    has_geo_stack: bool
    numpy_version: str = ""
    #: pip is importable from it (Debian's python3-pip): a venv sharing its site-packages can
    #: use that pip and skip ensurepip, which is most of the time ``venv`` takes.
    has_pip: bool = False

    def describe(self) -> str:
        v = ".".join(str(p) for p in self.version)
        return f"{self.executable} (Python {v}, {self.origin})"


_BASE_PROBE = r"""
import importlib.util as u, json, sys
info = {"executable": sys.executable,
        "base_executable": getattr(sys, "_base_executable", "") or sys.executable,
        "version": list(sys.version_info[:3]),
        "venv": u.find_spec("venv") is not None,
        "ensurepip": u.find_spec("ensurepip") is not None,
        "rasterio": u.find_spec("rasterio") is not None,
        "geopandas": u.find_spec("geopandas") is not None,
        "pip": u.find_spec("pip") is not None,
        "numpy": ""}
try:
    import numpy
    info["numpy"] = numpy.__version__
except Exception:
    pass
print(json.dumps(info))
"""


def probe_base_python(candidate: str, origin: str,
                      timeout_s: float = PROBE_TIMEOUT_S) -> BasePython:
    """Run ``candidate`` and tell whether it can make a venv with pip.

    Raises:
        EngineSetupError: with the reason it cannot.
    """
    try:
        done = subprocess.run([candidate, "-c", _BASE_PROBE], capture_output=True, text=True,
                              timeout=timeout_s, env=clean_child_env(), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineSetupError(f"'{candidate}' does not run: {exc}") from None
    try:
        info = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise EngineSetupError(f"'{candidate}' is not a working Python 3 "
                               f"(exit code {done.returncode})") from None
    version = tuple(int(p) for p in info["version"])
    if version[:2] < MIN_PYTHON:
        raise EngineSetupError(
            f"'{candidate}' is Python {'.'.join(map(str, version))}; the engine needs "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    if not info["venv"] or not info["ensurepip"]:
        raise EngineSetupError(
            f"'{candidate}' cannot make virtual environments with pip (on Debian or Ubuntu: "
            "install the package python3-venv)")
    numpy_version = str(info["numpy"])
    geo = bool(info["rasterio"] and info["geopandas"] and numpy_version.startswith("1."))
    executable = str(info["base_executable"] or info["executable"])
    if not Path(executable).exists():
        executable = str(info["executable"])
    return BasePython(executable=executable, version=version, origin=origin,
                      has_geo_stack=geo, numpy_version=numpy_version,
                      has_pip=bool(info.get("pip")))


def host_python_candidates(executable: str = sys.executable, base_prefix: str = sys.base_prefix,
                           version: Sequence[int] = tuple(sys.version_info[:2]),
                           base_executable: str = getattr(sys, "_base_executable", "")
                           ) -> list[str]:
    """Interpreters of the Python QGIS runs on, most specific first (existing files only).

    QGIS embeds Python, so its ``sys.executable`` is usually QGIS itself; the matching
    interpreter lives in ``sys.base_prefix`` (``/usr/bin/python3.11`` on Linux,
    ``<OSGeo4W>/apps/Python311/python.exe`` on Windows) or beside the executable (the macOS
    bundle's ``Contents/MacOS/bin/python3``).
    """
    major_minor = f"{version[0]}.{version[1]}"
    exe = Path(executable) if executable else None
    prefix = Path(base_prefix)
    names: list[Path] = []
    for path in (exe, Path(base_executable) if base_executable else None):
        if path is not None and path.name.lower().startswith("python"):
            names.append(path)
    if os.name == "nt":
        names += [prefix / "python.exe", prefix / "python3.exe"]
        if exe is not None:
            names += [exe.parent / "python.exe", exe.parent / "python3.exe"]
    else:
        names += [prefix / "bin" / f"python{major_minor}", prefix / "bin" / "python3"]
        if exe is not None:
            names += [exe.parent / f"python{major_minor}", exe.parent / "python3",
                      exe.parent / "bin" / "python3"]
    seen: list[str] = []
    for path in names:
        if path.is_file() and str(path) not in seen:
            seen.append(str(path))
    return seen


def find_base_python(
    chosen: str = "",
    host_candidates: Sequence[str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    log: Callable[[str], None] = lambda m: None,
) -> BasePython:
    """The Python that will make the engine's environment.

    A Python the user chose is used or refused (never silently replaced). Otherwise the Python
    QGIS runs on, then ``python3``/``python`` on PATH: the first that can make a venv with pip.

    Raises:
        EngineSetupError: none can; the message lists what was tried and why each was refused.
    """
    if chosen:
        try:
            return probe_base_python(chosen, "chosen by you")
        except EngineSetupError as exc:
            raise EngineSetupError(
                f"The base Python you chose cannot make the engine environment: {exc}. Choose "
                f"Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer with the venv module, or leave "
                "'Base Python' empty to let the plugin find one."
            ) from None
    candidates: list[tuple[str, str]] = [
        (c, "the Python QGIS runs on")
        for c in (host_python_candidates() if host_candidates is None else host_candidates)
    ]
    for name in ("python3", "python"):
        found = which(name)
        if found:
            candidates.append((found, f"{name} on PATH"))
    refused: list[str] = []
    tried: set[str] = set()
    for candidate, origin in candidates:
        key = os.path.realpath(candidate)
        if key in tried:
            continue
        tried.add(key)
        try:
            base = probe_base_python(candidate, origin)
        except EngineSetupError as exc:
            refused.append(str(exc))
            log(f"Not using {candidate}: {exc}")
            continue
        return base
    reasons = "; ".join(refused) if refused else "no Python 3 was found beside QGIS or on PATH"
    raise EngineSetupError(
        f"No Python able to make the engine environment was found ({reasons}). Install Python "
        f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (python.org, or your system's python3 with "
        "python3-venv) and run Set up engine again, choosing it as 'Base Python'."
    )
