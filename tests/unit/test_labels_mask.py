"""A polygon processing mask rasterised per window, reprojected to the grid."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.grid import Grid
from cmkd_plugin.engine.geo.mask import VectorMask
from cmkd_plugin.engine.geo.tiling import PixelWindow, StitchPlan, TilingConfig

X0, Y0, RES = 500_000.0, 5_000_000.0, 10.0
GRID = Grid(CRS.from_epsg(32633), from_origin(X0, Y0, RES, RES), 80, 50, "rgb.tif")


def test_windows_match_a_whole_rasterisation_and_skip_outside(tmp_path: Path) -> None:
    area = gpd.GeoSeries([box(X0 + 100, Y0 - 300, X0 + 400, Y0 - 100),
                          Point(X0 + 650, Y0 - 250).buffer(60)], crs="EPSG:32633")
    path = tmp_path / "mask.gpkg"
    gpd.GeoDataFrame(geometry=area.to_crs("EPSG:4326")).to_file(path, driver="GPKG")
    mask = VectorMask(path, GRID)
    whole = mask.read(GRID.full_window)
    assert whole[10:30, 10:40].all() and not whole[:8].any()  # the box (edges move in 4326)
    assert whole[25, 65] and not whole[45, 5]
    plan = StitchPlan(80, 50, TilingConfig(16, 4))
    skipped = 0
    for task in plan:
        part = mask.read(task.read)
        assert np.array_equal(part, whole[task.read.slices])
        if not mask.touches(task.read):
            skipped += 1
            assert not part.any()
    assert skipped > 0


def test_mask_errors(tmp_path: Path) -> None:
    far = tmp_path / "far.gpkg"
    gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs="EPSG:4326").to_file(far, driver="GPKG")
    with pytest.raises(InputError, match="does not overlap 'rgb.tif'"):
        VectorMask(far, GRID)
    pts = tmp_path / "pts.gpkg"
    gpd.GeoDataFrame(geometry=[Point(X0 + 5, Y0 - 5)], crs="EPSG:32633").to_file(pts, driver="GPKG")
    with pytest.raises(InputError, match="no polygons"):
        VectorMask(pts, GRID)
    with pytest.raises(InputError, match="does not exist"):
        VectorMask(tmp_path / "none.gpkg", GRID)
