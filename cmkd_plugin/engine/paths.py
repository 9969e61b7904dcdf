"""Where the plugin's files are, in a source checkout and in the installed plugin.

In the installed plugin (the zip) ``metadata.txt``, ``resources/`` and ``requirements/`` sit
inside the ``cmkd_plugin`` folder; in a source checkout they sit one level up, beside it.
This module is the one place that knows.
"""

from __future__ import annotations

import configparser
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def _find(name: str) -> Path:
    for base in (PACKAGE_DIR, PACKAGE_DIR.parent):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"'{name}' was found neither in {PACKAGE_DIR} nor in {PACKAGE_DIR.parent}; "
        "the plugin installation is incomplete: reinstall it."
    )


def resources_dir() -> Path:
    """The folder of icons, styles, data and bundled models."""
    return _find("resources")


def requirements_dir() -> Path:
    """The folder of pinned engine requirements (``engine.txt``, ``constraints.txt``)."""
    return _find("requirements")


def metadata_file() -> Path:
    return _find("metadata.txt")


@lru_cache(maxsize=1)
def plugin_version() -> str:
    """The version, read from ``metadata.txt`` (its one source)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(metadata_file(), encoding="utf-8")
    return parser.get("general", "version")


def package_parent() -> Path:
    """The folder to put on ``PYTHONPATH`` so that ``import cmkd_plugin`` finds this copy."""
    return PACKAGE_DIR.parent
