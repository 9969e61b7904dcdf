"""Aligned window reading: any CRS / resolution / extent onto the reference grid, with masks."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.grid import Grid
from cmkd_plugin.engine.geo.read import (
    CLASS_CONFIG,
    DEM_CONFIG,
    HSI_CONFIG,
    RGB_CONFIG,
    AlignedReader,
    AlignedStack,
    ReaderConfig,
)
from cmkd_plugin.engine.geo.tiling import PixelWindow, StitchPlan, TilingConfig

UTM = "EPSG:32633"
# reference grid: 60 x 40 pixels of 10 m in UTM 33N (near 15 E, 45 N)
X0, Y0, RES = 500_000.0, 5_000_000.0, 10.0


def write(path: Path, data: np.ndarray, crs: str | None, transform, nodata=None, **kw) -> Path:
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=data.dtype.name, transform=transform, nodata=nodata, **kw)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A smooth (linear) field of UTM coordinates: bilinear resampling reproduces it."""
    return 100.0 + 0.05 * (x - X0) - 0.03 * (y - Y0)


def reference(tmp_path: Path, width=60, height=40) -> Path:
    rgb = np.random.default_rng(1).integers(1, 255, size=(3, height, width), dtype=np.uint8)
    return write(tmp_path / "rgb.tif", rgb, UTM, from_origin(X0, Y0, RES, RES))


