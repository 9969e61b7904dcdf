"""``cmkd:adaptsite`` in the toolbox with the issue's parameter names, chained after a simulated
survey in a Graphical Modeler model built in code (the bundled student adapted to the new
scene's labels), and its clear refusal of a class the model does not know."""

from pathlib import Path

import pytest
from qgis.core import (
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildParameterSource as Source,
    QgsProcessingParameterDefinition,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

import processing
from cmkd_plugin.engine.paths import resources_dir

BUNDLED = resources_dir() / "models" / "earth_carbonation_student.cmkd"


def test_adaptsite_is_in_the_toolbox_with_the_issues_parameters(cmkd_provider):
    alg = cmkd_provider.algorithm("adaptsite")
    assert alg is not None and alg.groupId() == "training"
    names = {p.name() for p in alg.parameterDefinitions()}
    assert {"MODEL", "RGB", "HSI", "DEM", "LABELS", "LABEL_FIELD", "EPOCHS", "OUTPUT_MODEL",
            "OUTPUT_REPORT"} <= names
    assert alg.parameterDefinition("HSI").flags() & QgsProcessingParameterDefinition.FlagOptional
    assert not alg.parameterDefinition("LABELS").flags() & QgsProcessingParameterDefinition.FlagOptional
    for key in ("FREEZE", "KEEP_WEIGHT", "RENORMALISE"):
        assert alg.parameterDefinition(key).flags() & QgsProcessingParameterDefinition.FlagAdvanced


def test_simulate_then_adapt_the_bundled_student_in_a_model(cmkd_provider, model_child, tmp_path):
    from cmkd_plugin.engine.models.modelfile import load_model

    model = QgsProcessingModelAlgorithm("adapt", "tests")
    model.addChildAlgorithm(model_child("cmkd:simulatesurvey", "simulate", {
        "PRESET": Source.fromStaticValue("earth_carbonation"),
        "SEED": Source.fromStaticValue(21), "SIZE": Source.fromStaticValue(128),
        "LABELS_PER_CLASS": Source.fromStaticValue(1), "HSI_BANDS": Source.fromStaticValue(16),
    }))
    model.addChildAlgorithm(model_child("cmkd:adaptsite", "adapt", {
        "MODEL": Source.fromStaticValue(str(BUNDLED)),
        "RGB": Source.fromChildOutput("simulate", "OUTPUT_RGB"),
        "LABELS": Source.fromChildOutput("simulate", "OUTPUT_LABELS"),
        "LABEL_FIELD": Source.fromStaticValue("mineral"),
        "EPOCHS": Source.fromStaticValue(1),
    }, outputs=("OUTPUT_MODEL", "OUTPUT_REPORT")))
    model.updateDestinationParameters()
    result = processing.run(model, {"adapt:OUTPUT_MODEL": str(tmp_path / "adapted.cmkd"),
                                    "adapt:OUTPUT_REPORT": str(tmp_path / "adapted.html")})
    assert Path(result["adapt:OUTPUT_MODEL"]) == tmp_path / "adapted.cmkd"
    adapted, card = load_model(tmp_path / "adapted.cmkd", expect_kind="student")
    assert card.training["adaptations"][-1]["adapted_from"] == BUNDLED.name
    assert card.class_names == load_model(BUNDLED)[1].class_names
    assert (tmp_path / "adapted.json").exists()


def test_unknown_class_stops_with_the_engines_message(cmkd_provider, tmp_path):
    from cmkd_plugin.engine.simulator import OutputPaths, SimulationConfig, simulate_survey

    out = simulate_survey(SimulationConfig("earth_carbonation", seed=5, size_px=128, hsi_bands=16,
                                           labels_per_class=1), OutputPaths.in_folder(tmp_path / "s"))
    layer = QgsVectorLayer("Point?crs=EPSG:32640", "pts", "memory")
    layer.dataProvider().addAttributes([QgsField("mineral", QVariant.String)])
    layer.updateFields()
    for name, dx in (("olivine", 2.0), ("granite", 6.0)):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(652000.0 + dx, 2534000.0 - 2.0)))
        f.setAttribute("mineral", name)
        layer.dataProvider().addFeature(f)
    with pytest.raises(QgsProcessingException, match="granite"):
        processing.run("cmkd:adaptsite", {
            "MODEL": str(BUNDLED), "RGB": out["OUTPUT_RGB"], "LABELS": layer,
            "LABEL_FIELD": "mineral", "EPOCHS": 1,
            "OUTPUT_MODEL": str(tmp_path / "m.cmkd"), "OUTPUT_REPORT": str(tmp_path / "m.html")})
    assert not (tmp_path / "m.cmkd").exists()
