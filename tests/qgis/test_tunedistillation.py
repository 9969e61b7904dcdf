"""``cmkd:tunedistillation`` through Processing: in the toolbox with the issue's parameters, and
a Graphical Modeler model built in code — tune the distillation, then classify the RGB with the
tuned student — really running on the tiny three-class scene."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import rasterio
from qgis.core import (
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildParameterSource as Source,
    QgsProcessingParameterDefinition,
)

import processing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import train_tiny_teacher, write_scene  # noqa: E402

ISSUE_PARAMETERS = ("TEACHER", "RGB", "HSI", "DEM", "LABELS", "LABEL_FIELD", "MAX_EVALUATIONS",
                    "SEED", "OUTPUT_TABLE", "OUTPUT_MODEL")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, one_torch_thread) -> dict[str, Path]:  # noqa: ARG001
    """The tiny scene and a tiny teacher (narrow, few epochs) trained by the engine."""
    paths = write_scene(tmp_path_factory.mktemp("scene"))
    return {**paths, "teacher": train_tiny_teacher(paths, tmp_path_factory.mktemp("teacher"), 4)}


def test_in_the_toolbox_with_the_issue_parameters(cmkd_provider):
    alg = cmkd_provider.algorithm("tunedistillation")
    assert alg is not None and alg.groupId() == "training"
    names = {p.name() for p in alg.parameterDefinitions()}
    assert set(ISSUE_PARAMETERS) <= names
    assert not alg.parameterDefinition("LABELS").flags() & QgsProcessingParameterDefinition.FlagOptional
    assert alg.parameterDefinition("MAX_EVALUATIONS").defaultValue() == 20
    assert alg.parameterDefinition("MAX_EVALUATIONS").minimum() == 1
    outputs = {o.name() for o in alg.outputDefinitions()}
    assert {"OUTPUT_TABLE", "OUTPUT_MODEL", "BEST_SCORE", "BEST_TEMPERATURE_START"} <= outputs


def test_tune_then_classify_in_a_model(cmkd_provider, model_child, tiny, tmp_path):  # noqa: ARG001
    model = QgsProcessingModelAlgorithm("tuning", "tests")
    static = Source.fromStaticValue
    model.addChildAlgorithm(model_child("cmkd:tunedistillation", "tune", {
        "TEACHER": static(str(tiny["teacher"])), "RGB": static(str(tiny["rgb"])),
        "HSI": static(str(tiny["hsi"])), "DEM": static(str(tiny["dem"])),
        "LABELS": static(str(tiny["labels"])), "LABEL_FIELD": static("mineral"),
        "MAX_EVALUATIONS": static(2), "EVAL_EPOCHS": static(1), "EPOCHS": static(1),
        "METHOD": static(2), "SEED": static(5),
    }, outputs=("OUTPUT_TABLE", "OUTPUT_MODEL", "OUTPUT_REPORT")))
    model.addChildAlgorithm(model_child("cmkd:classify", "classify", {
        "RGB": static(str(tiny["rgb"])),
        "MODEL": Source.fromChildOutput("tune", "OUTPUT_MODEL"),
    }, outputs=("OUTPUT_CLASSES",)))
    model.updateDestinationParameters()

    result = processing.run(model, {
        "tune:OUTPUT_TABLE": str(tmp_path / "tuning.csv"),
        "tune:OUTPUT_MODEL": str(tmp_path / "student.cmkd"),
        "tune:OUTPUT_REPORT": str(tmp_path / "student.html"),
        "classify:OUTPUT_CLASSES": str(tmp_path / "classes.tif"),
    })
    assert Path(result["tune:OUTPUT_TABLE"]) == tmp_path / "tuning.csv"
    with open(tmp_path / "tuning.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["evaluation"] for r in rows] == ["1", "2"] and {r["method"] for r in rows} == {"random"}
    assert (tmp_path / "student.cmkd").exists() and (tmp_path / "student.html").exists()
    with rasterio.open(tmp_path / "classes.tif") as ds:
        assert ds.width == 64 and ds.count == 1


def test_cancel_through_processing_keeps_the_table_and_writes_no_model(cmkd_provider, tiny,  # noqa: ARG001
                                                                      tmp_path):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    table = tmp_path / "tuning.csv"
    feedback = QgsProcessingFeedback()

    def cancel_after_one_row(_progress):
        if table.exists() and table.read_text(encoding="utf-8").count("\n") >= 2:
            feedback.cancel()

    feedback.progressChanged.connect(cancel_after_one_row)
    with pytest.raises(QgsProcessingException):
        processing.run("cmkd:tunedistillation", {
            "TEACHER": str(tiny["teacher"]), "RGB": str(tiny["rgb"]), "HSI": str(tiny["hsi"]),
            "DEM": str(tiny["dem"]), "LABELS": str(tiny["labels"]), "MAX_EVALUATIONS": 6,
            "EVAL_EPOCHS": 1, "EPOCHS": 1, "SEED": 2, "OUTPUT_TABLE": str(table),
            "OUTPUT_MODEL": str(tmp_path / "student.cmkd"),
            "OUTPUT_REPORT": str(tmp_path / "student.html")}, feedback=feedback)
    assert feedback.isCanceled()
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert 1 <= len(rows) < 6 and [r["evaluation"] for r in rows] == [str(i + 1) for i in range(len(rows))]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuning.csv"]