def grid_centres(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    cols, rows = np.meshgrid(np.arange(grid.width) + 0.5, np.arange(grid.height) + 0.5)
    x, y = grid.transform * (cols, rows)
    return np.asarray(x), np.asarray(y)


def field_raster(tmp_path: Path, name: str, crs: str, res: float, margin_m: float = 200.0) -> Path:
    """The linear UTM field sampled at the pixel centres of a raster in ``crs``."""
    to_crs = Transformer.from_crs(UTM, crs, always_xy=True)
    to_utm = Transformer.from_crs(crs, UTM, always_xy=True)
    xs, ys = to_crs.transform([X0 - margin_m, X0 + 600 + margin_m],
                              [Y0 + margin_m, Y0 - 400 - margin_m])
    west, east = min(xs), max(xs)
    south, north = min(ys), max(ys)
    width = int(np.ceil((east - west) / res))
    height = int(np.ceil((north - south) / res))
    transform = from_origin(west, north, res, res)
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    px, py = transform * (cols, rows)
    ux, uy = to_utm.transform(np.asarray(px), np.asarray(py))
    return write(tmp_path / name, field(ux, uy).astype(np.float32), crs, transform,
                 nodata=-9999.0)


def test_same_grid_reads_exact_scaled_values_and_nodata(tmp_path: Path) -> None:
    ref = reference(tmp_path)
    with rasterio.open(ref) as ds:
        raw = ds.read()
    dem = np.arange(40 * 60, dtype=np.float32).reshape(40, 60)
    dem[5, 7] = -1.0
    dem_path = write(tmp_path / "dem.tif", dem, UTM, from_origin(X0, Y0, RES, RES), nodata=-1.0)
    grid = Grid.from_raster(ref)
    window = PixelWindow(3, 2, 20, 10)
    with AlignedReader(ref, grid, RGB_CONFIG) as rgb, AlignedReader(dem_path, grid, DEM_CONFIG) as d:
        w = rgb.read(window)
        assert w.data.dtype == np.float32 and w.data.shape == (3, 10, 20)
        assert np.allclose(w.data, raw[:, 2:12, 3:23] / 255.0)
        assert w.valid.all()
        dw = d.read(window)
        assert not dw.valid[3, 4] and np.isnan(dw.data[0, 3, 4])
        assert dw.valid.sum() == 10 * 20 - 1
        assert np.array_equal(dw.data[0][dw.valid], dem[2:12, 3:23][dw.valid])


def test_shifted_extent_reads_by_whole_pixels_and_outside_is_invalid(tmp_path: Path) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    # a DEM of the same resolution that starts 10 pixels right and 5 pixels down
    dem = np.random.default_rng(2).random((50, 80)).astype(np.float32)
    path = write(tmp_path / "dem.tif", dem, UTM, from_origin(X0 + 100, Y0 - 50, RES, RES))
    with AlignedReader(path, grid, DEM_CONFIG) as reader:
        assert reader._vrt is None  # exact path, no resampling
        w = reader.read(grid.full_window)
    assert not w.valid[:5].any() and not w.valid[:, :10].any()
    assert w.valid[5:, 10:].all()
    assert np.array_equal(w.data[0, 5:, 10:], dem[:35, :50])


@pytest.mark.parametrize("crs,res", [("EPSG:3857", 7.0), ("EPSG:4326", 0.00008), (UTM, 25.0)])
def test_other_crs_and_resolution_are_warped_onto_the_grid(tmp_path: Path, crs: str, res: float) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    src = field_raster(tmp_path, "field.tif", crs, res)
    x, y = grid_centres(grid)
    truth = field(x, y)
    with AlignedReader(src, grid, ReaderConfig(role="Field", kind="elevation")) as reader:
        assert reader._vrt is not None
        whole = reader.read(grid.full_window)
        assert whole.valid.all()
        # a linear field survives bilinear warping to within a small fraction of its range
        assert np.abs(whole.data[0] - truth).max() < 0.002 * np.ptp(truth)
        # window reads are the same as cutting the whole read
        plan = StitchPlan(grid.width, grid.height, TilingConfig(tile_size_px=16, overlap_px=4))
        for task in plan:
            part = reader.read(task.read)
            assert np.allclose(part.data, whole.data[(slice(None),) + task.read.slices], atol=1e-4)


def test_warped_read_equals_pre_aligned_input(tmp_path: Path) -> None:
    """What users would do by hand (gdalwarp onto the grid) gives the same values."""
    ref = reference(tmp_path)
    grid = Grid.from_raster(ref)
    src = field_raster(tmp_path, "field3857.tif", "EPSG:3857", 13.0)
    pre = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
    with rasterio.open(src) as ds:
        reproject(rasterio.band(ds, 1), pre, dst_transform=grid.transform, dst_crs=grid.crs,
                  resampling=Resampling.bilinear, dst_nodata=np.nan)
    pre_path = write(tmp_path / "pre.tif", pre, UTM, grid.transform, nodata=np.nan)
    cfg = ReaderConfig(role="Field", kind="elevation")
    with AlignedReader(src, grid, cfg) as a, AlignedReader(pre_path, grid, cfg) as b:
        wa, wb = a.read(grid.full_window), b.read(grid.full_window)
    assert np.array_equal(wa.valid, wb.valid)
    assert np.allclose(wa.data[0], wb.data[0], atol=1e-3)


def test_partial_coverage_marks_outside_source_extent_invalid(tmp_path: Path) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    # an HSI at 20 m in EPSG:3857 covering only the western half of the grid
    to_merc = Transformer.from_crs(UTM, "EPSG:3857", always_xy=True)
    (w, e), (n, s) = to_merc.transform([X0 - 100, X0 + 300], [Y0 + 100, Y0 - 500])
    w_m, e_m = min(w, e), max(w, e)
    n_m = max(n, s)
    transform = from_origin(w_m, n_m, 20.0, 20.0)
    cube = np.full((4, 60, int((e_m - w_m) / 20)), 1234, dtype=np.uint16)
    path = write(tmp_path / "hsi.tif", cube, "EPSG:3857", transform, nodata=0)
    with AlignedReader(path, grid, HSI_CONFIG) as reader:
        win = reader.read(grid.full_window)
        assert 0.4 < reader.overlap_fraction < 0.6
    assert win.valid[:, :25].all() and not win.valid[:, 35:].any()
    assert np.allclose(win.data[:, win.valid], 0.1234)  # uint16 reflectance x 10000
    assert np.isnan(win.data[:, ~win.valid]).all()


def test_nearest_keeps_class_values(tmp_path: Path) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    to_merc = Transformer.from_crs(UTM, "EPSG:3857", always_xy=True)
    (w, e), (n, s) = to_merc.transform([X0 - 50, X0 + 650], [Y0 + 50, Y0 - 450])
    classes = np.random.default_rng(3).choice(np.array([1, 5, 9], dtype=np.uint8),
                                              size=(100, 130))
    transform = from_origin(min(w, e), max(n, s), (abs(e - w)) / 130, abs(n - s) / 100)
    path = write(tmp_path / "classes.tif", classes, "EPSG:3857", transform, nodata=255)
    with AlignedReader(path, grid, CLASS_CONFIG) as reader:
        win = reader.read(grid.full_window)
    assert win.valid.all()
    assert set(np.unique(win.data)) <= {1.0, 5.0, 9.0}
    assert len(set(np.unique(win.data))) == 3


def test_stack_combines_nodata_of_every_required_modality(tmp_path: Path) -> None:
    ref = reference(tmp_path)
    grid = Grid.from_raster(ref)
    rgb = np.full((3, 40, 60), 100, dtype=np.uint8)
    rgb[:, 1, 1] = 0
    rgb_path = write(tmp_path / "rgb0.tif", rgb, UTM, grid.transform, nodata=0)
    dem = np.ones((40, 60), dtype=np.float32)
    dem[2, 2] = np.nan
    dem_path = write(tmp_path / "dem.tif", dem, UTM, grid.transform)  # NaN without declared nodata
    readers = {"rgb": AlignedReader(rgb_path, grid, RGB_CONFIG),
               "dem": AlignedReader(dem_path, grid, DEM_CONFIG)}
    with AlignedStack(readers) as stack:
        data, valid = stack.read(PixelWindow(0, 0, 5, 5))
    assert set(data) == {"rgb", "dem"}
    assert not valid[1, 1] and not valid[2, 2] and valid.sum() == 23
    with AlignedStack({"rgb": AlignedReader(rgb_path, grid, RGB_CONFIG),
                       "dem": AlignedReader(dem_path, grid, DEM_CONFIG)},
                      required=("rgb",)) as stack:
        _, valid = stack.read(PixelWindow(0, 0, 5, 5))
    assert valid.sum() == 24


def test_rasters_that_do_not_overlap_name_both_files_and_bounds(tmp_path: Path) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    far = write(tmp_path / "far_dem.tif", np.ones((10, 10), np.float32), "EPSG:4326",
                from_origin(-70.0, -30.0, 0.01, 0.01))
    with pytest.raises(InputError) as err:
        AlignedReader(far, grid, DEM_CONFIG)
    msg = str(err.value)
    assert "far_dem.tif" in msg and "rgb.tif" in msg and "EPSG:32633" in msg
    assert "500000" in msg  # the reference bounds, in the grid's CRS


def test_raster_without_crs_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "nocrs.tif", np.ones((3, 5, 5), np.uint8), None,
                 from_origin(X0, Y0, RES, RES))
    with pytest.raises(InputError, match="no coordinate reference system; assign one"):
        Grid.from_raster(path)
    grid = Grid.from_raster(reference(tmp_path))
    with pytest.raises(InputError, match="nocrs.tif"):
        AlignedReader(path, grid, RGB_CONFIG)


