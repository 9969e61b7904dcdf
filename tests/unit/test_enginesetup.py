"""``cmkd_plugin.enginesetup``: choosing interpreters and torch builds, the pip command, and the
set-up steps' cancel/failure/swap behaviour with real subprocesses (no torch install here: the
full install is the slow headless acceptance test)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmkd_plugin.engine.errors import CancelledError, EngineSetupError, InputError
from cmkd_plugin.engine.launcher import EngineCallbacks
from cmkd_plugin.engine.paths import requirements_dir
from cmkd_plugin.enginesetup import (
    BasePython,
    SetupConfig,
    choose_engine_python,
    choose_torch_build,
    find_base_python,
    missing_engine_packages,
    setup_engine,
    venv_python,
)
from cmkd_plugin.enginesetup.install import _activate, run_step_command
from cmkd_plugin.enginesetup.locate import (
    SOURCE_ENV,
    SOURCE_MANAGED,
    SOURCE_PATH,
    SOURCE_SETTING,
    host_python_candidates,
)
from cmkd_plugin.enginesetup.plan import (
    check_inputs,
    detect_nvidia_driver,
    pip_install_command,
    venv_command,
)

GEO_BASE = BasePython("/usr/bin/python3.11", (3, 11, 2), "test", True, "1.24.2", has_pip=True)
PLAIN_BASE = BasePython("/opt/python/bin/python3", (3, 12, 1), "test", False, "")


# --- which interpreter runs the engine ------------------------------------------------------
def test_engine_python_resolution_order(tmp_path):
    managed = tmp_path / "cmkd_engine" / "venv" / "bin" / "python"
    on_path = {"python3": "/usr/bin/python3"}.get
    env = {"CMKD_ENGINE_PYTHON": "/env/python"}

    assert choose_engine_python("/set/python", env, managed, on_path) == ("/set/python",
                                                                          SOURCE_SETTING)
    assert choose_engine_python("  ", env, managed, on_path) == ("/env/python", SOURCE_ENV)
    assert choose_engine_python("", {}, managed, on_path) == ("/usr/bin/python3", SOURCE_PATH)
    managed.parent.mkdir(parents=True)
    managed.write_text("")
    assert choose_engine_python("", {}, managed, on_path) == (str(managed), SOURCE_MANAGED)
    # "auto" (what a launcher script can set instead of an empty value) counts as unset.
    assert choose_engine_python("", {"CMKD_ENGINE_PYTHON": "Auto"}, managed, on_path)[1] == \
        SOURCE_MANAGED
    managed.unlink()
    assert choose_engine_python("", {}, managed, lambda name: None) == ("", SOURCE_PATH)


def test_missing_engine_packages_probes_the_interpreter(tmp_path):
    assert missing_engine_packages(sys.executable) == []  # the project venv has the engine
    assert missing_engine_packages(sys.executable, ("json", "no_such_module_x", "torch")) == \
        ["no_such_module_x"]
    with pytest.raises(EngineSetupError, match="does not start"):
        missing_engine_packages(str(tmp_path / "python"))
    not_python = tmp_path / "fake"
    not_python.write_text("#!/bin/sh\necho hello\n")
    not_python.chmod(0o755)
    with pytest.raises(EngineSetupError, match="does not run"):
        missing_engine_packages(str(not_python))


# --- which interpreter builds the environment --------------------------------------------------
def test_host_candidates_skip_qgis_itself_and_look_in_the_prefix(tmp_path):
    prefix = tmp_path / "usr"
    (prefix / "bin").mkdir(parents=True)
    for name in ("qgis", "python3.11", "python3"):
        (prefix / "bin" / name).write_text("")
    found = host_python_candidates(str(prefix / "bin" / "qgis"), str(prefix), (3, 11), "")
    assert found == [str(prefix / "bin" / "python3.11"), str(prefix / "bin" / "python3")]
    # A real Python as sys.executable comes first.
    found = host_python_candidates(str(prefix / "bin" / "python3"), str(prefix), (3, 11), "")
    assert found[0] == str(prefix / "bin" / "python3")


def test_find_base_python(tmp_path):
    base = find_base_python(host_candidates=[sys.executable], which=lambda n: None)
    assert base.version[:2] == tuple(sys.version_info[:2])
    assert Path(base.executable).exists() and ".venv" not in base.executable  # the venv's base
    # Debian's Python carries numpy 1.x, rasterio and geopandas: shared, not reinstalled.
    assert base.has_geo_stack and base.numpy_version.startswith("1.")

    refused: list[str] = []
    with pytest.raises(EngineSetupError, match="No Python able to make") as info:
        find_base_python(host_candidates=[str(tmp_path / "python3")], which=lambda n: None,
                         log=refused.append)
    assert "does not run" in str(info.value) and refused
    with pytest.raises(EngineSetupError, match="base Python you chose"):
        find_base_python(chosen="/bin/true")


# --- torch build -----------------------------------------------------------------------------
def test_torch_build_choice_and_reason():
    cpu = choose_torch_build("cpu", None, "Linux", offline=False)
    assert (cpu.kind, cpu.index_url) == ("cpu", "https://download.pytorch.org/whl/cpu")
    assert "default" in cpu.reason
    no_driver = choose_torch_build("cuda", None, "Linux", offline=False)
    assert no_driver.kind == "cpu" and "no NVIDIA driver was found" in no_driver.reason
    gpu = choose_torch_build("cuda", ("560.35.03", "NVIDIA RTX A4000"), "Linux", offline=False)
    assert (gpu.kind, gpu.cuda_tag) == ("cuda", "cu126")
    assert gpu.index_url.endswith("/cu126") and "560.35.03" in gpu.reason and "A4000" in gpu.reason
    assert choose_torch_build("cuda", ("580.65", "x"), "Windows", False).cuda_tag == "cu128"
    old = choose_torch_build("cuda", ("470.82.01", "Tesla K80"), "Linux", offline=False)
    assert old.kind == "cpu" and "older than" in old.reason
    mac = choose_torch_build("cuda", None, "Darwin", offline=False)
    assert mac.kind == "cpu" and mac.index_url == "" and "macOS" in mac.reason
    assert "wheel folder" in choose_torch_build("cpu", None, "Linux", offline=True).reason


def test_no_driver_on_this_machine_means_the_cpu_build():
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    assert detect_nvidia_driver() is None


# --- pip command and input checks ----------------------------------------------------------------
def test_pip_command(tmp_path):
    python = tmp_path / "venv" / "bin" / "python"
    req = requirements_dir()
    offline = SetupConfig(tmp_path, wheels_dir=tmp_path / "wheels")
    argv = pip_install_command(python, GEO_BASE, offline,
                               choose_torch_build("cpu", None, "Linux", True))
    assert argv[:4] == [str(python), "-m", "pip", "install"]
    i = argv.index("--find-links")
    assert argv[i + 1] == str(tmp_path / "wheels") and "--no-index" in argv
    assert "--isolated" in argv and "--extra-index-url" not in argv
    assert argv[argv.index("-c") + 1] == str(req / "constraints.txt")
    assert argv[-2:] == ["-r", str(req / "engine.txt")]
    assert venv_command(GEO_BASE, tmp_path / "v")[-3:] == ["--system-site-packages",
                                                            "--without-pip", str(tmp_path / "v")]
    assert venv_command(PLAIN_BASE, tmp_path / "v")[-2:] == ["venv", str(tmp_path / "v")]

    online = pip_install_command(python, PLAIN_BASE, SetupConfig(tmp_path),
                                 choose_torch_build("cpu", None, "Windows", False))
    assert online[online.index("--extra-index-url") + 1].endswith("/whl/cpu")
    assert "--no-index" not in online and "-c" not in online  # own numpy: nothing to protect
    assert online[-1] == str(req / "engine-standalone.txt")
    assert "-r engine.txt" in (req / "engine-standalone.txt").read_text()


def test_check_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        check_inputs(SetupConfig(tmp_path / "t", wheels_dir=tmp_path / "none"))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with pytest.raises(InputError, match="no torch wheel"):
        check_inputs(SetupConfig(tmp_path / "t", wheels_dir=wheels))
    (wheels / "torch-2.13.0-cp311-none-any.whl").write_bytes(b"")
    check_inputs(SetupConfig(tmp_path / "t", wheels_dir=wheels))
    with pytest.raises(InputError, match="GB free"):
        check_inputs(SetupConfig(tmp_path / "t"), free_bytes=lambda p: 10_000_000)
    with pytest.raises(InputError, match="Device must be"):
        SetupConfig(tmp_path, device="tpu")


# --- running steps -------------------------------------------------------------------------------
def test_step_timeout_stops_the_command():
    started = time.monotonic()
    with pytest.raises(EngineSetupError, match="did not finish within") as info:
        run_step_command([sys.executable, "-c", "print('waiting', flush=True);"
                          "import time; time.sleep(60)"],
                         "Waiting", EngineCallbacks(poll_interval_s=0.05), timeout_s=1.0)
    assert time.monotonic() - started < 15
    assert "waiting" in str(info.value)


def test_failed_step_names_command_and_tail():
    with pytest.raises(EngineSetupError) as info:
        run_step_command([sys.executable, "-c", "import sys; print('line 1'); "
                          "print('the reason', file=sys.stderr); sys.exit(3)"],
                         "Doing it", EngineCallbacks(), timeout_s=60)
    text = str(info.value)
    assert text.startswith("Step 'Doing it' failed:") and "exit code 3" in text
    assert sys.executable in text and text.endswith("line 1\nthe reason")


def test_activate_swaps_and_fixes_moved_paths(tmp_path):
    config = SetupConfig(tmp_path)
    old_bin, new_bin = venv_python(config.venv_dir).parent, venv_python(config.partial_dir).parent
    old_bin.mkdir(parents=True)
    (old_bin / "marker").write_text("old")
    new_bin.mkdir(parents=True)
    (new_bin / "pip").write_text(f"#!{new_bin}/python3.11\nimport pip\n")
    (config.partial_dir / "pyvenv.cfg").write_text(
        f"command = python -m venv {config.partial_dir}\n")
    assert _activate(config) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["venv"]
    assert (old_bin / "pip").read_text().startswith(f"#!{old_bin}/python3.11")
    assert not (old_bin / "marker").exists()
    assert str(config.venv_dir) in (config.venv_dir / "pyvenv.cfg").read_text()


def _old_env_and_bad_wheels(tmp_path) -> tuple[SetupConfig, Path]:
    target = tmp_path / "engine"
    marker = target / "venv" / "working.txt"
    marker.parent.mkdir(parents=True)
    marker.write_text("previous environment")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # Named like a torch wheel but not one: pip fails on it (offline, so nothing is fetched).
    (wheels / "torch-2.13.0-py3-none-any.whl").write_bytes(b"not a wheel")
    return SetupConfig(target, base_python=sys.executable, wheels_dir=wheels), marker


def test_failed_install_removes_the_new_env_and_keeps_the_old(tmp_path):
    config, marker = _old_env_and_bad_wheels(tmp_path)
    infos: list[str] = []
    progress: list[float] = []
    with pytest.raises(EngineSetupError) as info:
        setup_engine(config, EngineCallbacks(info=infos.append, progress=progress.append))
    text = str(info.value)
    assert text.startswith("Step 'Installing the engine's packages")
    assert "-m pip install" in text and "--no-index" in text and "Last output:" in text
    assert not config.partial_dir.exists()
    assert marker.read_text() == "previous environment"
    assert any("CPU build of torch" in m for m in infos)
    assert progress == sorted(progress) and 0 < progress[-1] < 100


def test_cancel_stops_pip_and_removes_the_new_env(tmp_path):
    config, marker = _old_env_and_bad_wheels(tmp_path)
    state = {"cancel": False}

    def info(message: str) -> None:
        if message.startswith("Installing"):
            state["cancel"] = True  # as the dialog's Cancel button, once pip has started

    with pytest.raises(CancelledError, match="previous one, if any, is unchanged"):
        setup_engine(config, EngineCallbacks(info=info, is_cancelled=lambda: state["cancel"]))
    assert not config.partial_dir.exists()
    assert marker.read_text() == "previous environment"
    leftover = subprocess.run(["pgrep", "-f", str(config.partial_dir)], capture_output=True)
    assert leftover.stdout == b""
