"""The reference grid every modality is read onto, and checks on the rasters that define it."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from affine import Affine
from rasterio.coords import BoundingBox
from rasterio.crs import CRS

from ..errors import InputError
from .tiling import PixelWindow


def display_name(path: str | os.PathLike[str]) -> str:
    """The file name shown in messages (the full path is too long for a dialog line)."""
    return Path(str(path)).name or str(path)


def open_raster(path: str | os.PathLike[str], role: str) -> Any:
    """Open a raster with rasterio; InputError saying which input cannot be read and why."""
    import rasterio
    from rasterio.errors import RasterioIOError

    path = str(path)
    if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
        raise InputError(f"{role} raster '{path}' does not exist; choose an existing file.")
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(
            f"{role} raster '{display_name(path)}' cannot be read as a raster ({exc}); "
            "give a GeoTIFF, ENVI or another GDAL raster."
        ) from None


def require_crs(dataset: Any, role: str) -> CRS:
    """The dataset's CRS; InputError asking to assign one when it has none."""
    if dataset.crs is None or not dataset.crs.to_wkt():
        raise InputError(
            f"{role} raster '{display_name(dataset.name)}' has no coordinate reference system; "
            "assign one (QGIS: Raster > Projections > Assign Projection, or gdal_edit.py -a_srs)."
        )
    if dataset.transform == Affine.identity() and not dataset.gcps[0]:
        raise InputError(
            f"{role} raster '{display_name(dataset.name)}' is not georeferenced (identity "
            "transform); georeference it before use."
        )
    return dataset.crs


def require_band_count(dataset: Any, role: str, expected: int, hint: str = "") -> None:
    """InputError when ``dataset`` does not have exactly ``expected`` bands.

    Example message: "RGB must have 3 bands; 'x.tif' has 4 — choose the three visible bands".
    """
    if dataset.count != expected:
        raise InputError(
            f"{role} must have {expected} band{'s' if expected != 1 else ''}; "
            f"'{display_name(dataset.name)}' has {dataset.count}"
            + (f" — {hint}" if hint else "") + "."
        )


