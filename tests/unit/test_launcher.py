"""The launcher runs the real engine in a child process (no qgis involved)."""

import json
import threading

import pytest

from cmkd_plugin.engine import launcher
from cmkd_plugin.engine.atomic import partial_files
from cmkd_plugin.engine.errors import CancelledError, EngineSetupError


def test_enginecheck_reports_versions_progress_and_messages(engine_python, tmp_path):
    seen = {"progress": [], "info": []}
    cb = launcher.EngineCallbacks(progress=seen["progress"].append, info=seen["info"].append)
    out = tmp_path / "engine.json"
    result = launcher.run_engine(engine_python, "enginecheck",
                                 ["--iterations", "3", "--tile-size", "32", "--output", str(out)],
                                 cb, outputs=[str(out)])
    import torch

    assert result["torch_version"] == torch.__version__
    assert result["engine_python"] == engine_python
    assert result["forward_iterations"] == 3 and result["forward_best_ms"] > 0
    assert seen["progress"] == sorted(seen["progress"]) and seen["progress"][-1] == 100.0
    assert any("Forward pass 32x32" in m for m in seen["info"])
    on_disk = json.loads(out.read_text())
    assert on_disk["torch_threads"] == result["torch_threads"]
    assert partial_files(out) == []


def test_missing_interpreter_is_a_setup_error(tmp_path):
    with pytest.raises(EngineSetupError, match="does not exist"):
        launcher.run_engine(str(tmp_path / "no-python"), "enginecheck")
    with pytest.raises(EngineSetupError, match="No engine Python is configured"):
        launcher.run_engine("", "enginecheck")


def test_interpreter_without_torch_names_itself_and_the_fix(python_without_torch, tmp_path):
    out = tmp_path / "engine.json"
    with pytest.raises(launcher.EngineRunError) as info:
        launcher.run_engine(python_without_torch, "enginecheck", ["--output", str(out)],
                            outputs=[str(out)])
    message = str(info.value)
    assert info.value.kind == "setup"
    assert "lacks the package 'torch'" in message
    assert python_without_torch in message and "-m pip install" in message
    assert not out.exists() and partial_files(out) == []


def test_engine_error_message_is_passed_on(engine_python, tmp_path):
    with pytest.raises(launcher.EngineRunError, match=r"must end in \.json or \.html") as info:
        launcher.run_engine(engine_python, "enginecheck", ["--output", str(tmp_path / "r.txt")])
    assert info.value.kind == "input"
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_are_an_input_error(engine_python):
    with pytest.raises(launcher.EngineRunError, match="Invalid arguments for 'enginecheck'"):
        launcher.run_engine(engine_python, "enginecheck", ["--iterations", "many"])


def test_cancel_stops_the_process_and_leaves_no_output(engine_python, tmp_path):
    out = tmp_path / "engine.html"
    started = threading.Event()

    def progress(percent):
        started.set()

    cb = launcher.EngineCallbacks(progress=progress, is_cancelled=started.is_set)
    with pytest.raises(CancelledError):
        # 100000 passes would take minutes: only a stopped process returns quickly.
        launcher.run_engine(engine_python, "enginecheck",
                            ["--iterations", "100000", "--tile-size", "64", "--output", str(out)],
                            cb, outputs=[str(out)])
    assert started.is_set()
    assert list(tmp_path.iterdir()) == []


def test_a_crash_without_protocol_output_reports_the_tail(tmp_path):
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho 'Fatal Python error: something odd' >&2\nexit 134\n")
    fake.chmod(0o755)
    with pytest.raises(launcher.EngineRunError, match="exit code 134") as info:
        launcher.run_engine(str(fake), "enginecheck")
    assert "Fatal Python error: something odd" in str(info.value)
