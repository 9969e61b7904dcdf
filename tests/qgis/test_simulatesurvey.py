"""``cmkd:simulatesurvey`` through Processing: outputs load georeferenced and styled."""

import pytest
from qgis.core import (
    QgsPalettedRasterRenderer,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

import processing

RASTERS = ("OUTPUT_RGB", "OUTPUT_HSI", "OUTPUT_DEM", "OUTPUT_TRUTH")
VECTORS = ("OUTPUT_LABELS", "OUTPUT_SITES", "OUTPUT_FOOTPRINT")


def _params(folder, **extra):
    params = {"PRESET": "earth_carbonation", "SEED": 3, "SIZE": 160, "LABELS_PER_CLASS": 3, "HSI_BANDS": 24}
    names = {"OUTPUT_RGB": "rgb.tif", "OUTPUT_HSI": "hsi.tif", "OUTPUT_DEM": "dem.tif",
             "OUTPUT_TRUTH": "truth.tif", "OUTPUT_LABELS": "labels.gpkg",
             "OUTPUT_SITES": "sites.gpkg", "OUTPUT_FOOTPRINT": "footprint.gpkg",
             "OUTPUT_PREVIEW": "preview.png"}
    for key, name in names.items():
        params[key] = str(folder / name)
    params.update(extra)
    return params


def test_outputs_load_styled_and_georeferenced(cmkd_provider, tmp_path):
    project = QgsProject.instance()
    project.clear()
    # As the toolbox dialog does: run, then load every output layer with its post-processor.
    result = processing.runAndLoadResults("cmkd:simulatesurvey", _params(tmp_path),
                                          feedback=QgsProcessingFeedback())
    classes = result["CLASSES"].split(",")
    assert len(classes) == 12

    layers = {layer.source().split("|")[0]: layer for layer in project.mapLayers().values()}
    truth = layers[str(tmp_path / "truth.tif")]
    assert isinstance(truth, QgsRasterLayer) and truth.isValid()
    renderer = truth.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    legend = [c.label for c in renderer.classes()]
    assert legend == classes
    rgb = layers[str(tmp_path / "rgb.tif")]
    assert rgb.crs().isValid() and rgb.crs() == truth.crs()
    assert rgb.bandCount() == 3 and rgb.width() == 160
    assert rgb.extent().contains(truth.extent()) or truth.extent().contains(rgb.extent())
    hsi = layers[str(tmp_path / "hsi.tif")]
    assert hsi.bandCount() == 24
    for key in VECTORS:
        layer = next(v for k, v in layers.items() if k.startswith(str(tmp_path / key[7:].lower())))
        assert isinstance(layer, QgsVectorLayer) and layer.isValid() and layer.featureCount() > 0
    labels = next(v for k, v in layers.items() if "labels.gpkg" in k)
    assert "mineral" in labels.fields().names()
    assert (tmp_path / "preview.png").stat().st_size > 1000
    project.clear()


def test_same_seed_gives_identical_rasters(cmkd_provider, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    processing.run("cmkd:simulatesurvey", _params(a))
    processing.run("cmkd:simulatesurvey", _params(b))
    for name in ("rgb.tif", "hsi.tif", "dem.tif", "truth.tif"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_bad_input_is_refused_and_nothing_written(cmkd_provider, tmp_path):
    with pytest.raises(QgsProcessingException, match="(?i)gsd|coarser|ground sampling"):
        processing.run("cmkd:simulatesurvey", _params(tmp_path, HSI_GSD=1000.0))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(QgsProcessingException):
        processing.run("cmkd:simulatesurvey", _params(tmp_path / "sub", SIZE=0))
    assert list(tmp_path.iterdir()) == [] or list((tmp_path / "sub").iterdir()) == []
