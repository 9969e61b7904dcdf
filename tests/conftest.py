"""Shared test set-up: a headless, isolated environment for every tier.

Tiers: ``tests/unit`` never imports qgis (run alone with ``-p no:pytest_qgis``);
``tests/qgis`` uses pytest-qgis in this process; ``tests/headless`` runs ``scripts/qgis-process``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Must be set before pytest-qgis creates the QgsApplication.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
if not os.environ.get("XDG_RUNTIME_DIR"):
    _runtime = Path(tempfile.mkdtemp(prefix="cmkd-xdg-"))
    _runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)
# The engine runs in the interpreter running the tests (the project venv, which has torch).
os.environ["CMKD_ENGINE_PYTHON"] = sys.executable


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def engine_python() -> str:
    return sys.executable


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests with one torch thread, restoring the setting afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def python_without_torch() -> str:
    """Debian's own Python: it has numpy and rasterio but no torch (torch lives in the venv)."""
    import subprocess

    exe = "/usr/bin/python3"
    probe = subprocess.run([exe, "-c", "import torch"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip(f"{exe} has torch, so it cannot stand for an engine without torch")
    return exe
