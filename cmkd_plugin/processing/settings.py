"""The engine Python: which interpreter runs ``python -m cmkd_plugin.engine``.

Resolution order (first that is set wins):
1. the provider setting "Engine Python" (Processing > Options > Providers > CMKD Survey);
2. the ``CMKD_ENGINE_PYTHON`` environment variable;
3. the managed engine environment made by "Set up engine" in the QGIS profile folder;
4. ``python3`` found on PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from qgis.core import QgsApplication

ENGINE_PYTHON_SETTING = "CMKD_ENGINE_PYTHON"
ENGINE_PYTHON_ENV = "CMKD_ENGINE_PYTHON"


def managed_engine_dir() -> Path:
    """Folder of the engine environment that the plugin manages in the user's QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "cmkd_engine"


def managed_engine_python() -> Path:
    venv = managed_engine_dir() / "venv"
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def configured_engine_python() -> str:
    """The value of the provider setting ('' when unset or Processing is not loaded)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        return ""
    value = ProcessingConfig.getSetting(ENGINE_PYTHON_SETTING)
    return str(value).strip() if value else ""


def engine_python() -> tuple[str, str]:
    """The engine interpreter and where that choice came from (for messages)."""
    value = configured_engine_python()
    if value:
        return value, "the 'Engine Python' setting"
    value = os.environ.get(ENGINE_PYTHON_ENV, "").strip()
    if value:
        return value, f"the {ENGINE_PYTHON_ENV} environment variable"
    managed = managed_engine_python()
    if managed.exists():
        return str(managed), "the managed engine environment"
    found = shutil.which("python3") or ""
    return found, "python3 on PATH"
