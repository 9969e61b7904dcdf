import json
import threading

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

import processing


class RecordingFeedback(QgsProcessingFeedback):
    """A real feedback object that also keeps what was reported."""

    def __init__(self):
        super().__init__()
        self.infos, self.commands = [], []
        self.progressChanged.connect(self._on_progress)
        self.progress = []

    def _on_progress(self, value):
        self.progress.append(value)

    def pushInfo(self, info):  # noqa: N802 - QGIS API
        self.infos.append(info)
        super().pushInfo(info)

    def pushCommandInfo(self, info):  # noqa: N802 - QGIS API
        self.commands.append(info)
        super().pushCommandInfo(info)


def test_enginecheck_runs_the_real_engine(cmkd_provider, tmp_path, engine_python):
    out = tmp_path / "engine.json"
    feedback = RecordingFeedback()
    result = processing.run("cmkd:enginecheck",
                            {"ITERATIONS": 2, "TILE_SIZE": 32, "OUTPUT": str(out)},
                            feedback=feedback)
    import torch

    assert result["OUTPUT"] == str(out)
    assert result["TORCH_VERSION"] == torch.__version__
    assert result["ENGINE_PYTHON"] == engine_python
    assert result["CUDA_AVAILABLE"] is torch.cuda.is_available()
    assert result["FORWARD_MPX_PER_S"] > 0
    report = json.loads(out.read_text())
    assert report["forward_tile_px"] == 32
    assert any("Forward pass 32x32" in line for line in feedback.infos)
    assert any("cmkd_plugin.engine" in c and " enginecheck " in c for c in feedback.commands)
    assert feedback.progress and max(feedback.progress) == 100.0


def test_html_report(cmkd_provider, tmp_path):
    out = tmp_path / "engine report.html"  # a space in the path, as users have
    processing.run("cmkd:enginecheck", {"ITERATIONS": 1, "TILE_SIZE": 16, "OUTPUT": str(out)})
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>") and "torch_version" in text


def test_cancel_stops_the_engine_and_writes_nothing(cmkd_provider, tmp_path):
    out = tmp_path / "engine.json"
    feedback = QgsProcessingFeedback()
    # Cancel from another thread once the engine reports progress, as the dialog's button does.
    feedback.progressChanged.connect(lambda _v: threading.Timer(0.2, feedback.cancel).start())
    with pytest.raises(QgsProcessingException, match="Cancel"):
        processing.run("cmkd:enginecheck",
                       {"ITERATIONS": 100000, "TILE_SIZE": 64, "OUTPUT": str(out)},
                       feedback=feedback)
    assert feedback.isCanceled()
    assert list(tmp_path.iterdir()) == []


def test_engine_error_becomes_processing_exception(cmkd_provider, tmp_path):
    with pytest.raises(QgsProcessingException, match=r"must end in \.json or \.html"):
        processing.run("cmkd:enginecheck", {"OUTPUT": str(tmp_path / "report.txt")})
    assert list(tmp_path.iterdir()) == []


def test_missing_interpreter(cmkd_provider, tmp_path, monkeypatch):
    monkeypatch.setenv("CMKD_ENGINE_PYTHON", str(tmp_path / "nowhere" / "python"))
    alg = cmkd_provider.algorithm("enginecheck")
    ok, message = alg.canExecute()
    assert not ok and "does not exist" in message and "CMKD_ENGINE_PYTHON" in message
    with pytest.raises(QgsProcessingException, match="does not exist"):
        processing.run("cmkd:enginecheck", {"OUTPUT": str(tmp_path / "r.json")})
    assert list(tmp_path.iterdir()) == []


def test_interpreter_without_torch(cmkd_provider, tmp_path, monkeypatch, python_without_torch):
    monkeypatch.setenv("CMKD_ENGINE_PYTHON", python_without_torch)
    with pytest.raises(QgsProcessingException, match="lacks the package 'torch'") as info:
        processing.run("cmkd:enginecheck", {"OUTPUT": str(tmp_path / "r.json")})
    assert python_without_torch in str(info.value) and "pip install" in str(info.value)
    assert list(tmp_path.iterdir()) == []
