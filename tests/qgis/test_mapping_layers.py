"""What a user sees after running from the toolbox: cmkd:classify and cmkd:carbonation outputs
load onto the project styled — class names in the legend, pseudocolour rate with its unit,
graduated site polygons with labels."""

import sys
from pathlib import Path

import pytest
from qgis.core import (
    QgsGraduatedSymbolRenderer,
    QgsPalettedRasterRenderer,
    QgsProcessingFeedback,
    QgsProject,
    QgsSingleBandPseudoColorRenderer,
)

import processing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import save_tiny_student, write_random_rgb  # noqa: E402

CLASSES = (("olivine", "#6b8e23"), ("basalt", "#404040"), ("water", "#1e90ff"))


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mapping")
    model_path, _card = save_tiny_student(folder / "student.cmkd", CLASSES)
    rgb = write_random_rgb(folder / "rgb.tif")
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
