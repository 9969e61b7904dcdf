"""cmkd:exportedge from Processing: the ONNX file carries the card, the int8 copy and report are
written, and cmkd:classify runs the .onnx file with the same classes as the model file;
cmkd:classify's advanced DASK_SCHEDULER reaches the engine (unreachable -> clear failure)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsProcessingParameterDefinition

import processing
from cmkd_plugin.engine.edge.metadata import read_onnx_card
from cmkd_plugin.engine.models.student import Student

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import save_tiny_student, write_random_rgb  # noqa: E402


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    model, card = save_tiny_student(folder / "student.cmkd", (("olivine", "#6b8e23"), ("basalt", "#404040"),
                                                                ("water", "#1e90ff")), pixel_size_m=0.5)
    return {"model": model, "rgb": write_random_rgb(folder / "rgb.tif"), "card": card}


def test_exportedge_then_classify_the_onnx_file(cmkd_provider, inputs, tmp_path):
    result = processing.run("cmkd:exportedge", {
        "MODEL": str(inputs["model"]), "OUTPUT_ONNX": str(tmp_path / "student.onnx"),
        "QUANTIZE": True, "DEVICE_POWER_W": 4.0, "GSD_M": 0.5,
        "OUTPUT_REPORT": str(tmp_path / "report.json"),
    }, feedback=QgsProcessingFeedback())
    assert result["OUTPUT_ONNX"] == str(tmp_path / "student.onnx")
    assert result["OUTPUT_INT8"] == str(tmp_path / "student.int8.onnx")
    card, meta = read_onnx_card(tmp_path / "student.int8.onnx")
    assert card == inputs["card"] and json.loads(meta["resolution"]) == 50.0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["device_power_w"] == 4.0 and report["gsd_m"] == 0.5
    assert result["FP32_LATENCY_MS"] == report["fp32_latency_ms_per_tile"] > 0
    assert result["PARAMETERS"] == sum(p.numel() for p in Student(card.architecture).parameters())

    classes = {}
    for name, model in (("cmkd", inputs["model"]), ("onnx", tmp_path / "student.onnx")):
        processing.run("cmkd:classify", {
            "MODEL": str(model), "RGB": str(inputs["rgb"]), "TILE_SIZE": 64, "OVERLAP": 16,
            "OUTPUT_CLASSES": str(tmp_path / f"{name}.tif")}, feedback=QgsProcessingFeedback())
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            classes[name] = ds.read(1)
    np.testing.assert_array_equal(classes["onnx"], classes["cmkd"])


def test_classify_dask_scheduler_is_advanced_and_reaches_the_engine(cmkd_provider, inputs,
                                                                     tmp_path):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("cmkd:classify")
    param = alg.parameterDefinition("DASK_SCHEDULER")
    assert param is not None and param.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    with pytest.raises(QgsProcessingException, match="Cannot reach the Dask scheduler"):
        processing.run("cmkd:classify", {
            "MODEL": str(inputs["model"]), "RGB": str(inputs["rgb"]), "TILE_SIZE": 64,
            "OVERLAP": 16, "DASK_SCHEDULER": "tcp://127.0.0.1:1",
            "OUTPUT_CLASSES": str(tmp_path / "c.tif")}, feedback=QgsProcessingFeedback())
    assert not (tmp_path / "c.tif").exists()
