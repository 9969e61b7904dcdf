"""The engine Python: which interpreter runs ``python -m cmkd_plugin.engine``.

Resolution order (first that is set wins; the rule itself is
``enginesetup.locate.choose_engine_python``, testable without QGIS):
1. the provider setting "Engine Python" (Processing > Options > Providers > CMKD Survey);
2. the ``CMKD_ENGINE_PYTHON`` environment variable (``auto`` counts as unset);
3. the managed engine environment made by "Set up engine" in the QGIS profile folder;
4. ``python3`` found on PATH.
"""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

from ..enginesetup.locate import ENGINE_PYTHON_ENV, choose_engine_python, venv_python

ENGINE_PYTHON_SETTING = "CMKD_ENGINE_PYTHON"
#: Where ProcessingConfig keeps a provider setting in QgsSettings.
ENGINE_PYTHON_QSETTINGS_KEY = "Processing/Configuration/" + ENGINE_PYTHON_SETTING

__all__ = ["ENGINE_PYTHON_ENV", "ENGINE_PYTHON_SETTING", "engine_python", "managed_engine_dir",
           "managed_engine_python", "store_engine_python"]


def managed_engine_dir() -> Path:
    """Folder of the engine environment that the plugin manages in the user's QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "cmkd_engine"


def managed_engine_python() -> Path:
    return venv_python(managed_engine_dir() / "venv")


def configured_engine_python() -> str:
    """The value of the provider setting ('' when unset or Processing is not loaded)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:  # no Processing plugin: read what store_engine_python saved
        value = QgsSettings().value(ENGINE_PYTHON_QSETTINGS_KEY, "")
        return str(value).strip() if value else ""
    value = ProcessingConfig.getSetting(ENGINE_PYTHON_SETTING)
    return str(value).strip() if value else ""


def engine_python() -> tuple[str, str]:
    """The engine interpreter and where that choice came from (for messages)."""
    return choose_engine_python(configured_engine_python(), os.environ, managed_engine_python())


def store_engine_python(python: str) -> None:
    """Make ``python`` the 'Engine Python' setting, saved so it outlives this QGIS session
    (also in qgis_process, which has no options dialog to save it)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        ProcessingConfig = None  # noqa: N806 - the class, when Processing is loaded
    if ProcessingConfig is not None and ENGINE_PYTHON_SETTING in ProcessingConfig.settings:
        ProcessingConfig.setSettingValue(ENGINE_PYTHON_SETTING, python)  # also saves it
    settings = QgsSettings()
    settings.setValue(ENGINE_PYTHON_QSETTINGS_KEY, python)
    settings.sync()
