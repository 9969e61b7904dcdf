"""Band wavelengths from ENVI headers, GeoTIFF metadata and band names; spectral resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.grid import Grid
from cmkd_plugin.engine.geo.spectral import (
    FWHM_TO_SIGMA,
    HsiReader,
    SpectralBands,
    SpectralMatchConfig,
    SpectralResampler,
    read_band_wavelengths,
)
from cmkd_plugin.engine.geo.tiling import PixelWindow

UTM = "EPSG:32633"
TRANSFORM = from_origin(500_000, 5_000_000, 10, 10)


def write_tif(path: Path, cube: np.ndarray, band_tags=None, descriptions=None, crs=UTM,
              transform=TRANSFORM, nodata=None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=cube.shape[2], height=cube.shape[1],
                       count=cube.shape[0], dtype=cube.dtype.name, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(cube)
        for b in range(cube.shape[0]):
            if band_tags:
                dst.update_tags(b + 1, **band_tags[b])
            if descriptions:
                dst.set_band_description(b + 1, descriptions[b])
    return path


def write_envi(path: Path, cube: np.ndarray, extra_header: str, crs=UTM, transform=TRANSFORM) -> Path:
    with rasterio.open(path, "w", driver="ENVI", width=cube.shape[2], height=cube.shape[1],
                       count=cube.shape[0], dtype=cube.dtype.name, crs=crs,
                       transform=transform) as dst:
        dst.write(cube)
    header = path.with_suffix(".hdr")
    header.write_text(header.read_text() + extra_header)
    return path


def braces(values) -> str:
    # ENVI writers wrap long lists over several lines
    items = [f"{v:g}" for v in values]
    lines = [", ".join(items[i:i + 6]) for i in range(0, len(items), 6)]
    return "{\n " + ",\n ".join(lines) + "}"


def test_geotiff_band_metadata_in_nm_and_um(tmp_path: Path) -> None:
    wl = [450.0, 550.0, 650.0]
    tags = [{"wavelength": str(w), "fwhm": "10.0", "wavelength_units": "Nanometers"} for w in wl]
    bands = read_band_wavelengths(write_tif(tmp_path / "nm.tif", np.ones((3, 2, 2), np.float32), tags))
    assert bands.wavelengths_nm == tuple(wl) and bands.fwhm_nm == (10.0, 10.0, 10.0)
    tags_um = [{"WAVELENGTH": str(w / 1000), "FWHM": "0.01", "wavelength_units": "Micrometers"}
               for w in wl]
    bands = read_band_wavelengths(write_tif(tmp_path / "um.tif", np.ones((3, 2, 2), np.float32),
                                            tags_um))
    assert np.allclose(bands.wavelengths_nm, wl) and np.allclose(bands.fwhm_nm, 10.0)


@pytest.mark.parametrize("descriptions,expected", [
    (["550.0 nm", "560.0 nm", "570.5 nm"], [550.0, 560.0, 570.5]),
    (["Band 12 (550.0)", "Band 13 (560.0)", "Band 14 (570.0)"], [550.0, 560.0, 570.0]),
    (["0.55 um", "0.56 um", "0.57 um"], [550.0, 560.0, 570.0]),
    (["1.2", "1.3", "1.4"], [1200.0, 1300.0, 1400.0]),  # bare micrometres
])
def test_band_descriptions(tmp_path: Path, descriptions, expected) -> None:
    path = write_tif(tmp_path / "d.tif", np.ones((3, 2, 2), np.uint16), descriptions=descriptions)
    bands = read_band_wavelengths(path)
    assert np.allclose(bands.wavelengths_nm, expected) and bands.fwhm_nm is None


def test_envi_header_with_micrometres_and_bad_bands(tmp_path: Path) -> None:
    wl_um = np.linspace(0.4, 2.5, 22)
    bbl = [1] * 22
    bbl[9] = bbl[10] = 0  # water-vapour bands
    header = (f"wavelength units = Micrometers\nwavelength = {braces(wl_um)}\n"
              f"fwhm = {braces([0.012] * 22)}\nbbl = {braces(bbl)}\n")
    path = write_envi(tmp_path / "cube.img", np.ones((22, 3, 4), np.int16), header)
    bands = read_band_wavelengths(path)
    assert np.allclose(bands.wavelengths_nm, wl_um * 1000)
    assert np.allclose(bands.fwhm_nm, 12.0)
    assert bands.source.startswith("ENVI header")
    assert 10 not in bands.good_band_indexes and 11 not in bands.good_band_indexes
    assert len(bands.good_band_indexes) == 20


def test_no_wavelengths_says_how_to_add_them(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "x.tif", np.ones((4, 2, 2), np.uint16))
    with pytest.raises(InputError) as err:
        read_band_wavelengths(path)
    assert str(err.value).startswith(
        "HSI 'x.tif' has no band wavelengths: add 'wavelength' band metadata")
    assert "ENVI .hdr" in str(err.value)
    partial = [{"wavelength": "500"}, {}, {}, {"wavelength": "800"}]
    with pytest.raises(InputError, match="bands 2-3 have no 'wavelength'"):
        read_band_wavelengths(write_tif(tmp_path / "p.tif", np.ones((4, 2, 2), np.uint16), partial))
    # ENVI header whose list does not match the band count
    with pytest.raises(InputError, match="lists 3 wavelengths for 4 bands"):
        read_band_wavelengths(write_envi(tmp_path / "bad.img", np.ones((4, 2, 2), np.int16),
                                         "wavelength = {500, 600, 700}\n"))


def spectrum(lam: np.ndarray) -> np.ndarray:
    """A reflectance with a broad slope and a narrow absorption near 2330 nm (carbonate)."""
    return 0.3 + 1e-4 * (lam - 400) - 0.15 * np.exp(-0.5 * ((lam - 2330) / 12.0) ** 2)


def measured(bands: SpectralBands) -> np.ndarray:
    """What a sensor with Gaussian band responses measures from :func:`spectrum`."""
    lam = np.arange(300.0, 2700.0, 0.25)
    out = []
    for c, f in zip(bands.wavelengths_nm, bands.fwhm_nm):
        srf = np.exp(-0.5 * ((lam - c) / (f * FWHM_TO_SIGMA)) ** 2)
        out.append((srf * spectrum(lam)).sum() / srf.sum())
    return np.array(out)


def test_gaussian_resampling_matches_the_target_sensor() -> None:
    source = SpectralBands.regular(400, 2500, 421, fwhm_nm=5.0)  # 5 nm bands
    target = SpectralBands.regular(2200, 2450, 11, fwhm_nm=25.0)  # broad bands over the feature
    cube = measured(source)[:, None, None].astype(np.float32) * np.ones((1, 2, 3), np.float32)
    truth = measured(target)
    gauss = SpectralResampler(source, target, SpectralMatchConfig(min_overlap_fraction=0.0))
    linear = SpectralResampler(source, target, SpectralMatchConfig(method="linear",
                                                                   min_overlap_fraction=0.0))
    assert gauss.coverage == 1.0
    np.testing.assert_allclose(gauss.weights.sum(axis=1), 1.0, rtol=1e-5)
    err_g = np.abs(gauss(cube)[:, 0, 0] - truth).max()
    err_l = np.abs(linear(cube)[:, 0, 0] - truth).max()
    assert err_g < 2e-3 and err_g < err_l / 5  # the SRF model matters at an absorption feature


def test_same_bands_are_passed_through_and_shifted_bands_interpolated() -> None:
    bands = SpectralBands.regular(400, 1000, 61, fwhm_nm=10.0)
    cube = np.random.default_rng(0).random((61, 4, 5)).astype(np.float32)
    same = SpectralResampler(bands, bands)
    assert np.allclose(same(cube), cube, atol=1e-6)
    shifted = SpectralBands.regular(405, 995, 60, fwhm_nm=10.0)
    out = SpectralResampler(bands, shifted)(cube)
    assert np.allclose(out, 0.5 * (cube[:-1] + cube[1:]), atol=1e-6)


def test_too_little_overlap_names_the_ranges() -> None:
    vnir = SpectralBands.regular(400, 1000, 61, fwhm_nm=10.0)
    full = SpectralBands.regular(400, 2500, 224, fwhm_nm=10.0)
    with pytest.raises(InputError) as err:
        SpectralResampler(vnir, full, name="vnir.tif")
    msg = str(err.value)
    assert "HSI 'vnir.tif' covers 400-1000 nm with 61 usable bands" in msg
    assert "needs 400-2500 nm" in msg and "of its 224 bands are covered" in msg


def test_bad_bands_leave_a_hole_that_is_interpolated_and_counted() -> None:
    source = SpectralBands.regular(400, 2500, 211, fwhm_nm=10.0)
    water = (np.asarray(source.wavelengths_nm) > 1340) & (np.asarray(source.wavelengths_nm) < 1460)
    source = SpectralBands(source.wavelengths_nm, source.fwhm_nm, tuple(bool(g) for g in ~water))
    target = SpectralBands.regular(400, 2500, 106, fwhm_nm=20.0)
    res = SpectralResampler(source, target)
    assert len(res.band_indexes) == 211 - int(water.sum())
    hole = [c for c in res.uncovered_nm]
    assert hole and all(1340 < c < 1460 for c in hole)
    assert 0.9 <= res.coverage < 1.0
    cube = np.ones((len(res.band_indexes), 2, 2), np.float32)
    assert np.allclose(res(cube), 1.0)  # filled across the hole
    with pytest.raises(InputError):
        SpectralResampler(source, target, SpectralMatchConfig(min_overlap_fraction=1.0))


def test_nan_bands_are_left_out_per_pixel() -> None:
    source = SpectralBands.regular(400, 1000, 61, fwhm_nm=5.0)
    target = SpectralBands.regular(450, 950, 11, fwhm_nm=30.0)
    res = SpectralResampler(source, target)
    cube = np.tile(np.linspace(0.1, 0.7, 61, dtype=np.float32)[:, None, None], (1, 2, 2))
    full = res(cube)
    cube[30, 0, 0] = np.nan  # one band missing at one pixel
    cube[:, 1, 1] = np.nan  # a nodata pixel
    out = res(cube)
    assert np.isfinite(out[:, 0, 0]).all() and np.allclose(out[:, 0, 0], full[:, 0, 0], atol=2e-3)
    assert np.isnan(out[:, 1, 1]).all()
    assert np.array_equal(out[:, 0, 1], full[:, 0, 1])


def test_hsi_reader_resamples_an_envi_cube_in_another_crs(tmp_path: Path) -> None:
    source = SpectralBands.regular(400, 2500, 106, fwhm_nm=20.0)
    values = measured(source).astype(np.float32)
    cube = (np.tile(values[:, None, None], (1, 30, 30)) * 10000).astype(np.int16)
    bbl = [1] * 106
    bbl[50] = 0
    cube[50] = -32768  # garbage in a bad band: never read
    header = (f"wavelength units = Nanometers\nwavelength = {braces(source.wavelengths_nm)}\n"
              f"fwhm = {braces(source.fwhm_nm)}\nbbl = {braces(bbl)}\n")
    # EPSG:3857 cube over the UTM grid below, 20 m pixels
    from pyproj import Transformer

    x, y = Transformer.from_crs(UTM, "EPSG:3857", always_xy=True).transform(499_900, 5_000_100)
    path = write_envi(tmp_path / "hsi.img", cube, header, crs="EPSG:3857",
                      transform=from_origin(x, y, 20, 20))
    with rasterio.open(tmp_path / "rgb.tif", "w", driver="GTiff", width=20, height=20, count=3,
                       dtype="uint8", crs=UTM, transform=TRANSFORM) as dst:
        dst.write(np.zeros((3, 20, 20), np.uint8))
    grid = Grid.from_raster(tmp_path / "rgb.tif")
    target = SpectralBands.regular(420, 2480, 50, fwhm_nm=40.0)
    with HsiReader(path, grid, target) as hsi:
        assert 51 not in hsi.resampler.band_indexes
        win = hsi.read(PixelWindow(0, 0, 20, 20))
    assert win.data.shape == (50, 20, 20) and win.valid.all()
    expected = measured(target)
    assert np.abs(win.data[:, 5, 5] - expected).max() < 5e-3


def test_a_dead_band_not_flagged_in_the_file_is_left_out() -> None:
    source = SpectralBands.regular(400, 1000, 61, fwhm_nm=5.0)
    target = SpectralBands.regular(450, 950, 11, fwhm_nm=30.0)
    res = SpectralResampler(source, target)
    rng = np.random.default_rng(1)
    cube = rng.random((61, 6, 7)).astype(np.float32)
    cube[30] = np.nan  # dead band in the whole window
    cube[10, 2, 2] = np.nan  # and one more at one pixel
    cube[:, 5] = np.nan  # and a nodata row
    out = res(cube)
    flat = cube.reshape(61, -1)
    ok = np.isfinite(flat)
    with np.errstate(invalid="ignore"):  # the nodata row divides 0 by 0
        expected = (res.weights @ np.where(ok, flat, 0)) / (res.weights @ ok.astype(np.float32))
    expected = expected.reshape(11, 6, 7)
    assert np.isnan(out[:, 5]).all() and np.isfinite(out[:, :5]).all()
    assert np.allclose(out[:, :5], expected[:, :5], atol=1e-6)


def test_bad_band_item_means_bad_as_the_simulator_writes_it(tmp_path):
    """``bad_band=1`` marks a bad band (geo.write's convention), unlike ENVI ``bbl=1`` (good)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from cmkd_plugin.engine.geo.spectral import read_band_wavelengths

    path = tmp_path / "hsi.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=3, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(0, 4, 1, 1)) as dst:
        dst.write(np.ones((3, 4, 4), "float32"))
        for band, (wl, bad) in enumerate(((500.0, "0"), (1400.0, "1"), (2200.0, "0")), start=1):
            dst.update_tags(band, wavelength=str(wl), fwhm="10", wavelength_units="Nanometers",
                            bad_band=bad)
    bands = read_band_wavelengths(path, "HSI")
    assert bands.good == (True, False, True)
