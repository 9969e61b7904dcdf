"""Labels from a point or polygon vector layer to labelled pixels of a :class:`~.grid.Grid`.

Points label the pixel they fall in; polygons label the pixels whose centres they contain
(polygons smaller than two pixels label the pixel of their representative point, so small
outcrop polygons are not lost; where polygons overlap, the later feature wins). A pixel given
different classes by a point and a polygon (or by two points) is left unlabelled and counted. The layer is reprojected to the grid's CRS. Class names come
from the class field, sorted, or from a given list (its order is the class index order).

The result is sparse (row, column, class of each labelled pixel): polygons are rasterised block
by block over their own extent, so memory follows the labels, not the raster size.
"""

from __future__ import annotations

import math
import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from .grid import Grid, crs_label, display_name, format_bounds
from .tiling import PixelWindow

UNLABELLED = 255  # same code as the nodata of class rasters
MAX_CLASSES = 255
_BLOCK_PX = 2048  # polygons are rasterised in blocks of this side


@dataclass(frozen=True)
class LabelConfig:
    """How a label layer is read.

    Attributes:
        field: attribute holding the class name (matched case-insensitively if not exact).
        class_names: fixed class list (index order); None to take the sorted names in the data.
        min_classes: fewest classes that must be labelled inside the grid (2 for training).
        layer: layer name in a multi-layer file (GeoPackage), None for the first.
        all_touched: polygons label every pixel they touch, not only pixels whose centre they
            contain.
    """

    field: str = "mineral"
    class_names: tuple[str, ...] | None = None
    min_classes: int = 2
    layer: str | None = None
    all_touched: bool = False


