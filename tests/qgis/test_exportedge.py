"""cmkd:exportedge from Processing: the ONNX file carries the card, the int8 copy and report are
written, and cmkd:classify runs the .onnx file with the same classes as the model file;
cmkd:classify's advanced DASK_SCHEDULER reaches the engine (unreachable -> clear failure)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsProcessingParameterDefinition
from rasterio.transform import from_origin

import processing
from cmkd_plugin.engine.edge.metadata import read_onnx_card
from cmkd_plugin.engine.models.card import ClassCard, ModalityCard, ModelCard, Provenance
from cmkd_plugin.engine.models.config import StudentConfig
from cmkd_plugin.engine.models.modelfile import save_model
from cmkd_plugin.engine.models.student import Student


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    torch.manual_seed(0)
    model = Student(StudentConfig(n_classes=3, encoder_width=8, encoder_depth=1, embed_dim=16,
                                  classifier_hidden=8))
    card = ModelCard(kind="student", architecture=model.config,
                     modalities=(ModalityCard("rgb", ("red", "green", "blue"), (0.5,) * 3,
                                              (0.25,) * 3),),
                     classes=(ClassCard("olivine", "#6b8e23"), ClassCard("basalt", "#404040"),
                              ClassCard("water", "#1e90ff")),
                     tile_size_px=64, tile_overlap_px=16, provenance=Provenance.now(),
                     pixel_size_m=0.5)
    rgb = folder / "rgb.tif"
    rng = np.random.default_rng(0)
    with rasterio.open(rgb, "w", driver="GTiff", width=80, height=60, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 4100060, 1, 1)) as dst:
        dst.write(rng.integers(0, 255, (3, 60, 80), dtype="uint8"))
    return {"model": save_model(folder / "student.cmkd", model, card), "rgb": rgb, "card": card}


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
