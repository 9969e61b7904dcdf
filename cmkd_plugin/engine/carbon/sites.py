"""Per-site aggregation of the carbonation rate with exact partial-pixel coverage.

For a site polygon ``S`` and pixel ``j`` (area ``A_j`` in hectares, valid or not)::

    w_j            = area(S ∩ pixel_j) / area(pixel_j)      (exact polygon-box intersection)
    valid_area_ha  = sum_valid w_j A_j
    total_t_co2_yr = sum_valid w_j A_j rate_j
    total_uncertainty_t_co2_yr             = sum_valid w_j A_j sd_j            (fully correlated)
    total_uncertainty_independent_t_co2_yr = sqrt(sum_valid (w_j A_j sd_j)^2)  (for comparison)

The coverage ``w_j`` is computed in pixel space (the inverse of the raster's affine transform), so
it is exact for projected rasters; pixels the site boundary does not touch are wholly in or out
(pixel-centre test), pixels it touches (and their neighbours, as a margin against rasteriser
corner cases) get the exact intersection area. Pixel areas: ``|a*e - b*d|`` times the square of the
CRS's unit in metres for projected CRSs; for geographic CRSs the exact area of each row's
latitude-longitude quadrangle on the CRS's ellipsoid.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import display_name
from ..geo.tiling import PixelWindow

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


def coverage_fractions(geom_px: Any, window: PixelWindow) -> np.ndarray:
    """Exact fraction (0..1) of each pixel of ``window`` covered by ``geom_px`` (pixel space).

    Pixels away from the boundary: 0 or 1 by the pixel-centre test; pixels the boundary touches
    (rasterised with all-touched, then dilated by one pixel so no corner-cut pixel is missed):
    ``area(geom ∩ box)``. The boundary is rasterised over the window plus a one-pixel margin so the
    dilation also sees boundary crossings just outside the window.
    """
    from affine import Affine
    from rasterio.features import rasterize
    from scipy.ndimage import binary_dilation

    h, w = window.height, window.width
    frac = np.zeros((h, w), np.float64)
    if geom_px is None or geom_px.is_empty:
        return frac
    x0, y0 = window.col_off, window.row_off
    inside = rasterize([(geom_px, 1)], out_shape=(h, w), transform=Affine.translation(x0, y0),
                       all_touched=False, fill=0, dtype="uint8").astype(bool)
    edge = rasterize([(geom_px.boundary, 1)], out_shape=(h + 2, w + 2),
                     transform=Affine.translation(x0 - 1, y0 - 1), all_touched=True, fill=0,
                     dtype="uint8").astype(bool)
    edge = binary_dilation(edge, structure=np.ones((3, 3), bool))[1:-1, 1:-1]
    frac[inside] = 1.0
    rows, cols = np.nonzero(edge)
    if rows.size:
        frac[rows, cols] = _exact_fractions(geom_px, rows + y0, cols + x0, x0 - 1, x0 + w + 1)
    return frac


def _exact_fractions(geom_px: Any, rows: np.ndarray, cols: np.ndarray, xmin: float,
                     xmax: float) -> np.ndarray:
    """``area(geom ∩ unit box)`` of pixels ``(rows, cols)`` (absolute pixel indices).

    Works with shapely 1.8 (Debian 12) and 2: the geometry is first clipped to each row's strip
    so every per-pixel intersection handles only the few vertices near that pixel.
    """
    from shapely.geometry import box

    out = np.zeros(rows.size, np.float64)
    order = np.argsort(rows, kind="stable")
    start = 0
    while start < order.size:
        r = rows[order[start]]
        stop = start
        while stop < order.size and rows[order[stop]] == r:
            stop += 1
        strip = geom_px.intersection(box(xmin, float(r), xmax, float(r) + 1.0))
        if not strip.is_empty:
            for idx in order[start:stop]:
                c = float(cols[idx])
                out[idx] = strip.intersection(box(c, float(r), c + 1.0, float(r) + 1.0)).area
        start = stop
    return np.clip(out, 0.0, 1.0)


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
        path: any OGR vector file of polygons.
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

    feedback = feedback or Feedback()
    name = display_name(path)
    if not os.path.exists(str(path)):
        raise InputError(f"Sites layer '{path}' does not exist; choose an existing vector file.")
    try:
        frame = gpd.read_file(str(path))
    except Exception as exc:  # noqa: BLE001 - fiona/pyogrio raise many types
        raise InputError(f"Sites layer '{name}' cannot be read as a vector layer ({exc}); give a "
                         "GeoPackage, shapefile or another OGR format.") from None
    if frame.crs is None:
        raise InputError(f"Sites layer '{name}' has no coordinate reference system; assign one "
                         "(QGIS: Vector > Data Management Tools > Assign Projection).")
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
            g = _polygonal(g.make_valid())
        sid = frame[id_field].iloc[i]
        nm = frame[name_field].iloc[i] if name_field else None
        if g is None or g.is_empty:
            sites.append(Site(sid, nm, None, None, 0.0, "empty_geometry",
                              class_area_ha=np.zeros(n_classes)))
            continue
        gpx = to_pixel_space(g, transform)
        sites.append(Site(sid, nm, gpx, gpx.bounds, geometry_area_ha(g, raster_crs),
                          class_area_ha=np.zeros(n_classes)))
    return SiteLayer(sites, frame, id_field, name_field, repaired_ids)


def accumulate(site: Site, window: PixelWindow, row_areas_ha: np.ndarray, valid: np.ndarray,
               rate: np.ndarray, sd: np.ndarray, probs: np.ndarray) -> None:
    """Add one window's contribution to ``site``'s sums (rate/sd in t CO2 ha-1 yr-1)."""
    frac = coverage_fractions(site.geom_px, window)
    weight = frac * row_areas_ha[:, None]  # covered hectares per pixel
    site.covered_area_ha += float(weight.sum())
    wv = np.where(valid, weight, 0.0)
    site.valid_area_ha += float(wv.sum())
    r = np.where(valid, rate, 0.0)
    s = np.where(valid, sd, 0.0)
    site.total_t_co2_yr += float((wv * r).sum())
    site.sd_sum_t_co2_yr += float((wv * s).sum())
    site.sd_sq_sum += float(((wv * s) ** 2).sum())
    p = np.where(valid[None], probs, 0.0)
    site.class_area_ha += (p * wv[None]).reshape(p.shape[0], -1).sum(axis=1)


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
    from pathlib import Path

    Path(path).with_suffix(".qml").write_text(sites_qml(totals, label_field="site_id"),
                                              encoding="utf-8")


def sites_qml(totals: Sequence[float], label_field: str = "site_id",
              value_field: str = "total_t_co2_yr",
              colours: Sequence[str] = ("#ffffcc", "#c2e699", "#78c679", "#31a354", "#006837")
              ) -> str:
    """QGIS vector style: graduated fill colours on ``value_field`` and labels with the total."""
    top = max([t for t in totals if t is not None and math.isfinite(t)] or [0.0])
    top = top if top > 0 else 1.0
    n = len(colours)
    bounds = [top * i / n for i in range(n + 1)]
    ranges, symbols = [], []
    for i, col in enumerate(colours):
        lo, hi = bounds[i], bounds[i + 1]
        label = f"{lo:.4g} - {hi:.4g} t CO2/yr"
        ranges.append(f'      <range lower="{lo:.10g}" upper="{hi:.10g}" symbol="{i}" '
                      f'label={quoteattr(label)} render="true"/>')
        symbols.append(_fill_symbol(str(i), col))
    expression = (f'"{label_field}" || \'\\n\' || format_number("{value_field}", 1) '
                  "|| ' t CO2/yr'")
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="Symbology|Labeling" labelsEnabled="1">
  <renderer-v2 type="graduatedSymbol" attr="{escape(value_field)}" graduatedMethod="GraduatedColor" symbollevels="0" enableorderby="0" forceraster="0">
    <ranges>
{chr(10).join(ranges)}
    </ranges>
    <symbols>
{chr(10).join(symbols)}
    </symbols>
    <source-symbol>
{_fill_symbol("0", colours[0])}
    </source-symbol>
    <colorramp type="gradient" name="[source]">
      <Option type="Map">
        <Option name="color1" value="{_rgba(colours[0])}" type="QString"/>
        <Option name="color2" value="{_rgba(colours[-1])}" type="QString"/>
        <Option name="discrete" value="0" type="QString"/>
        <Option name="rampType" value="gradient" type="QString"/>
      </Option>
    </colorramp>
    <classificationMethod id="EqualInterval">
      <symmetricMode enabled="0" symmetrypoint="0" astride="0"/>
      <labelFormat format="%1 - %2 t CO2/yr" labelprecision="1" trimtrailingzeroes="1"/>
      <extraInformation/>
    </classificationMethod>
    <rotation/>
    <sizescale/>
  </renderer-v2>
  <labeling type="simple">
    <settings calloutType="simple">
      <text-style fieldName={quoteattr(expression)} isExpression="1" fontFamily="Sans Serif" fontSize="9" fontSizeUnit="Point" textColor="0,0,0,255" textOpacity="1" multilineHeight="1"/>
      <text-format wrapChar="" multilineAlign="3" autoWrapLength="0"/>
      <text-buffer bufferDraw="1" bufferSize="1" bufferSizeUnits="MM" bufferColor="255,255,255,255" bufferOpacity="1"/>
      <placement placement="1" dist="0" priority="5" fitInPolygonOnly="0"/>
      <rendering obstacle="1" scaleVisibility="0" drawLabels="1" displayAll="0"/>
    </settings>
  </labeling>
  <blendMode>0</blendMode>
  <featureBlendMode>0</featureBlendMode>
  <layerOpacity>1</layerOpacity>
</qgis>
"""


def _rgba(colour: str) -> str:
    c = colour.lstrip("#")
    return f"{int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},255"


def _fill_symbol(name: str, colour: str) -> str:
    return f"""      <symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">
        <layer class="SimpleFill" pass="0" locked="0" enabled="1">
          <Option type="Map">
            <Option name="color" value="{_rgba(colour)}" type="QString"/>
            <Option name="outline_color" value="35,35,35,255" type="QString"/>
            <Option name="outline_style" value="solid" type="QString"/>
            <Option name="outline_width" value="0.26" type="QString"/>
            <Option name="outline_width_unit" value="MM" type="QString"/>
            <Option name="style" value="solid" type="QString"/>
          </Option>
        </layer>
      </symbol>"""