def test_band_counts_are_checked_with_a_fix(tmp_path: Path) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    four = write(tmp_path / "x.tif", np.ones((4, 40, 60), np.uint8), UTM, grid.transform,
                 photometric="MINISBLACK")  # four data bands, not RGB + alpha
    with pytest.raises(InputError) as err:
        AlignedReader(four, grid, RGB_CONFIG)
    assert str(err.value) == ("RGB must have 3 bands; 'x.tif' has 4 — keep only the red, green "
                              "and blue bands (e.g. GDAL's Translate with bands 1, 2, 3); a fourth "
                              "band marked as alpha is read as the mask.")
    one = write(tmp_path / "one.tif", np.ones((1, 40, 60), np.uint8), UTM, grid.transform)
    with pytest.raises(InputError, match="has 1"):
        AlignedReader(one, grid, RGB_CONFIG)
    # choosing three bands of the four works
    cfg = ReaderConfig(role="RGB", kind="rgb", bands=(3, 2, 1), expected_bands=3)
    with AlignedReader(four, grid, cfg) as reader:
        assert reader.read(PixelWindow(0, 0, 2, 2)).data.shape == (3, 2, 2)
    with pytest.raises(InputError, match="do not exist"):
        AlignedReader(four, grid, ReaderConfig(role="RGB", bands=(1, 2, 7)))


def test_missing_file_is_named(tmp_path: Path) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    with pytest.raises(InputError, match="does not exist"):
        AlignedReader(tmp_path / "nope.tif", grid, DEM_CONFIG)


