import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_list_shows_the_provider(qgis_process):
    out = qgis_process("list")
    assert out.returncode == 0, out.stderr
    assert "CMKD Survey" in out.stdout
    assert "cmkd:enginecheck" in out.stdout


def test_enginecheck_json_run(qgis_run_json, tmp_path, engine_python):
    out = tmp_path / "engine.json"
    result = qgis_run_json("cmkd:enginecheck", ITERATIONS=1, TILE_SIZE=16, OUTPUT=out)
    assert result["results"]["OUTPUT"] == str(out)
    assert result["results"]["ENGINE_PYTHON"] == engine_python
    assert json.loads(out.read_text())["forward_iterations"] == 1
    assert any("Forward pass 16x16" in line for line in result["log"]["info"])


def test_bad_engine_fails_cleanly(qgis_process, tmp_path, python_without_torch):
    out = tmp_path / "engine.json"
    missing = qgis_process("run", "cmkd:enginecheck", "--", f"OUTPUT={out}",
                           env={"CMKD_ENGINE_PYTHON": str(tmp_path / "no-such-python")})
    assert missing.returncode != 0
    assert "does not exist" in missing.stdout + missing.stderr
    no_torch = qgis_process("run", "cmkd:enginecheck", "--", f"OUTPUT={out}",
                            env={"CMKD_ENGINE_PYTHON": python_without_torch})
    assert no_torch.returncode != 0
    assert "lacks the package 'torch'" in no_torch.stdout + no_torch.stderr
    assert list(tmp_path.iterdir()) == []


def test_zip_installs_into_an_empty_profile(tmp_path, engine_python):
    """What Plugin Manager > Install from ZIP does: unzip into the profile's plugin folder."""
    build = subprocess.run([sys.executable, str(ROOT / "scripts" / "build.py"), "zip"],
                           capture_output=True, text=True, check=True)
    archive = Path(build.stdout.strip())
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert {n.split("/")[0] for n in names} == {"cmkd_plugin"}
    for required in ("cmkd_plugin/metadata.txt", "cmkd_plugin/__init__.py",
                     "cmkd_plugin/resources/icons/cmkd.svg",
                     "cmkd_plugin/requirements/engine.txt",
                     "cmkd_plugin/engine/__main__.py",
                     "cmkd_plugin/i18n/cmkd_plugin_ja.qm"):
        assert required in names
    assert not any("__pycache__" in n for n in names)

    config = tmp_path / "fresh profile"
    plugins = config / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(plugins)
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(config), QT_QPA_PLATFORM="offscreen",
               XDG_RUNTIME_DIR=str(runtime), CMKD_ENGINE_PYTHON=engine_python)
    env.pop("QGIS_PLUGINPATH", None)
    qp = shutil.which("qgis_process.bin")
    enable = subprocess.run([qp, "plugins", "enable", "cmkd_plugin"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert enable.returncode == 0, enable.stderr
    listing = subprocess.run([qp, "list"], capture_output=True, text=True, env=env, timeout=300)
    assert listing.returncode == 0, listing.stderr
    assert "cmkd:enginecheck" in listing.stdout
    out = tmp_path / "check.json"
    run = subprocess.run([qp, "run", "cmkd:enginecheck", "--", "ITERATIONS=1", "TILE_SIZE=16",
                          f"OUTPUT={out}"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text())
    # The engine ran the installed copy of the plugin, not this checkout.
    assert Path(report["engine_package"]) == plugins / "cmkd_plugin"
