"""A polygon layer as a processing mask, rasterised window by window on a grid.

Classification uses it for the optional ``MASK`` area: pixels outside the polygons are nodata in
every output, and windows that miss the polygons entirely are skipped without being read.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import InputError
from .grid import Grid, crs_label, display_name, format_bounds
from .labels import _polygonal, _repair
from .tiling import PixelWindow


class VectorMask:
    """Polygons reprojected to a grid's CRS; :meth:`read` gives a window's inside pixels."""

    def __init__(self, path: str | os.PathLike[str], grid: Grid, all_touched: bool = False,
                 layer: str | None = None) -> None:
        import geopandas as gpd

        name = display_name(path)
        if not os.path.exists(str(path)):
            raise InputError(f"Mask '{path}' does not exist; choose an existing polygon layer.")
        try:
            gdf = gpd.read_file(str(path), layer=layer) if layer else gpd.read_file(str(path))
        except Exception as exc:  # noqa: BLE001 - fiona raises many kinds
            raise InputError(f"Mask '{name}' cannot be read as a vector layer ({exc}).") from None
        if gdf.crs is None:
            raise InputError(f"Mask '{name}' has no coordinate reference system; assign one.")
        geoms = gdf.geometry[~gdf.geometry.isna() & ~gdf.geometry.is_empty]
        geoms, _ = _repair(geoms)
        polys = [p for p in (_polygonal(g) for g in geoms.to_crs(grid.crs.to_wkt())) if p is not None]
        if not polys:
            raise InputError(f"Mask '{name}' has no polygons; draw the area to process as polygons.")
        self.grid = grid
        self.all_touched = all_touched
        self._polys = polys
        self._bounds = np.array([p.bounds for p in polys])  # minx, miny, maxx, maxy
        b = self._bounds
        total = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
        g = grid.bounds
        if total[2] <= g.left or total[0] >= g.right or total[3] <= g.bottom or total[1] >= g.top:
            raise InputError(
                f"Mask '{name}' does not overlap '{grid.name}'. In {crs_label(grid.crs)} the mask "
                f"covers {format_bounds(total)} and the raster {format_bounds(tuple(g))}."
            )

    def _hits(self, window: PixelWindow) -> np.ndarray:
        w = self.grid.window_bounds(window)
        b = self._bounds
        return np.flatnonzero((b[:, 0] < w.right) & (b[:, 2] > w.left)
                              & (b[:, 1] < w.top) & (b[:, 3] > w.bottom))

    def touches(self, window: PixelWindow) -> bool:
        """Whether any polygon's bounding box meets ``window`` (cheap test to skip windows)."""
        return bool(self._hits(window).size)

    def read(self, window: PixelWindow) -> np.ndarray:
        """bool ``(h, w)``: pixels of ``window`` inside the mask."""
        from rasterio.features import rasterize

        hits = self._hits(window)
        if hits.size == 0:
            return np.zeros((window.height, window.width), dtype=bool)
        out = rasterize(((self._polys[i], 1) for i in hits), out_shape=(window.height, window.width),
                        transform=self.grid.window_transform(window), fill=0, dtype="uint8",
                        all_touched=self.all_touched)
        return out.astype(bool)

    def __enter__(self) -> "VectorMask":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None