def test_extent_to_window(tmp_path: Path) -> None:
    grid = Grid.from_raster(reference(tmp_path))
    win = grid.window_for_bounds((X0 + 95, Y0 - 205, X0 + 300, Y0 - 100))
    assert win == PixelWindow(9, 10, 21, 11)
    # the same area given in WGS 84 maps onto (about) the same pixels
    to_geo = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    (w, e), (s, n) = to_geo.transform([X0 + 100, X0 + 300], [Y0 - 200, Y0 - 100])
    win_geo = grid.window_for_bounds((w, s, e, n), CRS.from_epsg(4326))
    assert abs(win_geo.col_off - 10) <= 1 and abs(win_geo.width - 20) <= 2
    with pytest.raises(InputError, match="does not overlap"):
        grid.window_for_bounds((0, 0, 10, 10))
    with pytest.raises(InputError, match="empty"):
        grid.window_for_bounds((X0 + 10, Y0 - 10, X0 + 10, Y0))


def test_window_read_of_a_huge_raster_reads_only_the_window(tmp_path: Path) -> None:
    """A 40000 x 40000 float32 raster (6.4 GB if read whole) warped from another CRS."""
    path = tmp_path / "huge.tif"
    with rasterio.open(path, "w", driver="GTiff", width=40_000, height=40_000, count=1,
                       dtype="float32", crs="EPSG:3857", transform=from_origin(1_600_000, 5_700_000, 1, 1),
                       tiled=True, blockxsize=256, blockysize=256, SPARSE_OK=True,
                       compress="deflate", nodata=-1):
        pass  # sparse: no block written, reads give nodata
    with rasterio.open(path) as ds:
        ref_path = write(tmp_path / "ref.tif", np.ones((3, 64, 64), np.uint8), "EPSG:32633",
                         from_origin(*_utm_of(ds), 2.0, 2.0))
    grid = Grid.from_raster(ref_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with AlignedReader(path, grid, DEM_CONFIG) as reader:
        win = reader.read(PixelWindow(0, 0, 64, 64))
    elapsed = time.perf_counter() - start
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert win.data.shape == (1, 64, 64) and not win.valid.any()
    assert elapsed < 5.0 and grown_mb < 200


def _utm_of(ds) -> tuple[float, float]:
    # a point well inside the Mercator raster, in UTM 33N
    to_utm = Transformer.from_crs(ds.crs.to_string(), "EPSG:32633", always_xy=True)
    x, y = to_utm.transform(ds.bounds.left + 20_000, ds.bounds.top - 20_000)
    return float(x), float(y)


@pytest.mark.parametrize("mask", ["alpha", "internal"])
@pytest.mark.parametrize("warped", [False, True])
def test_an_alpha_band_or_internal_mask_masks_the_rgb(tmp_path: Path, mask: str, warped: bool) -> None:
    # Orthomosaics mark their borders with an alpha band (RGBA) or an internal mask over black
    # pixels: those pixels are nodata, read directly on the grid or warped onto another one.
    grid = Grid.from_raster(reference(tmp_path))
    rgb = np.full((3, 40, 60), 120, np.uint8)
    rgb[:, :, :10] = 0
    alpha = np.full((40, 60), 255, np.uint8)
    alpha[:, :10] = 0
    path = tmp_path / f"{mask}.tif"
    if mask == "alpha":
        write(path, np.concatenate([rgb, alpha[None]]), UTM, grid.transform, photometric="RGB")
        with rasterio.open(path, "r+") as ds:
            ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    else:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            write(path, rgb, UTM, grid.transform)
            with rasterio.open(path, "r+") as ds:
                ds.write_mask(alpha)
    target = grid
    if warped:  # half a pixel east: no longer on the grid, read through the warper
        t = grid.transform
        target = Grid(grid.crs, from_origin(t.c + RES / 2, t.f, RES, RES), 50, 40)
    with AlignedReader(path, target, RGB_CONFIG) as reader:
        assert reader.bands == (1, 2, 3)
        win = reader.read(target.full_window)
    assert win.data.shape == (3, 40, target.width)
    # Pixel centres in source columns; the bilinear warp leaves masked source pixels out of
    # its kernel, so a pixel is valid once its centre is past the last masked pixel's (9.5).
    centres = np.arange(target.width) + 0.5 + (0.5 if warped else 0.0)
    assert (win.valid == (centres > 9.5)[None, :]).all()
    np.testing.assert_allclose(win.data[:, win.valid], 120 / 255, rtol=1e-5)
