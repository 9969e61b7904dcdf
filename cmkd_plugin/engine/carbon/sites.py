"""Per-site aggregation of the carbonation rate with exact partial-pixel coverage.

For a site polygon ``S`` and pixel ``j`` (area ``A_j`` in hectares, valid or not)::

    w_j            = area(S ∩ pixel_j) / area(pixel_j)      (exact polygon-box intersection)
    valid_area_ha  = sum_valid w_j A_j
    total_t_co2_yr = sum_valid w_j A_j rate_j
    total_uncertainty_t_co2_yr             = sum_valid w_j A_j sd_j            (fully correlated)
    total_uncertainty_independent_t_co2_yr = sqrt(sum_valid (w_j A_j sd_j)^2)  (for comparison)

The coverage ``w_j`` is computed in pixel space (the inverse of the raster's affine transform), so
it is exact for projected rasters: every pixel's covered area is integrated analytically from the
polygon's boundary segments (Green's theorem, see :func:`coverage_fractions`), no rasterisation
or supersampling. Pixel areas: ``|a*e - b*d|`` times the square of the
CRS's unit in metres for projected CRSs; for geographic CRSs the exact area of each row's
latitude-longitude quadrangle on the CRS's ellipsoid.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import display_name
from ..geo.tiling import PixelWindow
from ..geo.qml import graduated_fill_qml

SITES_LAYER = "carbonation_sites"
M2_PER_HA = 10_000.0


# ----------------------------------------------------------------------------- pixel areas
@dataclass(frozen=True)
class PixelAreaModel:
    """Pixel areas of a grid in hectares.

    Attributes:
        geographic: True for a geographic (lon/lat) CRS.
        constant_ha: area of every pixel for a projected CRS.
        semi_major_m: ellipsoid semi-major axis (geographic).
        eccentricity: first eccentricity of the ellipsoid (geographic).
        transform: the grid's affine transform.
    """

    geographic: bool
    constant_ha: float
    semi_major_m: float
    eccentricity: float
    transform: Any

    def row_areas_ha(self, row_off: int, height: int) -> np.ndarray:
        """Area of one pixel of each row ``row_off .. row_off + height - 1`` (ha)."""
        if not self.geographic:
            return np.full(height, self.constant_ha)
        t = self.transform
        rows = np.arange(row_off, row_off + height, dtype=np.float64)
        lat_a = np.clip(t.f + t.e * rows, -90.0, 90.0)
        lat_b = np.clip(t.f + t.e * (rows + 1.0), -90.0, 90.0)
        dlon = math.radians(abs(t.a))
        return np.abs(_authalic(np.radians(lat_a), self.eccentricity)
                      - _authalic(np.radians(lat_b), self.eccentricity)) \
            * self.semi_major_m ** 2 * (1.0 - self.eccentricity ** 2) * dlon / 2.0 / M2_PER_HA


def _authalic(phi: np.ndarray, e: float) -> np.ndarray:
    """``q(phi)``: area between the equator and latitude ``phi`` is ``b^2 dlon q / 2``."""
    s = np.sin(phi)
    if e == 0.0:
        return 2.0 * s
    return s / (1.0 - e * e * s * s) + np.log((1.0 + e * s) / (1.0 - e * s)) / (2.0 * e)


def pixel_area_model(crs: Any, transform: Any) -> PixelAreaModel:
    """Pixel-area model of a grid; InputError for rotated geographic grids."""
    import pyproj

    pcrs = pyproj.CRS.from_wkt(crs.to_wkt())
    if pcrs.is_geographic:
        if transform.b != 0 or transform.d != 0:
            raise InputError("The probability raster is a rotated grid in a geographic CRS; warp "
                             "it to a north-up grid (gdalwarp) before computing site totals.")
        ell = pcrs.ellipsoid
        a = ell.semi_major_metre
        inv_f = ell.inverse_flattening
        f = 0.0 if not inv_f or math.isinf(inv_f) else 1.0 / inv_f
        return PixelAreaModel(True, 0.0, a, math.sqrt(f * (2.0 - f)), transform)
    factor = linear_unit_m(pcrs)
    area = abs(transform.a * transform.e - transform.b * transform.d) * factor ** 2
    return PixelAreaModel(False, area / M2_PER_HA, 0.0, 0.0, transform)


def linear_unit_m(pcrs: Any) -> float:
    """Metres per CRS unit of a projected CRS (1 for metres, 0.3048 for feet...)."""
    for axis in pcrs.axis_info:
        if axis.unit_conversion_factor:
            return float(axis.unit_conversion_factor)
    return 1.0


def geometry_area_ha(geom: Any, crs: Any) -> float:
    """Area of a geometry given in ``crs``: planar for projected, geodesic for geographic."""
    import pyproj

    if geom is None or geom.is_empty:
        return 0.0
    pcrs = pyproj.CRS.from_wkt(crs.to_wkt())
    if pcrs.is_geographic:
        ell = pcrs.ellipsoid
        geod = pyproj.Geod(a=ell.semi_major_metre, b=ell.semi_minor_metre)
        area, _ = geod.geometry_area_perimeter(geom)
        return abs(area) / M2_PER_HA
    return geom.area * linear_unit_m(pcrs) ** 2 / M2_PER_HA


# ----------------------------------------------------------------------------- coverage
def to_pixel_space(geom: Any, transform: Any) -> Any:
    """``geom`` (raster CRS) in pixel coordinates: x = column, y = row (pixel j = unit box)."""
    from shapely.affinity import affine_transform

    inv = ~transform
    return affine_transform(geom, [inv.a, inv.b, inv.d, inv.e, inv.c, inv.f])


def coverage_fractions(geom_px: Any, window: PixelWindow,
                       segments: np.ndarray | None = None) -> np.ndarray:
    """Exact fraction (0..1) of each pixel of ``window`` covered by ``geom_px`` (pixel space).

    By Green's theorem, with the rings oriented (exteriors counter-clockwise, holes clockwise),
    the area of ``P ∩ {x <= X} ∩ {y <= Y}`` is ``G(X, Y) = sum over boundary segments of the
    integral of (Y - y) dx over the segment's part with x <= X and y <= Y``. The covered area of
    row ``r`` left of column edge ``X`` is then ``G(X, r + 1) - G(X, r)``::

        sum over segment parts with y <= r, x <= X          of dx
      + sum over segment parts with r < y <= r + 1, x <= X  of (r + 1 - y) dx

    and pixel ``(r, c)`` gets the difference between the edges ``X = c + 1`` and ``X = c``.
    Segments wholly above the row contribute 0, those wholly below only their ``dx`` left of
    ``X`` (a running sum as rows advance), so each row handles only the few segments crossing
    it. Exact up to floating-point rounding for every pixel; no rasterisation or sampling.

    Args:
        geom_px: polygonal geometry in pixel coordinates (x = column, y = row).
        window: the pixels to compute.
        segments: :func:`ring_segments` of ``geom_px`` when the caller has them already.
    """
    h, w = window.height, window.width
    frac = np.zeros((h, w), np.float64)
    if geom_px is None or geom_px.is_empty:
        return frac
    minx, miny, maxx, maxy = geom_px.bounds
    c_lo = max(window.col_off, int(math.floor(minx)))
    c_hi = min(window.col_off + w, int(math.ceil(maxx)))
    r_lo = max(window.row_off, int(math.floor(miny)))
    r_hi = min(window.row_off + h, int(math.ceil(maxy)))
    seg = ring_segments(geom_px) if segments is None else segments
    seg = seg[seg[:, 0] != seg[:, 2]]  # vertical segments contribute nothing (dx = 0)
    if c_hi <= c_lo or r_hi <= r_lo or seg.shape[0] == 0:
        return frac
    # Work relative to the covered block's corner so rounding stays ~1e-13 of a pixel.
    seg = seg - np.array([c_lo, r_lo, c_lo, r_lo], np.float64)
    n_rows, n_edges = r_hi - r_lo, c_hi - c_lo + 1
    x_edges = np.arange(n_edges, dtype=np.float64)[None, :]
    x1, y1, x2, y2 = seg.T
    dx, dy = x2 - x1, y2 - y1
    y_min, y_max = np.minimum(y1, y2), np.maximum(y1, y2)

    # Segments wholly at y <= row add their dx left of X from the row ceil(y_max) on.
    join = np.maximum(np.ceil(y_max), 0).astype(np.int64)
    left = np.zeros((n_rows + 1, n_edges))
    for chunk in _chunks(np.nonzero(join < n_rows)[0], n_edges):
        lo_x = np.minimum(x1[chunk], x2[chunk])[:, None]
        hi_x = np.maximum(x1[chunk], x2[chunk])[:, None]
        contrib = np.sign(dx[chunk])[:, None] * (np.minimum(np.maximum(x_edges, lo_x), hi_x) - lo_x)
        np.add.at(left, join[chunk], contrib)
    left = np.cumsum(left, axis=0)[:n_rows]

    # Segments crossing row r: y_min < r + 1 and y_max > r.
    first = np.maximum(np.floor(y_min), 0).astype(np.int64)
    last = np.minimum(np.ceil(y_max).astype(np.int64) - 1, n_rows - 1)
    count = np.maximum(last - first + 1, 0)
    seg_of_pair = np.repeat(np.arange(seg.shape[0]), count)
    row_of_pair = (np.arange(seg_of_pair.size) - np.repeat(np.cumsum(count) - count, count)
                   + first[seg_of_pair])
    for chunk in _chunks(np.arange(seg_of_pair.size), n_edges):
        k, r = seg_of_pair[chunk], row_of_pair[chunk]
        contrib = _active_row_area(x1[k], y1[k], dx[k], dy[k], r.astype(np.float64), x_edges)
        np.add.at(left, r, contrib)
    frac[r_lo - window.row_off:r_hi - window.row_off, c_lo - window.col_off:c_hi - window.col_off] \
        = np.minimum(np.maximum(np.diff(left, axis=1), 0.0), 1.0)
    return frac


def _chunks(index: np.ndarray, width: int, max_cells: int = 2_000_000) -> list[np.ndarray]:
    """Split ``index`` so that ``len(chunk) * width`` stays below ``max_cells`` (bounded memory)."""
    step = max(1, max_cells // max(width, 1))
    return [index[i:i + step] for i in range(0, index.size, step)]


def _t_interval(start: np.ndarray, delta: np.ndarray, bound: float | np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Parameter range ``t`` in [0, 1] where ``start + delta * t <= bound`` (``delta != 0``)."""
    t = (bound - start) / delta
    t0 = np.where(delta > 0, 0.0, t)
    t1 = np.where(delta > 0, t, 1.0)
    return np.minimum(np.maximum(t0, 0.0), 1.0), np.minimum(np.maximum(t1, 0.0), 1.0)