@dataclass
class LabelPixels:
    """Labelled pixels of a grid.

    Attributes:
        grid: the grid the pixels index.
        rows, cols: pixel coordinates (int64).
        classes: class index of each pixel (uint8), into ``class_names``.
        class_names: class list in index order.
        dropped_outside: features (or point parts) that fell outside the grid.
        conflicts: pixels dropped because features of different classes labelled them.
        repaired: invalid geometries repaired.
    """

    grid: Grid
    rows: np.ndarray
    cols: np.ndarray
    classes: np.ndarray
    class_names: tuple[str, ...]
    dropped_outside: int = 0
    conflicts: int = 0
    repaired: int = 0
    source: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rows.size)

    def counts(self) -> dict[str, int]:
        """Labelled pixels per class name (every class, zero included)."""
        n = np.bincount(self.classes, minlength=len(self.class_names))
        return {name: int(n[i]) for i, name in enumerate(self.class_names)}

    def to_array(self, window: PixelWindow | None = None) -> np.ndarray:
        """uint8 ``(h, w)`` label image of ``window`` (whole grid if None), 255 unlabelled."""
        window = window or self.grid.full_window
        out = np.full((window.height, window.width), UNLABELLED, dtype=np.uint8)
        r, c, k = self.in_window(window)
        out[r, c] = k
        return out

    def in_window(self, window: PixelWindow) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows and columns relative to ``window``, and classes, of the pixels inside it."""
        inside = ((self.rows >= window.row_off) & (self.rows < window.row_off + window.height)
                  & (self.cols >= window.col_off) & (self.cols < window.col_off + window.width))
        return (self.rows[inside] - window.row_off, self.cols[inside] - window.col_off,
                self.classes[inside])


def _class_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def _resolve_field(columns: Sequence[str], wanted: str, name: str) -> str:
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    listed = ", ".join(f"'{c}'" for c in columns) or "none"
    raise InputError(
        f"Labels '{name}' have no field '{wanted}'; the fields are: {listed}. "
        "Choose the field that holds the class names."
    )


def _class_index(names_in_data: list[str], given: Sequence[str] | None,
                 name: str, field_name: str) -> tuple[tuple[str, ...], dict[str, int]]:
    if given is None:
        classes = tuple(sorted(set(names_in_data)))
        if len(classes) > MAX_CLASSES:
            raise InputError(
                f"Field '{field_name}' of '{name}' has {len(classes)} different values; at most "
                f"{MAX_CLASSES} classes are supported. Is it the class field?"
            )
        return classes, {c: i for i, c in enumerate(classes)}
    classes = tuple(given)
    exact = {c: i for i, c in enumerate(classes)}
    folded = {c.lower(): i for i, c in enumerate(classes)}
    index: dict[str, int] = {}
    unknown = []
    for value in sorted(set(names_in_data)):
        if value in exact:
            index[value] = exact[value]
        elif value.lower() in folded:
            index[value] = folded[value.lower()]
        else:
            unknown.append(value)
    if unknown:
        raise InputError(
            f"Labels '{name}' use class name(s) not in the class list: "
            + ", ".join(f"'{u}'" for u in unknown) + ". Known classes: "
            + ", ".join(f"'{c}'" for c in classes)
            + ". Fix the names in the field or add them to the class table."
        )
    return classes, index


def _repair(geoms: Any) -> tuple[Any, int]:
    """Repair invalid polygons (make_valid, else buffer(0)); return geometries and count."""
    invalid = ~geoms.is_valid
    n = int(invalid.sum())
    if n == 0:
        return geoms, 0
    geoms = geoms.copy()
    try:
        fixed = geoms[invalid].make_valid()
    except Exception:  # noqa: BLE001 - older GEOS: fall back to the classic trick
        fixed = geoms[invalid].buffer(0)
    geoms[invalid] = fixed
    return geoms, n


def _polygonal(geom: Any) -> Any:
    """Polygonal part of a geometry (make_valid may return collections with lines)."""
    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon

    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    if isinstance(geom, GeometryCollection):
        parts = [g for g in geom.geoms if isinstance(g, (Polygon, MultiPolygon))]
        polys = []
        for p in parts:
            polys.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
        return MultiPolygon(polys) if polys else None
    return None


def split_vector_source(source: str | os.PathLike[str]) -> tuple[str, str | None]:
    """``'file.gpkg|layername=labels'`` (QGIS's layer source form) -> ``('file.gpkg', 'labels')``.

    Other ``|key=value`` options QGIS may append (``subset=``, ``geometrytype=``) are dropped.
    """
    text = str(source)
    if "|" not in text:
        return text, None
    path, *options = text.split("|")
    layer = None
    for option in options:
        key, _, value = option.partition("=")
        if key.strip().lower() == "layername" and value:
            layer = value
    return path, layer


def read_labels(path: str | os.PathLike[str], grid: Grid, config: LabelConfig = LabelConfig(),
                feedback: Feedback | None = None) -> LabelPixels:
    """Labelled pixels of ``grid`` from a point or polygon layer.

    Args:
        path: GeoPackage, Shapefile, GeoJSON or any OGR vector.
        grid: the grid to label (usually the RGB reference grid).
        config: class field, class list and options.
        feedback: receives warnings (repaired geometries, dropped features, conflicts).

    Returns:
        The labelled pixels with their class list.

    Raises:
        InputError: unreadable or empty layer, field missing (the message lists the fields),
            no CRS, lines instead of points/polygons, unknown class names, all labels outside
            the grid (both extents given), fewer than ``config.min_classes`` classes.
    """
    import geopandas as gpd

    feedback = feedback or Feedback()
    path, layer_in_source = split_vector_source(path)
    if layer_in_source and not config.layer:
        config = dataclasses.replace(config, layer=layer_in_source)
    name = display_name(path)
    if not os.path.exists(str(path)):
        raise InputError(f"Labels '{path}' do not exist; choose an existing vector file.")
    try:
        gdf = gpd.read_file(str(path), layer=config.layer) if config.layer else gpd.read_file(str(path))
    except Exception as exc:  # noqa: BLE001 - fiona raises many kinds
        raise InputError(
            f"Labels '{name}' cannot be read as a vector layer ({exc}); give a GeoPackage, "
            "Shapefile or GeoJSON."
        ) from None
    if len(gdf) == 0:
        raise InputError(f"Labels '{name}' have no features; label some points or polygons.")
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    field_name = _resolve_field(columns, config.field, name)
    if gdf.crs is None:
        raise InputError(
            f"Labels '{name}' have no coordinate reference system; assign one "
            "(QGIS: Vector > Data Management Tools > Assign Projection)."
        )

    values = [_class_text(v) for v in gdf[field_name].tolist()]
    keep = np.array([v is not None for v in values]) & ~gdf.geometry.isna().to_numpy()
    keep &= ~gdf.geometry.is_empty.to_numpy()
    if not keep.any():
        raise InputError(
            f"No feature of '{name}' has both a geometry and a value in field '{field_name}'; "
            "fill in the class names."
        )
    if (~keep).sum():
        feedback.warning(f"{int((~keep).sum())} feature(s) of '{name}' without geometry or "
                         f"class in '{field_name}' were skipped.")
    gdf = gdf[keep]
    values = [v for v, k in zip(values, keep) if k]

    geom_types = set(gdf.geometry.geom_type)
    lines = geom_types & {"LineString", "MultiLineString", "LinearRing"}
    if lines:
        raise InputError(
            f"Labels '{name}' contain line features ({', '.join(sorted(lines))}); labels must be "
            "points or polygons (buffer the lines into polygons first)."
        )
    class_names, index = _class_index(values, config.class_names, name, field_name)
    codes = np.array([index[v] for v in values], dtype=np.uint8)

    geoms, repaired = _repair(gdf.geometry)
    if repaired:
        feedback.warning(f"{repaired} invalid geometr{'y' if repaired == 1 else 'ies'} in '{name}' "
                         "were repaired (make_valid).")
    geoms = geoms.to_crs(grid.crs.to_wkt())

    is_point = np.array([t in ("Point", "MultiPoint") for t in geoms.geom_type])
    pixel_area = grid.res[0] * grid.res[1]
    point_geoms, point_codes = [], []
    poly_geoms, poly_codes = [], []
    for geom, code, pt in zip(geoms, codes, is_point):
        if pt:
            parts = list(geom.geoms) if geom.geom_type == "MultiPoint" else [geom]
            point_geoms.extend(parts)
            point_codes.extend([code] * len(parts))
            continue
        poly = _polygonal(geom)
        if poly is None or poly.is_empty:
            continue
        if poly.area < 2 * pixel_area and not config.all_touched:
            point_geoms.append(poly.representative_point())
            point_codes.append(code)
        else:
            poly_geoms.append(poly)
            poly_codes.append(code)

    rows_l, cols_l, cls_l = [], [], []
    outside = 0
    if point_geoms:
        xs = np.array([p.x for p in point_geoms])
        ys = np.array([p.y for p in point_geoms])
        inv = ~grid.transform
        cols_f, rows_f = inv * (xs, ys)
        cols_i = np.floor(np.asarray(cols_f)).astype(np.int64)
        rows_i = np.floor(np.asarray(rows_f)).astype(np.int64)
        inside = (cols_i >= 0) & (cols_i < grid.width) & (rows_i >= 0) & (rows_i < grid.height)
        outside += int((~inside).sum())
        rows_l.append(rows_i[inside])
        cols_l.append(cols_i[inside])
        cls_l.append(np.asarray(point_codes, dtype=np.uint8)[inside])
    if poly_geoms:
        r, c, k, n_out = _rasterise_polygons(poly_geoms, np.asarray(poly_codes, np.uint8), grid,
                                             config.all_touched)
        rows_l.append(r)
        cols_l.append(c)
        cls_l.append(k)
        outside += n_out

    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int64)
    cols = np.concatenate(cols_l) if cols_l else np.zeros(0, np.int64)
    classes = np.concatenate(cls_l) if cls_l else np.zeros(0, np.uint8)

    if rows.size == 0:
        lb = geoms.total_bounds
        raise InputError(
            f"All {len(gdf)} labels of '{name}' lie outside the raster '{grid.name}'. In "
            f"{crs_label(grid.crs)} the labels cover {format_bounds(tuple(lb))} and the raster "
            f"covers {format_bounds(tuple(grid.bounds))}. Check the layer's CRS and that both "
            "show the same site."
        )
    rows, cols, classes, conflicts = _deduplicate(rows, cols, classes, grid.width)
    if outside:
        feedback.warning(f"{outside} label feature(s) of '{name}' lie outside '{grid.name}' and "
                         "were ignored.")
    if conflicts:
        feedback.warning(f"{conflicts} pixel(s) labelled with different classes by overlapping "
                         f"features of '{name}' were left unlabelled.")

    present = sorted({class_names[k] for k in np.unique(classes)})
    if len(present) < config.min_classes:
        which = ", ".join(f"'{p}'" for p in present)
        raise InputError(
            f"Labels '{name}' give only {len(present)} class ({which}) inside '{grid.name}' "
            f"(field '{field_name}'); label at least {config.min_classes} different classes."
        )
    result = LabelPixels(grid, rows, cols, classes, class_names, outside, conflicts, repaired,
                         source=str(path))
    result.stats = {"features": int(len(gdf)), "pixels": int(rows.size), "field": field_name}
    return result


def _rasterise_polygons(geoms: list[Any], codes: np.ndarray, grid: Grid, all_touched: bool
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Labelled pixels of polygons, rasterised block by block over their extent."""
    from rasterio.features import rasterize

    inv = ~grid.transform
    boxes = []
    outside = 0
    for g in geoms:
        x0, y0, x1, y1 = g.bounds
        cs, rs = zip(*(inv * (x, y) for x in (x0, x1) for y in (y0, y1)))
        c0, c1 = max(int(math.floor(min(cs))), 0), min(int(math.ceil(max(cs))), grid.width)
        r0, r1 = max(int(math.floor(min(rs))), 0), min(int(math.ceil(max(rs))), grid.height)
        if c1 <= c0 or r1 <= r0:
            outside += 1
        boxes.append((c0, r0, c1, r1))
    inside = [i for i, (c0, r0, c1, r1) in enumerate(boxes) if c1 > c0 and r1 > r0]
    if not inside:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8), outside
    c_min = min(boxes[i][0] for i in inside)
    r_min = min(boxes[i][1] for i in inside)
    c_max = max(boxes[i][2] for i in inside)
    r_max = max(boxes[i][3] for i in inside)
    box_arr = np.array([boxes[i] for i in inside], dtype=np.int64)
    rows_l, cols_l, cls_l = [], [], []
    for r0 in range(r_min, r_max, _BLOCK_PX):
        for c0 in range(c_min, c_max, _BLOCK_PX):
            win = PixelWindow(c0, r0, min(_BLOCK_PX, c_max - c0), min(_BLOCK_PX, r_max - r0))
            hit = ((box_arr[:, 0] < c0 + win.width) & (box_arr[:, 2] > c0)
                   & (box_arr[:, 1] < r0 + win.height) & (box_arr[:, 3] > r0))
            hits = np.flatnonzero(hit)  # in layer order: later features win where they overlap
            if hits.size == 0:
                continue
            shapes = [(geoms[inside[h]], int(codes[inside[h]]) + 1) for h in hits]
            # 0 is "no label" here so that class 0 stays distinguishable; 1-based codes
            arr = rasterize(shapes, out_shape=(win.height, win.width),
                            transform=grid.window_transform(win), fill=0, dtype="uint16",
                            all_touched=all_touched)
            rr, cc = np.nonzero(arr)
            rows_l.append(rr.astype(np.int64) + r0)
            cols_l.append(cc.astype(np.int64) + c0)
            cls_l.append((arr[rr, cc] - 1).astype(np.uint8))
    if not rows_l:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8), outside
    return np.concatenate(rows_l), np.concatenate(cols_l), np.concatenate(cls_l), outside


def _deduplicate(rows: np.ndarray, cols: np.ndarray, classes: np.ndarray, width: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """One label per pixel; pixels labelled with different classes are dropped (counted)."""
    key = rows * width + cols
    order = np.lexsort((classes, key))
    key, rows, cols, classes = key[order], rows[order], cols[order], classes[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    # a pixel conflicts if its smallest and largest class differ (classes sorted per pixel)
    ends = np.append(starts[1:], key.size) - 1
    conflict = classes[starts] != classes[ends]
    keep = starts[~conflict]
    return rows[keep], cols[keep], classes[keep], int(conflict.sum())
