"""What a user sees after running from the toolbox: cmkd:classify and cmkd:carbonation outputs
load onto the project styled — class names in the legend, pseudocolour rate with its unit,
graduated site polygons with labels."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from qgis.core import (
    QgsGraduatedSymbolRenderer,
    QgsPalettedRasterRenderer,
    QgsProcessingFeedback,
    QgsProject,
    QgsSingleBandPseudoColorRenderer,
)
from rasterio.transform import from_origin

import processing
from cmkd_plugin.engine.models.card import ClassCard, ModalityCard, ModelCard, Provenance
from cmkd_plugin.engine.models.config import StudentConfig
from cmkd_plugin.engine.models.modelfile import save_model
from cmkd_plugin.engine.models.student import Student

CLASSES = (ClassCard("olivine", "#6b8e23"), ClassCard("basalt", "#404040"),
           ClassCard("water", "#1e90ff"))


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mapping")
    torch.manual_seed(0)
    model = Student(StudentConfig(n_classes=3, encoder_width=8, encoder_depth=1, embed_dim=16,
                                  classifier_hidden=8))
    card = ModelCard(kind="student", architecture=model.config,
                     modalities=(ModalityCard("rgb", ("red", "green", "blue"), (0.5,) * 3,
                                              (0.25,) * 3),),
                     classes=CLASSES, tile_size_px=64, tile_overlap_px=16,
                     provenance=Provenance.now())
    model_path = save_model(folder / "student.cmkd", model, card)
    rgb = folder / "rgb.tif"
    rng = np.random.default_rng(0)
    with rasterio.open(rgb, "w", driver="GTiff", width=80, height=60, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 4100060, 1, 1)) as dst:
        dst.write(rng.integers(0, 255, (3, 60, 80), dtype="uint8"))
    import geopandas as gpd
    from shapely.geometry import box

    sites = folder / "sites.gpkg"
    gpd.GeoDataFrame({"site_id": [1, 2], "name": ["north", "south"]},
                     geometry=[box(500005, 4100030, 500040, 4100055),
                               box(500030, 4100005, 500075, 4100028)],
                     crs="EPSG:32633").to_file(sites)
    return {"model": model_path, "rgb": rgb, "sites": sites}


def _layers_by_file(project):
    return {Path(layer.source().split("|")[0]).name: layer
            for layer in project.mapLayers().values()}


def test_classify_and_carbonation_load_styled(cmkd_provider, small_inputs, tmp_path):
    project = QgsProject.instance()
    project.clear()
    mapped = processing.runAndLoadResults("cmkd:classify", {
        "MODEL": str(small_inputs["model"]), "RGB": str(small_inputs["rgb"]),
        "TILE_SIZE": 64, "OVERLAP": 16,
        "OUTPUT_CLASSES": str(tmp_path / "classes.tif"),
        "OUTPUT_PROBABILITIES": str(tmp_path / "probabilities.tif"),
        "OUTPUT_CONFIDENCE": str(tmp_path / "confidence.tif"),
    }, feedback=QgsProcessingFeedback())
    assert mapped["CLASSES"] == "olivine,basalt,water"
    layers = _layers_by_file(project)
    classes = layers["classes.tif"]
    assert isinstance(classes.renderer(), QgsPalettedRasterRenderer)
    assert [c.label for c in classes.renderer().classes()] == ["olivine", "basalt", "water"]
    assert isinstance(layers["confidence.tif"].renderer(), QgsSingleBandPseudoColorRenderer)

    processing.runAndLoadResults("cmkd:carbonation", {
        "PROBABILITIES": str(tmp_path / "probabilities.tif"),
        "SITES": str(small_inputs["sites"]), "SITE_ID_FIELD": "site_id",
        "OUTPUT_RATE": str(tmp_path / "rate.tif"),
        "OUTPUT_UNCERTAINTY": str(tmp_path / "uncertainty.tif"),
        "OUTPUT_SITES": str(tmp_path / "uptake.gpkg"),
    }, feedback=QgsProcessingFeedback())
    layers = _layers_by_file(project)
    rate = layers["rate.tif"]
    assert isinstance(rate.renderer(), QgsSingleBandPseudoColorRenderer)
    ramp = rate.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert len(ramp) >= 2 and all("t CO2 ha-1 yr-1" in item.label for item in ramp)
    uptake = layers["uptake.gpkg"]
    assert isinstance(uptake.renderer(), QgsGraduatedSymbolRenderer)
    assert uptake.labelsEnabled()
    assert uptake.featureCount() == 2
    project.clear()