#: Metres per degree on the equator (geographic grids get an approximate ground pixel size).
M_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, affine transform (pixel -> CRS) and size in pixels.

    Attributes:
        crs: coordinate reference system.
        transform: affine transform of the top-left corner of pixel (0, 0).
        width: columns.
        height: rows.
        name: file the grid was taken from (for messages), may be empty.
    """

    crs: CRS
    transform: Affine
    width: int
    height: int
    name: str = ""

    @classmethod
    def from_raster(cls, path: str | os.PathLike[str], role: str = "Reference") -> "Grid":
        """The grid of a raster file (RGB by default); InputError if it has no CRS."""
        with open_raster(path, role) as ds:
            require_crs(ds, role)
            return cls.from_dataset(ds)

    @classmethod
    def from_dataset(cls, dataset: Any) -> "Grid":
        return cls(CRS.from_user_input(dataset.crs), dataset.transform, dataset.width,
                   dataset.height, display_name(dataset.name))

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size ``(x, y)`` in CRS units (positive)."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def pixel_size_m(self) -> float:
        """Ground size of a pixel in metres, the smaller side: the CRS units scaled to metres, or
        on a geographic CRS degrees (of longitude at the grid's middle latitude) times the
        metres of a degree on the equator: approximate, but what slopes and the ratio of a
        teacher's pixel to the RGB's need."""
        rx, ry = self.res
        if self.crs.is_geographic:
            lat = (self.bounds.bottom + self.bounds.top) / 2.0
            return min(rx * max(math.cos(math.radians(lat)), 1e-3), ry) * M_PER_DEGREE
        factor = self.crs.linear_units_factor
        return min(rx, ry) * (float(factor[1]) if factor else 1.0)

    def coarsened(self, factor: int, partial: bool = False) -> "Grid":
        """The grid with ``factor`` times larger pixels and the same origin: whole blocks only,
        or with ``partial`` also the last partial block of each row and column."""
        width, height = ((-(-self.width // factor), -(-self.height // factor)) if partial
                         else (self.width // factor, self.height // factor))
        return Grid(self.crs, self.transform * Affine.scale(factor), width, height, self.name)

    @property
    def bounds(self) -> BoundingBox:
        from rasterio.transform import array_bounds

        west, south, east, north = array_bounds(self.height, self.width, self.transform)
        return BoundingBox(west, south, east, north)

    @property
    def full_window(self) -> PixelWindow:
        return PixelWindow(0, 0, self.width, self.height)

    def window_transform(self, window: PixelWindow) -> Affine:
        """Transform of the top-left pixel of ``window``."""
        return self.transform * Affine.translation(window.col_off, window.row_off)

    def subgrid(self, window: PixelWindow) -> "Grid":
        """The grid of ``window`` (same CRS and resolution)."""
        return Grid(self.crs, self.window_transform(window), window.width, window.height, self.name)

    def window_bounds(self, window: PixelWindow) -> BoundingBox:
        return self.subgrid(window).bounds

    def window_for_bounds(self, bounds: tuple[float, float, float, float],
                          crs: CRS | str | None = None, what: str = "Extent") -> PixelWindow:
        """Pixel window of this grid covering ``(west, south, east, north)`` (in ``crs``).

        Clipped to the grid; InputError when the bounds miss the grid or are empty.
        """
        from rasterio.warp import transform_bounds

        west, south, east, north = bounds
        if crs is not None and CRS.from_user_input(crs) != self.crs:
            west, south, east, north = transform_bounds(crs, self.crs, west, south, east, north,
                                                        densify_pts=21)
        if not (east > west and north > south):
            raise InputError(f"{what} is empty ({west}, {south}, {east}, {north}); draw a larger area.")
        inv = ~self.transform
        cols, rows = zip(*(inv * (x, y) for x in (west, east) for y in (south, north)))
        c0 = max(int(math.floor(min(cols) + 1e-9)), 0)
        r0 = max(int(math.floor(min(rows) + 1e-9)), 0)
        c1 = min(int(math.ceil(max(cols) - 1e-9)), self.width)
        r1 = min(int(math.ceil(max(rows) - 1e-9)), self.height)
        if c1 <= c0 or r1 <= r0:
            b = self.bounds
            raise InputError(
                f"{what} ({west:.6g}, {south:.6g}, {east:.6g}, {north:.6g}) does not overlap "
                f"'{self.name}' ({b.left:.6g}, {b.bottom:.6g}, {b.right:.6g}, {b.top:.6g}) "
                f"in {crs_label(self.crs)}; choose an area inside the raster."
            )
        return PixelWindow(c0, r0, c1 - c0, r1 - r0)

    def to_dict(self) -> dict[str, Any]:
        return {"crs": self.crs.to_string(), "transform": list(self.transform)[:6],
                "width": self.width, "height": self.height, "name": self.name}


def crs_label(crs: CRS) -> str:
    """A short human name for a CRS ("EPSG:32633" or its WKT name)."""
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    try:
        from pyproj import CRS as ProjCRS

        return ProjCRS.from_wkt(crs.to_wkt()).name
    except Exception:  # noqa: BLE001 - only a label for a message
        return crs.to_string()[:60]


def format_bounds(b: tuple[float, float, float, float]) -> str:
    return f"x {b[0]:.10g} .. {b[2]:.10g}, y {b[1]:.10g} .. {b[3]:.10g}"


def bounds_in_crs(dataset: Any, crs: CRS) -> BoundingBox | None:
    """The dataset's bounds transformed to ``crs`` (None if the transform fails)."""
    from rasterio.warp import transform_bounds

    try:
        b = transform_bounds(dataset.crs, crs, *dataset.bounds, densify_pts=21)
    except Exception:  # noqa: BLE001 - the CRSs may have no common valid area
        return None
    if not all(math.isfinite(v) for v in b):
        return None
    return BoundingBox(*b)


def check_overlap(grid: Grid, dataset: Any, role: str) -> float:
    """Fraction of the grid's area covered by ``dataset``; InputError when it is zero.

    The message names both files and their bounds in the grid's CRS.
    """
    b = bounds_in_crs(dataset, grid.crs)
    g = grid.bounds
    if b is None:
        raise InputError(
            f"{role} raster '{display_name(dataset.name)}' ({crs_label(dataset.crs)}) cannot be "
            f"placed in the CRS of '{grid.name}' ({crs_label(grid.crs)}); check both CRSs."
        )
    w, s = max(b.left, g.left), max(b.bottom, g.bottom)
    e, n = min(b.right, g.right), min(b.top, g.top)
    if e <= w or n <= s:
        raise InputError(
            f"{role} raster '{display_name(dataset.name)}' does not overlap the reference raster "
            f"'{grid.name}'. In {crs_label(grid.crs)}: '{display_name(dataset.name)}' covers "
            f"{format_bounds(b)}; '{grid.name}' covers {format_bounds(g)}. Check that both show "
            "the same site and that their CRSs are right."
        )
    return float((e - w) * (n - s) / ((g.right - g.left) * (g.top - g.bottom)))
