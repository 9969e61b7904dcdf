"""``cmkd:setupengine`` through the real ``qgis_process``, each test with an empty QGIS config.

"No engine configured" here means: no setting, ``CMKD_ENGINE_PYTHON=auto`` (scripts/qgis-process
would otherwise point it at this checkout's venv) and a PATH whose ``python3`` is Debian's, which
has no torch — what a user who just installed the zip has.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / "build" / "wheelhouse"
SETUP_NAME = '"Set up engine" (cmkd:setupengine)'
#: This module's own copy of the staged plugin (scripts/qgis-process re-stages build/plugin on
#: every call, which races with other headless runs from the same checkout).
_STAGED: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def staged_plugin(tmp_path_factory) -> Path:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build.py"), "stage"], check=True,
                   capture_output=True)
    folder = tmp_path_factory.mktemp("plugin")
    shutil.copytree(ROOT / "build" / "plugin" / "cmkd_plugin", folder / "cmkd_plugin")
    assert (folder / "cmkd_plugin" / "metadata.txt").exists()
    _STAGED["dir"] = str(folder)
    return folder


def _no_engine_env(config: Path) -> dict[str, str]:
    env = dict(os.environ, CMKD_QGIS_CONFIG=str(config), CMKD_ENGINE_PYTHON="auto",
               PATH="/usr/bin:/bin", CMKD_PLUGIN_DIR=_STAGED["dir"])
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def _qgis(config: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "qgis-process"), *args], capture_output=True,
                          text=True, env=_no_engine_env(config), timeout=timeout)


def _run_json(config: Path, alg: str, **params: object) -> dict:
    out = _qgis(config, "--json", "run", alg, "--", *(f"{k}={v}" for k, v in params.items()))
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return json.loads(out.stdout)


def _error_lines(out: subprocess.CompletedProcess) -> list[str]:
    return [line.split("\t", 1)[1].strip() for line in (out.stdout + out.stderr).splitlines()
            if line.startswith("ERROR:\t")]


def _stored_setting(config: Path) -> str:
    ini = config / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(ini, encoding="utf-8")
    return parser.get("Processing", "Configuration\\CMKD_ENGINE_PYTHON", fallback="")


@pytest.fixture(scope="module")
def debian_python_without_torch() -> None:
    probe = subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("/usr/bin/python3 has torch, so it cannot stand for a machine without engine")


def test_algorithm_without_engine_fails_in_one_sentence(tmp_path, debian_python_without_torch):
    config, out_dir = tmp_path / "config", tmp_path / "out"
    out_dir.mkdir()
    for alg, params in (
        ("cmkd:enginecheck", [f"OUTPUT={out_dir / 'report.json'}"]),
        ("cmkd:simulatesurvey", [f"{key}={out_dir / name}" for key, name in (
            ("OUTPUT_RGB", "rgb.tif"), ("OUTPUT_HSI", "hsi.tif"), ("OUTPUT_DEM", "dem.tif"),
            ("OUTPUT_TRUTH", "truth.tif"), ("OUTPUT_LABELS", "labels.gpkg"),
            ("OUTPUT_SITES", "sites.gpkg"), ("OUTPUT_FOOTPRINT", "footprint.gpkg"),
            ("OUTPUT_PREVIEW", "preview.png"))]),
    ):
        out = _qgis(config, "run", alg, "--", *params)
        assert out.returncode != 0, out.stdout
        errors = _error_lines(out)
        assert errors, out.stdout + out.stderr
        message = errors[-1]
        assert SETUP_NAME in message, message
        assert "not set up" in message and "torch" in message
        # One sentence: a single full stop, at the end.
        assert message.endswith(".") and message[:-1].count(". ") == 0, message
    assert list(out_dir.iterdir()) == []


def test_failed_setup_names_the_command_and_leaves_nothing(tmp_path,
                                                           debian_python_without_torch):
    config, wheels = tmp_path / "config", tmp_path / "wheels"
    wheels.mkdir()
    # A file named like a torch wheel that is not one: the pip step must fail.
    (wheels / "torch-2.13.0-py3-none-any.whl").write_bytes(b"not a wheel")
    out = _qgis(config, "run", "cmkd:setupengine", "--", f"WHEELS_FOLDER={wheels}")
    assert out.returncode != 0
    assert _error_lines(out), out.stdout + out.stderr
    message = _error_lines(out)[-1]
    assert "Step 'Installing the engine's packages" in message
    assert "-m pip install" in message and "--no-index" in message and "exit code" in message
    text = out.stdout + out.stderr
    assert "Last output:" in text and "ERROR:" in text.split("Last output:", 1)[1]
    engine_dir = config / "profiles" / "default" / "cmkd_engine"
    assert sorted(p.name for p in engine_dir.iterdir()) == []  # the half-made venv is gone
    assert _stored_setting(config) == ""


def test_setup_offline_persists_and_repairs(tmp_path, debian_python_without_torch):
    """The acceptance test of issue 11 (two real environments with torch, ~3 minutes)."""
    requirements = ROOT / "requirements"
    # The stamp scripts/make_wheelhouse.sh writes: the wheels match today's requirements.
    want = hashlib.sha256((requirements / "engine.txt").read_bytes()
                          + (requirements / "constraints.txt").read_bytes()).hexdigest()
    stamp = WHEELHOUSE / ".cmkd-requirements.sha"
    if not stamp.exists() or stamp.read_text().strip() != want:
        pytest.skip("build/wheelhouse is missing or older than requirements/engine.txt: run "
                    "scripts/make_wheelhouse.sh (make setup does)")
    config = tmp_path / "empty config"
    venv = config / "profiles" / "default" / "cmkd_engine" / "venv"
    try:
        result = _run_json(config, "cmkd:setupengine", WHEELS_FOLDER=WHEELHOUSE)["results"]
        engine = str(venv / "bin" / "python")
        assert result["ENGINE_PYTHON"] == engine
        assert result["TORCH_BUILD"] == "cpu" and result["TORCH_VERSION"].startswith("2.13.0")
        assert _stored_setting(config) == engine
        assert not (venv.parent / "venv.partial").exists()

        # A later qgis_process: the stored setting alone (no variable) finds the engine.
        check = _run_json(config, "cmkd:enginecheck", ITERATIONS=1, TILE_SIZE=16,
                          OUTPUT=tmp_path / "check.json")["results"]
        assert check["ENGINE_PYTHON"] == engine
        assert json.loads((tmp_path / "check.json").read_text())["torch_version"] == \
            result["TORCH_VERSION"]

        # Break it: torch's files gone, its pip metadata still there.
        site = next(venv.glob("lib/python3*/site-packages"))
        shutil.rmtree(site / "torch")
        broken = _qgis(config, "run", "cmkd:enginecheck", "--",
                       f"OUTPUT={tmp_path / 'broken.json'}")
        assert broken.returncode != 0
        assert SETUP_NAME in _error_lines(broken)[-1] and "'torch'" in _error_lines(broken)[-1]
        assert not (tmp_path / "broken.json").exists()

        repaired = _run_json(config, "cmkd:setupengine", WHEELS_FOLDER=WHEELHOUSE)
        assert repaired["results"]["ENGINE_PYTHON"] == engine
        assert any("replaced the previous environment" in line
                   for line in repaired["log"]["info"])
        assert sorted(p.name for p in venv.parent.iterdir()) == ["venv"]
        again = _run_json(config, "cmkd:enginecheck", ITERATIONS=1, TILE_SIZE=16,
                          OUTPUT=tmp_path / "again.json")["results"]
        assert again["ENGINE_PYTHON"] == engine
    finally:
        shutil.rmtree(config, ignore_errors=True)
