"""Headless tier: the real ``qgis_process.bin`` through ``scripts/qgis-process``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def qgis_config(tmp_path_factory) -> Path:
    """One private QGIS config dir for the headless tests (never the user's profile)."""
    return tmp_path_factory.mktemp("qgis-config")


@pytest.fixture(scope="session")
def staged_plugins(tmp_path_factory) -> Path:
    """This session's own staged plugin: scripts/qgis-process would otherwise re-stage the shared
    build/plugin on every call, racing with any other run from the same checkout."""
    folder = tmp_path_factory.mktemp("plugins")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build.py"), "stage", str(folder)],
                   check=True, capture_output=True)
    return folder


@pytest.fixture(scope="session")
def qgis_process(qgis_config, staged_plugins):
    """Run ``scripts/qgis-process ARGS``; returns the CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600):
        full_env = dict(os.environ, CMKD_QGIS_CONFIG=str(qgis_config),
                        CMKD_PLUGIN_DIR=str(staged_plugins), **(env or {}))
        return subprocess.run([str(ROOT / "scripts" / "qgis-process"), *args],
                              capture_output=True, text=True, env=full_env, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def qgis_run_json(qgis_process):
    """``--json run ALG -- K=V ...``; checks the exit code before parsing, as QGIS_NOTES says."""

    def run(alg: str, **params: object):
        out = qgis_process("--json", "run", alg, "--", *(f"{k}={v}" for k, v in params.items()))
        assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
        return json.loads(out.stdout)

    return run
