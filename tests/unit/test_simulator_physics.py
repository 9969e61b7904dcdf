"""Physics of the simulated survey, checked on the written files.

The scene is generated once per preset through the engine CLI (files on disk) and once in memory
with the same seed (for the simulation's own ground truth: which base pixels are unmixed).
Illumination is recomputed here from the written DEM with an independent implementation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from cmkd_plugin.engine import cli
from cmkd_plugin.engine.geo.write import read_wavelengths
from cmkd_plugin.engine.simulator import SimulationConfig, generate_scene, get_preset, spectra
from cmkd_plugin.engine.simulator.atmosphere import Atmosphere, solar_irradiance
from cmkd_plugin.engine.simulator.scene import AEROSOL_OPTICAL_DEPTH
from cmkd_plugin.engine.simulator.sensors import Camera, srgb_decode

SIZE_PX, RGB_GSD, DEM_GSD, HSI_GSD = 256, 0.5, 1.0, 2.0


def _run(preset: str, seed: int, out: Path) -> dict:
    code = cli.main(["simulate", "--preset", preset, "--seed", str(seed), "--size-px",
                     str(SIZE_PX), "--rgb-gsd-m", str(RGB_GSD), "--dem-gsd-m", str(DEM_GSD),
                     "--hsi-gsd-m", str(HSI_GSD), "--labels-per-class", "15",
                     "--output-dir", str(out)])
    assert code == 0
    return {p.name: p for p in out.iterdir()}


class Survey:
    def __init__(self, preset: str, seed: int, folder: Path) -> None:
        self.files = _run(preset, seed, folder)
        self.folder = folder
        self.preset = get_preset(preset)
        self.scene = generate_scene(SimulationConfig(preset, seed=seed, size_px=SIZE_PX,
                                                     rgb_gsd_m=RGB_GSD, dem_gsd_m=DEM_GSD,
                                                     hsi_gsd_m=HSI_GSD, labels_per_class=15))
        with rasterio.open(folder / "rgb.tif") as src:
            self.rgb = src.read()
            self.rgb_tags = src.tags()
        with rasterio.open(folder / "dem.tif") as src:
            self.dem = src.read(1).astype(np.float64)
        with rasterio.open(folder / "hsi.tif") as src:
            self.hsi = src.read()
            self.hsi_tags = src.tags()
            self.good = np.array([src.tags(i)["bad_band"] == "0" for i in range(1, src.count + 1)])
        with rasterio.open(folder / "truth.tif") as src:
            self.truth = src.read(1)
        self.wl, self.fwhm = read_wavelengths(folder / "hsi.tif")

    def illumination(self, tags: dict, gsd_m: float, dem: np.ndarray) -> np.ndarray:
        """Lambertian direct + skylight factor relative to flat ground (no cast shadows)."""
        az, el = np.radians(float(tags["SUN_AZIMUTH_DEG"])), np.radians(float(tags["SUN_ELEVATION_DEG"]))
        dzdr, dzdc = np.gradient(dem, gsd_m)
        nx, ny, nz = -dzdc, dzdr, np.ones_like(dem)  # rows run south: dz/dy_north = -dz/drow
        norm = np.sqrt(nx**2 + ny**2 + nz**2)
        cos_i = (nx * np.sin(az) * np.cos(el) + ny * np.cos(az) * np.cos(el) + nz * np.sin(el)) / norm
        d = self.preset.diffuse_fraction
        return (1 - d) * np.clip(cos_i, 0, None) / np.sin(el) + d * (1 + 1 / norm) / 2

    def unmixed(self, margin_px: int) -> np.ndarray:
        """Base pixels of one class with no mixing of any kind within ``margin_px``."""
        c = self.scene.composition
        clean = (c.beta == 0) & (c.ramp == 0)
        same = ndimage.minimum_filter(c.own, 2 * margin_px + 1) == ndimage.maximum_filter(
            c.own, 2 * margin_px + 1)
        return ndimage.minimum_filter(clean & same, 2 * margin_px + 1, mode="constant", cval=0)


@pytest.fixture(scope="module")
def earth(tmp_path_factory) -> Survey:
    return Survey("earth_carbonation", 2, tmp_path_factory.mktemp("earth"))


@pytest.fixture(scope="module")
def mars(tmp_path_factory) -> Survey:
    return Survey("mars_analogue", 2, tmp_path_factory.mktemp("mars"))


def _library_in_bands(s: Survey, name: str) -> np.ndarray:
    wl = spectra.WAVELENGTH_NM
    srf = np.exp(-0.5 * ((wl[None, :] - s.wl[:, None]) / (s.fwhm[:, None] / 2.3548)) ** 2)
    srf /= srf.sum(axis=1, keepdims=True)
    return srf @ spectra.spectrum(s.preset.unit(name).spectrum)


def _pure_hsi_pixels(s: Survey) -> tuple[np.ndarray, np.ndarray]:
    """(class index, mask) on the HSI grid: pixels whose every sub-pixel is unmixed, lit."""
    f = int(round(HSI_GSD / RGB_GSD))
    # Widest mixing zone: cover thinning over rock, 1.5 m.
    ok = s.unmixed(margin_px=int(np.ceil(1.5 / RGB_GSD)))
    n = s.hsi.shape[1]
    ok_h = ok[: n * f, : n * f].reshape(n, f, n, f).all(axis=(1, 3))
    cls = s.scene.composition.own[f // 2:: f, f // 2:: f][:n, :n]
    dem_h = s.dem.reshape(n, 2, n, 2).mean(axis=(1, 3))
    lit = s.illumination(s.hsi_tags, HSI_GSD, dem_h) > 0.6
    return cls, ok_h & lit & np.isfinite(s.hsi[0])


@pytest.mark.parametrize("which", ["earth", "mars"])
def test_pure_hsi_pixels_correlate_with_library_spectrum(which, request):
    s: Survey = request.getfixturevalue(which)
    cls, mask = _pure_hsi_pixels(s)
    names = s.preset.class_names()
    tested = 0
    for k, name in enumerate(names):
        if name == "water":
            continue  # ~2 % reflectance: correlation measures the noise floor, not the spectrum
        m = mask & (cls == k)
        if m.sum() == 0:
            continue
        ref = _library_in_bands(s, name)[s.good]
        pix = s.hsi[:, m][s.good]
        r = np.array([np.corrcoef(pix[:, j], ref)[0, 1] for j in range(pix.shape[1])])
        assert r.min() > 0.95, f"{which} {name}: r from {r.min():.3f} over {r.size} pixels"
        tested += 1
    assert tested >= 5, f"only {tested} classes had pure, lit HSI pixels"


@pytest.mark.parametrize("which", ["earth", "mars"])
def test_shaded_slopes_are_darker_in_rgb_and_hsi(which, request):
    s: Survey = request.getfixturevalue(which)
    c = s.scene.composition
    # RGB: within each unmixed class, brightness follows the illumination of the RGB sun.
    ill_dem = s.illumination(s.rgb_tags, DEM_GSD, s.dem)
    ill = ndimage.zoom(ill_dem, RGB_GSD and DEM_GSD / RGB_GSD, order=1, grid_mode=True,
                       mode="nearest")
    lin = srgb_decode(s.rgb.astype(np.float64) / 255.0).mean(axis=0)
    ok = s.unmixed(2)
    ratios = []
    for k in range(len(s.preset.classes)):
        m = ok & (c.own == k) & (lin < 0.95)
        if m.sum() < 200:
            continue
        lo, hi = m & (ill < 0.8), m & (ill > 1.05)
        if lo.sum() < 20 or hi.sum() < 20:
            continue
        ratios.append(lin[lo].mean() / lin[hi].mean())
        assert np.corrcoef(ill[m], lin[m])[0, 1] > 0.5
    assert ratios and max(ratios) < 0.85
    # HSI: same, with the HSI sun.
    cls, mask = _pure_hsi_pixels(s)
    n = s.hsi.shape[1]
    dem_h = s.dem.reshape(n, 2, n, 2).mean(axis=(1, 3))
    ill_h = s.illumination(s.hsi_tags, HSI_GSD, dem_h)
    bright = np.nanmean(s.hsi[s.good], axis=0)
    f = int(round(HSI_GSD / RGB_GSD))
    pure_h = s.unmixed(1)[: n * f, : n * f].reshape(n, f, n, f).all(axis=(1, 3))
    checked = 0
    for k in range(len(s.preset.classes)):
        m = (cls == k) & np.isfinite(bright) & pure_h
        if m.sum() < 10 or np.ptp(ill_h[m]) < 0.2:
            continue
        assert np.corrcoef(ill_h[m], bright[m])[0, 1] > 0.5
        checked += 1
    assert checked >= 1


def test_rgb_of_pure_unit_matches_camera_integral(earth: Survey):
    s = earth
    tags = s.rgb_tags
    exposure = float(tags["EXPOSURE"])
    assert float(tags["HAZE_REFLECTANCE_550NM"]) == 0.0
    wl = spectra.WAVELENGTH_NM
    el = float(tags["SUN_ELEVATION_DEG"])
    atm = Atmosphere("earth", float(tags["AEROSOL_OPTICAL_DEPTH_550NM"]), 0.0, 0.0)
    irradiance = solar_irradiance(wl) * atm.transmittance(wl, 1 + 1 / np.sin(np.radians(el)))
    resp = Camera().response(wl) * irradiance[None, :]
    ill_dem = s.illumination(tags, DEM_GSD, s.dem)
    ill = ndimage.zoom(ill_dem, DEM_GSD / RGB_GSD, order=1, grid_mode=True, mode="nearest")
    lin = srgb_decode(s.rgb.astype(np.float64) / 255.0)
    ok = s.unmixed(3) & (np.abs(ill - 1.0) < 0.1)
    checked = 0
    for k, name in enumerate(s.preset.class_names()):
        m = ok & (s.scene.composition.own == k)
        if m.sum() < 100:
            continue
        refl = spectra.spectrum(s.preset.unit(name).spectrum)
        expected = exposure * np.trapz(resp * refl, wl, axis=1) / np.trapz(resp, wl, axis=1)
        if expected.max() > 0.9:
            continue  # would saturate on sunlit slopes
        measured = np.median(lin[:, m] / ill[m], axis=1)
        # 8-bit sRGB quantisation is < 1 % of the value here; noise averages out in the median.
        np.testing.assert_allclose(measured, expected, rtol=0.04, atol=0.004,
                                   err_msg=f"class {name}")
        checked += 1
    assert checked >= 4


def test_labels_only_in_labelled_zone_with_truth_class(earth: Survey):
    import geopandas as gpd

    labels = gpd.read_file(earth.folder / "labels.gpkg", layer="labels")
    zone = gpd.read_file(earth.folder / "labels.gpkg", layer="labelled_zone")
    names = earth.preset.class_names()
    assert set(labels["mineral"]) == set(names)
    assert (labels.groupby("mineral").size() == 15).all()
    zone_geom = zone.geometry.iloc[0]
    assert labels.geometry.within(zone_geom).all()
    assert zone_geom.area < 0.7 * (SIZE_PX * RGB_GSD) ** 2  # labels are not everywhere
    with rasterio.open(earth.folder / "truth.tif") as src:
        under = np.array([v[0] for v in src.sample([(p.x, p.y) for p in labels.geometry])])
    assert [names[i] for i in under] == list(labels["mineral"])
    assert (under == labels["class_id"].to_numpy()).all()


def test_hsi_is_nodata_outside_footprint(earth: Survey):
    import geopandas as gpd
    from cmkd_plugin.engine.simulator.vectors import contains_xy

    foot = gpd.read_file(earth.folder / "hsi_footprint.gpkg").geometry.iloc[0]
    with rasterio.open(earth.folder / "hsi.tif") as src:
        assert np.isnan(src.nodata)
        rows, cols = np.mgrid[0: src.height, 0: src.width]
        x, y = src.transform * (cols + 0.5, rows + 0.5)
    inside = contains_xy(foot, x, y)
    inner = contains_xy(foot.buffer(-HSI_GSD), x, y)
    valid = np.isfinite(earth.hsi).all(axis=0)
    assert not valid[~inside].any()
    assert valid[inner].all()
    assert 0.3 < inside.mean() < 0.9


def test_grids_metadata_and_styles(earth: Survey):
    extent = SIZE_PX * RGB_GSD
    for name, gsd, count, dtype in (("rgb.tif", RGB_GSD, 3, "uint8"), ("dem.tif", DEM_GSD, 1, "float32"),
                                    ("hsi.tif", HSI_GSD, 224, "float32"),
                                    ("truth.tif", RGB_GSD, 1, "uint8")):
        with rasterio.open(earth.folder / name) as src:
            assert src.crs.to_epsg() == 32640
            assert src.res == (gsd, gsd)
            assert src.count == count and src.dtypes[0] == dtype
            assert src.bounds.right - src.bounds.left == pytest.approx(extent)
    with rasterio.open(earth.folder / "truth.tif") as src:
        assert src.nodata == 255 and src.descriptions == ("class",)
        cmap = src.colormap(1)
        assert cmap[0][:3] == tuple(int(earth.preset.classes[0].colour[i:i + 2], 16) for i in (1, 3, 5))
    # Category names live in the PAM sidecar (read here as XML: GDAL in a process that already
    # opened the file through rasterio does not reload it).
    import xml.etree.ElementTree as ET

    cats = [c.text or "" for c in ET.parse(earth.folder / "truth.tif.aux.xml").iter("Category")]
    assert cats[:12] == earth.preset.class_names()
    qml = (earth.folder / "truth.qml").read_text()
    assert 'label="green_vegetation"' in qml and 'type="paletted"' in qml
    assert earth.wl[0] == 400.0 and earth.wl[-1] == 2500.0
    assert np.all(np.diff(earth.wl) > 0) and np.all(earth.fwhm > 0)
    with rasterio.open(earth.folder / "hsi.tif") as src:
        assert src.descriptions[0] == "400.0 nm"
        assert src.tags(1)["wavelength_units"] == "Nanometers"
    # Deep water-vapour bands are flagged, the clear windows are not.
    assert not earth.good[np.argmin(np.abs(earth.wl - 1380))]
    assert earth.good[np.argmin(np.abs(earth.wl - 1650))]


def test_mars_preset_is_in_a_mars_crs(mars: Survey):
    with rasterio.open(mars.folder / "rgb.tif") as src:
        wkt = src.crs.to_wkt()
    assert "Mars" in wkt and "Equirectangular" in wkt
    assert json.loads(json.dumps(mars.preset.class_names())) == [c.name for c in mars.preset.classes]


def test_acquisition_options_shift_the_rgb_and_are_checked():
    """A lower sun, a white-balance error and more noise (the new sites of the adaptation
    benchmark) change the RGB the expected way and are recorded in its tags; the defaults are the
    preset's conditions."""
    from cmkd_plugin.engine.errors import InputError

    base = SimulationConfig("earth_carbonation", seed=4, size_px=64, hsi_bands=16, hsi_gsd_m=1.0)
    plain = generate_scene(base)
    gain = generate_scene(SimulationConfig(**{**base.__dict__, "rgb_gain": (1.0, 1.0, 0.7)}))
    noisy = generate_scene(SimulationConfig(**{**base.__dict__, "noise_scale": 4.0}))
    low_sun = generate_scene(SimulationConfig(**{**base.__dict__, "sun_elevation_deg": 20.0}))
    assert plain.rgb_tags["SUN_ELEVATION_DEG"] == "45" and "NOISE_SCALE" not in plain.rgb_tags
    blue = lambda s: s.rgb[2].astype(float).mean()  # noqa: E731
    assert blue(gain) < blue(plain) - 5
    assert np.array_equal(gain.rgb[0], plain.rgb[0])  # the red channel is untouched
    assert gain.rgb_tags["WHITE_BALANCE_GAIN_RGB"] == "1 1 0.7"
    # Same scene, more noise: larger pixel-to-pixel differences.
    rough = lambda s: np.abs(np.diff(s.rgb[1].astype(float), axis=1)).mean()  # noqa: E731
    assert rough(noisy) > rough(plain)
    assert low_sun.rgb_tags["SUN_ELEVATION_DEG"] == "20" and low_sun.hsi_tags["SUN_ELEVATION_DEG"] == "20"
    assert not np.array_equal(low_sun.rgb, plain.rgb)
    for bad in ({"sun_elevation_deg": 0.0}, {"rgb_gain": (1.0, 0.0, 1.0)}, {"noise_scale": -1.0}):
        with pytest.raises(InputError):
            generate_scene(SimulationConfig(**{**base.__dict__, **bad}))
