"""Shared raster writers: profiles, class rasters with styles, float and hyperspectral rasters."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cmkd_plugin.engine.geo import write as gw

CRS = "EPSG:32640"
T = from_origin(650000.0, 2530000.0, 1.0, 1.0)


def test_profile_tiles_only_large_rasters():
    big = gw.gtiff_profile(width=300, height=300, count=1, dtype="float32", crs=CRS, transform=T)
    small = gw.gtiff_profile(width=100, height=300, count=1, dtype="uint8", crs=CRS, transform=T)
    assert big["tiled"] and big["blockxsize"] == 256 and big["compress"] == "deflate"
    assert big["bigtiff"] == "IF_SAFER" and big["predictor"] == 3
    assert "tiled" not in small and small["predictor"] == 2


def test_class_raster_colours_names_style_and_overviews(tmp_path):
    names, colours = ["olivine", "calcite", "water"], ["#6b8e23", "#ffffff", "#1e90ff"]
    classes = (np.arange(600 * 600).reshape(600, 600) % 3).astype(np.uint8)
    classes[:5, :5] = gw.CLASS_NODATA
    path = tmp_path / "classes.tif"
    gw.write_class_raster(path, classes, crs=CRS, transform=T, class_names=names, colours=colours)
    with rasterio.open(path) as src:
        assert src.nodata == 255 and src.dtypes[0] == "uint8"
        assert src.descriptions == ("class",)
        assert src.colormap(1)[2][:3] == (0x1E, 0x90, 0xFF)
        assert src.overviews(1) == [2]
        np.testing.assert_array_equal(src.read(1), classes)
    cats = [c.text or "" for c in ET.parse(str(path) + ".aux.xml").iter("Category")]
    assert cats[:3] == names
    qml = ET.parse(tmp_path / "classes.qml").getroot()
    entries = qml.findall(".//paletteEntry")
    assert [e.get("label") for e in entries] == names
    assert [e.get("color") for e in entries] == colours
    with pytest.raises(ValueError):
        gw.write_class_raster(tmp_path / "bad.tif", classes.astype(np.int16), crs=CRS,
                              transform=T, class_names=names, colours=colours)


def test_float_raster_band_names_nodata_units(tmp_path):
    data = np.random.default_rng(0).random((2, 40, 50)).astype(np.float32)
    data[0, 0, 0] = np.nan
    path = tmp_path / "p.tif"
    gw.write_float_raster(path, data, crs=CRS, transform=T, band_names=["calcite", "water"],
                          units="1")
    with rasterio.open(path) as src:
        assert src.descriptions == ("calcite", "water")
        assert np.isnan(src.nodata) and src.units == ("1", "1")
        np.testing.assert_array_equal(src.read(), data)
    with pytest.raises(ValueError):
        gw.write_float_raster(tmp_path / "q.tif", data, crs=CRS, transform=T, band_names=["a"])


def test_hyperspectral_gtiff_conventions_and_determinism(tmp_path):
    cube = np.random.default_rng(1).random((5, 20, 30)).astype(np.float32)
    wl, fw = [450.0, 550.0, 650.0, 1650.0, 2200.0], [10.0] * 5
    digests = []
    for name in ("a.tif", "b.tif"):
        gw.write_hyperspectral(tmp_path / name, cube, crs=CRS, transform=T, wavelengths_nm=wl,
                               fwhm_nm=fw, good_bands=[True, True, True, False, True])
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    with rasterio.open(tmp_path / "a.tif") as src:
        assert src.descriptions[1] == "550.0 nm"
        assert src.tags(2) == {"wavelength": "550.0", "fwhm": "10.00",
                               "wavelength_units": "Nanometers", "bad_band": "0"}
        assert src.tags(4)["bad_band"] == "1"
    got_wl, got_fw = gw.read_wavelengths(tmp_path / "a.tif")
    np.testing.assert_array_equal(got_wl, wl)
    np.testing.assert_array_equal(got_fw, fw)


def test_hyperspectral_envi_header(tmp_path):
    cube = np.ones((3, 4, 5), np.float32)
    path = tmp_path / "cube.img"
    gw.write_hyperspectral(path, cube, crs=CRS, transform=T, wavelengths_nm=[500, 600, 700],
                           fwhm_nm=[9, 9, 9], fmt="envi")
    header = (tmp_path / "cube.hdr").read_text()
    assert "wavelength = {500.0, 600.0, 700.0}" in header
    assert "fwhm = {9.00, 9.00, 9.00}" in header
    assert "wavelength units = Nanometers" in header
    assert str(tmp_path) not in header  # no file name baked into the description
    assert not (tmp_path / "cube.img.aux.xml").exists()
    np.testing.assert_array_equal(gw.read_wavelengths(path)[1], [9, 9, 9])
    with pytest.raises(ValueError):
        gw.write_hyperspectral(tmp_path / "x.img", cube, crs=CRS, transform=T,
                               wavelengths_nm=[1, 2, 3], fwhm_nm=[1, 1, 1], fmt="hdf")


def test_rgb_raster(tmp_path):
    rgb = np.zeros((3, 10, 12), np.uint8)
    rgb[0] = 200
    gw.write_rgb_raster(tmp_path / "rgb.tif", rgb, crs=CRS, transform=T, tags={"A": "1"})
    with rasterio.open(tmp_path / "rgb.tif") as src:
        assert [c.name for c in src.colorinterp] == ["red", "green", "blue"]
        assert src.tags()["A"] == "1"
        np.testing.assert_array_equal(src.read(), rgb)
    with pytest.raises(ValueError):
        gw.write_rgb_raster(tmp_path / "x.tif", rgb[:2], crs=CRS, transform=T)
