import hashlib


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_simulatesurvey_headless_mars(qgis_run_json, tmp_path):
    names = {"OUTPUT_RGB": "rgb.tif", "OUTPUT_HSI": "hsi.img", "OUTPUT_DEM": "dem.tif",
             "OUTPUT_TRUTH": "truth.tif", "OUTPUT_LABELS": "labels.gpkg",
             "OUTPUT_SITES": "sites.gpkg", "OUTPUT_FOOTPRINT": "footprint.gpkg",
             "OUTPUT_PREVIEW": "preview.png"}
    params = {k: tmp_path / v for k, v in names.items()}
    result = qgis_run_json("cmkd:simulatesurvey", PRESET="mars_analogue", SEED=1, SIZE=160,
                           LABELS_PER_CLASS=2, HSI_BANDS=16, **params)
    assert len(result["results"]["CLASSES"].split(",")) == 12
    for key, path in params.items():
        assert path.exists(), key
    # ENVI output (what airborne sensors deliver) comes with its header of wavelengths.
    header = (tmp_path / "hsi.hdr").read_text()
    assert "wavelength" in header and "fwhm" in header
    assert (tmp_path / "truth.qml").exists()  # styled when opened later, too
    first = _digest(tmp_path / "truth.tif")
    again = qgis_run_json("cmkd:simulatesurvey", PRESET="mars_analogue", SEED=1, SIZE=160,
                          LABELS_PER_CLASS=2, HSI_BANDS=16, **params)
    assert again["results"]["CLASSES"] == result["results"]["CLASSES"]
    assert _digest(tmp_path / "truth.tif") == first


def test_unknown_preset_fails_without_output(qgis_process, tmp_path):
    out = qgis_process("run", "cmkd:simulatesurvey", "--", "PRESET=venus",
                       f"OUTPUT_RGB={tmp_path / 'rgb.tif'}")
    assert out.returncode != 0
    assert list(tmp_path.iterdir()) == []