def _y_interval(y1: np.ndarray, dy: np.ndarray, bound: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_t_interval` for y, where horizontal segments (``dy = 0``) are all-or-none;
    an empty range is [0, 0] so that range differences below never double count."""
    flat = dy == 0
    safe = np.where(flat, 1.0, dy)
    t0, t1 = _t_interval(y1, safe, bound)
    inside = y1 <= bound
    return np.where(flat, 0.0, t0), np.where(flat, np.where(inside, 1.0, 0.0), t1)


def _active_row_area(x1: np.ndarray, y1: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                     row: np.ndarray, x_edges: np.ndarray) -> np.ndarray:
    """Per (segment, row) pair: its part of ``G(X, row + 1) - G(X, row)`` for every edge X."""
    x1, y1, dx, dy, row = (a[:, None] for a in (x1, y1, dx, dy, row))
    ax0, ax1 = _t_interval(x1, dx, x_edges)            # x <= X
    b0, b1 = _y_interval(y1, dy, row)                  # y <= row
    n0, n1 = _y_interval(y1, dy, row + 1.0)            # y <= row + 1
    # Part below the row (y <= row): contributes dx * (t1 - t0).
    total = dx * np.maximum(np.minimum(ax1, b1) - np.maximum(ax0, b0), 0.0)
    # Part in the row (row < y <= row + 1) is [n0, n1] minus [b0, b1]; both are ranges of one
    # line, so the difference is at most two pieces: [n0, b0] and [b1, n1].
    for p0, p1 in ((n0, np.minimum(b0, n1)), (np.maximum(b1, n0), n1)):
        q0 = np.maximum(p0, ax0)
        q1 = np.maximum(np.minimum(p1, ax1), q0)
        # integral of (row + 1 - y1 - dy t) dx over t in [q0, q1]
        total = total + dx * ((row + 1.0 - y1) * (q1 - q0) - dy * (q1 * q1 - q0 * q0) / 2.0)
    return total


def ring_segments(geom: Any) -> np.ndarray:
    """Boundary segments ``(x1, y1, x2, y2)`` of a polygonal geometry, exteriors
    counter-clockwise and holes clockwise (shoelace-positive exteriors), vertical ones kept."""
    from shapely.geometry import MultiPolygon, Polygon

    if isinstance(geom, Polygon):
        parts = [geom]
    elif hasattr(geom, "geoms"):
        parts = []
        for g in geom.geoms:
            if isinstance(g, Polygon):
                parts.append(g)
            elif isinstance(g, MultiPolygon):
                parts.extend(g.geoms)
    else:
        parts = []
    rings = []
    for part in parts:
        if part.is_empty:
            continue
        for i, ring in enumerate((part.exterior, *part.interiors)):
            xy = np.asarray(ring.coords, np.float64)
            seg = np.hstack([xy[:-1], xy[1:]])
            signed = float((seg[:, 0] * seg[:, 3] - seg[:, 2] * seg[:, 1]).sum())
            if (signed < 0) == (i == 0):
                seg = seg[::-1][:, [2, 3, 0, 1]]
            rings.append(seg)
    return np.vstack(rings) if rings else np.zeros((0, 4))


# ----------------------------------------------------------------------------- sites
@dataclass
class Site:
    """One site: identity, geometry in the raster's pixel space, and running sums."""

    site_id: Any
    name: Any
    geom_px: Any
    bbox_px: tuple[float, float, float, float] | None
    area_ha: float
    status: str = "ok"
    covered_area_ha: float = 0.0
    valid_area_ha: float = 0.0
    total_t_co2_yr: float = 0.0
    sd_sum_t_co2_yr: float = 0.0
    sd_sq_sum: float = 0.0
    class_area_ha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    segments: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))

    def touches(self, window: PixelWindow) -> bool:
        if self.bbox_px is None:
            return False
        minx, miny, maxx, maxy = self.bbox_px
        return (maxx > window.col_off and minx < window.col_off + window.width
                and maxy > window.row_off and miny < window.row_off + window.height)


@dataclass(frozen=True)
class SiteLayer:
    """Sites read and prepared for aggregation, with what the output keeps of them."""

    sites: list[Site]
    frame: Any  # GeoDataFrame: repaired geometries in the sites' own CRS
    id_field: str
    name_field: str | None
    repaired: tuple[Any, ...]


def _polygonal(geom: Any) -> Any:
    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon

    if geom is None or isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    if isinstance(geom, GeometryCollection):
        polys: list[Any] = []
        for g in geom.geoms:
            if isinstance(g, Polygon):
                polys.append(g)
            elif isinstance(g, MultiPolygon):
                polys.extend(g.geoms)
        return MultiPolygon(polys) if polys else Polygon()
    return None


def read_sites(path: str | os.PathLike[str], raster_crs: Any, transform: Any, n_classes: int,
               id_field: str = "site_id", feedback: Feedback | None = None) -> SiteLayer:
    """Read site polygons, repair them, reproject them onto the raster grid's pixel space.

    Args:
        path: any OGR vector file of polygons, or QGIS's ``'file.gpkg|layername=x'`` form.
        raster_crs: CRS of the probability raster.
        transform: its affine transform.
        n_classes: number of classes (size of the per-class sums).
        id_field: attribute that identifies a site; when it is absent and is the default
            ``site_id``, the 1-based feature number is used (warned).
        feedback: receives the repair and fallback warnings.

    Raises:
        InputError: unreadable file, no CRS, non-polygon geometries, an explicit id field that
            does not exist.
    """
    import geopandas as gpd

    from ..geo.labels import split_vector_source

    feedback = feedback or Feedback()
    # QGIS passes layers as 'file.gpkg|layername=sites'.
    path, layer_name = split_vector_source(path)
    name = display_name(path) + (f" ({layer_name})" if layer_name else "")
    if not os.path.exists(str(path)):
        raise InputError(f"Sites layer '{path}' does not exist; choose an existing vector file.")
    try:
        frame = gpd.read_file(str(path), **({"layer": layer_name} if layer_name else {}))
    except Exception as exc:  # noqa: BLE001 - fiona/pyogrio raise many types
        raise InputError(f"Sites layer '{name}' cannot be read as a vector layer ({exc}); give a "
                         "GeoPackage, shapefile or another OGR format.") from None
    # A GeoPackage without a CRS reports GDAL's "Undefined geographic/cartesian SRS".
    if frame.crs is None or (frame.crs.name or "").startswith("Undefined"):
        raise InputError(f"Sites layer '{name}' has no coordinate reference system; assign one "
                         "(QGIS: Vector > Data Management Tools > Assign Projection).")
    if len(frame) == 0:
        # An empty layer would give an empty table and a total of 0 t CO2, which reads as a
        # result; say so instead.
        raise InputError(f"Sites layer '{name}' has no features; draw or load the site "
                         "polygons, or leave the sites empty to write only the rate rasters.")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if id_field not in columns:
        match = [c for c in columns if c.casefold() == id_field.casefold()]
        if match:
            id_field = match[0]
        elif id_field == "site_id":
            feedback.warning(f"Sites layer '{name}' has no field 'site_id'; sites are numbered "
                             "1..N in file order. Fields: " + (", ".join(columns) or "none") + ".")
            frame = frame.copy()
            frame["site_id"] = np.arange(1, len(frame) + 1)
        else:
            raise InputError(f"Sites layer '{name}' has no field '{id_field}'. Its fields: "
                             + (", ".join(columns) or "none") + ". Choose one of them.")
    name_field = next((c for c in columns if c.casefold() == "name" and c != id_field), None)

    geoms = frame.geometry.copy()
    types = set(geoms[~geoms.isna() & ~geoms.is_empty].geom_type)
    bad = types - {"Polygon", "MultiPolygon", "GeometryCollection"}
    if bad:
        raise InputError(f"Sites layer '{name}' has {', '.join(sorted(bad))} geometries; sites "
                         "must be polygons (buffer points or lines first).")
    invalid = ~geoms.isna() & ~geoms.is_empty & ~geoms.is_valid
    repaired_ids = tuple(frame.loc[invalid, id_field].tolist())
    if invalid.any():
        geoms[invalid] = geoms[invalid].make_valid().apply(_polygonal)
        feedback.warning(f"Repaired {int(invalid.sum())} invalid site geometr"
                         f"{'y' if invalid.sum() == 1 else 'ies'} (make_valid), site(s): "
                         + ", ".join(str(i) for i in repaired_ids) + ".")
    frame = frame.copy()
    frame = frame.set_geometry(geoms)
    in_raster = gpd.GeoSeries(geoms, crs=frame.crs)
    import pyproj

    target = pyproj.CRS.from_wkt(raster_crs.to_wkt())
    if not frame.crs.equals(target):
        feedback.info(f"Sites reprojected from {frame.crs.name} to the raster's {target.name}.")
        try:
            in_raster = in_raster.to_crs(target)
        except Exception as exc:  # noqa: BLE001 - pyproj errors
            raise InputError(f"Sites layer '{name}' cannot be reprojected to the raster's CRS "
                             f"({exc}).") from None
    sites = []
    for i in range(len(frame)):
        g = in_raster.iloc[i]
        if g is not None and not g.is_valid:  # reprojection can fold a valid ring
            from shapely.validation import make_valid  # noqa: PLC0415 - shapely 1.8 and 2

            g = _polygonal(make_valid(g))
        sid = frame[id_field].iloc[i]
        nm = frame[name_field].iloc[i] if name_field else None
        if g is None or g.is_empty:
            sites.append(Site(sid, nm, None, None, 0.0, "empty_geometry",
                              class_area_ha=np.zeros(n_classes)))
            continue
        gpx = to_pixel_space(g, transform)
        sites.append(Site(sid, nm, gpx, gpx.bounds, geometry_area_ha(g, raster_crs),
                          class_area_ha=np.zeros(n_classes), segments=ring_segments(gpx)))
    return SiteLayer(sites, frame, id_field, name_field, repaired_ids)


def overlap_share(layer: SiteLayer) -> float:
    """Share of the sites' summed area that lies in more than one site (0 when disjoint)."""
    from shapely.ops import unary_union

    geoms = [s.geom_px for s in layer.sites if s.geom_px is not None and not s.geom_px.is_empty]
    summed = sum(g.area for g in geoms)
    if len(geoms) < 2 or summed <= 0:
        return 0.0
    return max(summed - unary_union(geoms).area, 0.0) / summed


def accumulate(site: Site, window: PixelWindow, row_areas_ha: np.ndarray, valid: np.ndarray,
               rate: np.ndarray, sd: np.ndarray, probs: np.ndarray) -> None:
    """Add one window's contribution to ``site``'s sums (rate/sd in t CO2 ha-1 yr-1)."""
    frac = coverage_fractions(site.geom_px, window, site.segments)
    rows, cols = np.nonzero(frac)
    if rows.size == 0:
        return
    # Only the covered pixels: a small site in a large window costs little.
    weight = frac[rows, cols] * row_areas_ha[rows]  # covered hectares per pixel
    site.covered_area_ha += float(weight.sum())
    ok = valid[rows, cols]
    rows, cols, wv = rows[ok], cols[ok], weight[ok]
    site.valid_area_ha += float(wv.sum())
    site.total_t_co2_yr += float((wv * rate[rows, cols]).sum())
    ws = wv * sd[rows, cols]
    site.sd_sum_t_co2_yr += float(ws.sum())
    site.sd_sq_sum += float((ws ** 2).sum())
    site.class_area_ha += probs[:, rows, cols] @ wv


def site_records(layer: SiteLayer, class_names: Sequence[str], coefficients: np.ndarray,
                 scale: float) -> list[dict[str, Any]]:
    """Output attributes of every site (see METHODS.md for each field)."""
    records = []
    c = np.asarray(coefficients, np.float64)
    for site in layer.sites:
        area = site.area_ha
        valid = site.valid_area_ha
        rec: dict[str, Any] = {"site_id": site.site_id}
        if layer.name_field:
            rec["name"] = site.name
        status = site.status
        if status == "ok":
            if site.covered_area_ha <= 0:
                status = "no_overlap"
            elif valid <= 0:
                status = "no_valid_pixels"
            elif area > 0 and valid < area * (1 - 1e-9):
                status = "partial"
        dominant, dshare, main, mshare = None, None, None, None
        if valid > 0:
            shares = site.class_area_ha / valid
            k = int(np.argmax(shares))
            dominant, dshare = class_names[k], float(shares[k])
            contrib = scale * c * site.class_area_ha
            if site.total_t_co2_yr > 0:
                m = int(np.argmax(contrib))
                main, mshare = class_names[m], float(contrib[m] / site.total_t_co2_yr)
        rec.update(
            area_ha=area,
            raster_fraction=min(site.covered_area_ha / area, 1.0) if area > 0 else 0.0,
            valid_fraction=min(valid / area, 1.0) if area > 0 else 0.0,
            valid_area_ha=valid,
            mean_rate_t_co2_ha_yr=site.total_t_co2_yr / valid if valid > 0 else None,
            total_t_co2_yr=site.total_t_co2_yr,
            total_uncertainty_t_co2_yr=site.sd_sum_t_co2_yr,
            total_uncertainty_independent_t_co2_yr=math.sqrt(site.sd_sq_sum),
            dominant_mineral=dominant,
            dominant_mineral_share=dshare,
            main_uptake_class=main,
            main_uptake_share=mshare,
            status=status,
        )
        records.append(rec)
    return records


def write_sites(path: str | os.PathLike[str], layer: SiteLayer, records: list[dict[str, Any]],
                extra: dict[str, Any]) -> None:
    """Write the per-site GeoPackage (geometries as given, repaired) and its ``.qml`` sidecar."""
    import geopandas as gpd
    import pandas as pd

    table = pd.DataFrame(records)
    for key, value in extra.items():
        table[key] = value
    out = gpd.GeoDataFrame(table, geometry=list(layer.frame.geometry), crs=layer.frame.crs)
    out.to_file(str(path), layer=SITES_LAYER, driver="GPKG")
    totals = [r["total_t_co2_yr"] for r in records]
    Path(path).with_suffix(".qml").write_text(sites_qml(totals), encoding="utf-8")


def sites_qml(totals: Sequence[float | None]) -> str:
    """The per-site layer's style: graduated green fill on the yearly total, labelled by site."""
    return graduated_fill_qml(totals, value_field="total_t_co2_yr", label_field="site_id",
                              unit="t CO2/yr",
                              colours=("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837"))
