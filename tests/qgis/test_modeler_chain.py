"""A Graphical Modeler model built in code — simulate → classify with the bundled student (the
MODEL parameter left at its default) → carbonation — runs through Processing, as a user would
chain them in the Modeler."""

from pathlib import Path

import geopandas as gpd
import rasterio
from qgis.core import (
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildParameterSource as Source,
)

import processing
from cmkd_plugin.engine.paths import resources_dir


def test_simulate_classify_with_bundled_student_carbonation_in_a_model(cmkd_provider, model_child,
                                                                      tmp_path):
    bundled = resources_dir() / "models" / "earth_carbonation_student.cmkd"
    assert bundled.exists(), "the bundled student is part of the plugin"
    classify = cmkd_provider.algorithm("classify")
    assert Path(classify.parameterDefinition("MODEL").defaultValue()) == bundled

    model = QgsProcessingModelAlgorithm("chain", "tests")
    model.addChildAlgorithm(model_child("cmkd:simulatesurvey", "simulate", {
        "PRESET": Source.fromStaticValue("earth_carbonation"),
        "SEED": Source.fromStaticValue(11), "SIZE": Source.fromStaticValue(160),
        "LABELS_PER_CLASS": Source.fromStaticValue(2), "HSI_BANDS": Source.fromStaticValue(16),
    }))
    model.addChildAlgorithm(model_child("cmkd:classify", "classify", {
        "RGB": Source.fromChildOutput("simulate", "OUTPUT_RGB"),   # MODEL: its default
    }, outputs=("OUTPUT_PROBABILITIES",)))
    model.addChildAlgorithm(model_child("cmkd:carbonation", "carbonation", {
        "PROBABILITIES": Source.fromChildOutput("classify", "OUTPUT_PROBABILITIES"),
        "SITES": Source.fromChildOutput("simulate", "OUTPUT_SITES"),
        "SITE_ID_FIELD": Source.fromStaticValue("site_id"),
    }, outputs=("OUTPUT_RATE", "OUTPUT_SITES")))
    model.updateDestinationParameters()

    result = processing.run(model, {
        "classify:OUTPUT_PROBABILITIES": str(tmp_path / "prob.tif"),
        "carbonation:OUTPUT_RATE": str(tmp_path / "rate.tif"),
        "carbonation:OUTPUT_SITES": str(tmp_path / "uptake.gpkg"),
    })
    assert Path(result["carbonation:OUTPUT_RATE"]) == tmp_path / "rate.tif"
    with rasterio.open(tmp_path / "prob.tif") as prob:
        assert prob.tags()["CMKD_PRODUCT"] == "probabilities" and prob.count == 12
    with rasterio.open(tmp_path / "rate.tif") as rate:
        assert rate.width == 160
    sites = gpd.read_file(tmp_path / "uptake.gpkg")
    assert len(sites) > 0 and (sites["total_t_co2_yr"] >= 0).all()
