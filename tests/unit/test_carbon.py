"""Carbonation rate and per-site CO2 uptake checked against independent computations.

Probability rasters are written by rasterio to ``tmp_path``; the reference values are computed
here by other routes (per-pixel loops with ``E[c^2] - mu^2``, analytic rectangle overlaps,
brute-force shapely intersections over every pixel, geodesic areas of pixel pieces by
``pyproj.Geod``), never by the engine's own helpers.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

import geopandas as gpd  # noqa: E402
import pyproj  # noqa: E402
import rasterio  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402
from shapely.geometry import MultiPolygon, Point, Polygon, box  # noqa: E402

from cmkd_plugin.engine.carbon.coefficients import (  # noqa: E402
    ANCHOR_RATE_T_CO2_PER_HA_YR, default_scale, read_coefficients)
from cmkd_plugin.engine.carbon.pipeline import CarbonationConfig, run_carbonation  # noqa: E402
from cmkd_plugin.engine.errors import CancelledError, InputError  # noqa: E402
from cmkd_plugin.engine.feedback import Feedback  # noqa: E402

NAMES = ["olivine", "serpentine", "basalt", "soil"]
COEFS = {"olivine": 0.85, "serpentine": 0.45, "basalt": 0.28, "soil": 0.0}
SCALE = 13.0
UTM = "EPSG:32633"
X0, Y0, GSD = 500000.0, 5000000.0, 10.0
ROWS, COLS = 40, 30
REL = 1e-6


# ----------------------------------------------------------------------------- helpers
def _probs(rows: int = ROWS, cols: int = COLS, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(len(NAMES), 0.7), size=(rows, cols)).transpose(2, 0, 1)


def _write_probs(path: Path, probs: np.ndarray, *, crs=UTM, transform=None, names=NAMES,
                 tag: bool = True) -> Path:
    transform = transform or from_origin(X0, Y0, GSD, GSD)
    k, h, w = probs.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=k, dtype="float32",
                       crs=crs, transform=transform, nodata=float("nan")) as dst:
        dst.write(probs.astype(np.float32))
        for i, n in enumerate(names, start=1):
            if n is not None:
                dst.set_band_description(i, n)
        if tag:
            dst.update_tags(CMKD_PRODUCT="probabilities")
    return path


def _table(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "coef.csv"
    lines = ["class,coefficient,unit,source"] + [
        f"{n},{c},relative,test value" for n, c in COEFS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _stored(probs: np.ndarray) -> np.ndarray:
    # The raster stores float32; references use exactly what the engine reads.
    return probs.astype(np.float32).astype(np.float64)


def _ref_pixel(p: np.ndarray, scale: float = SCALE) -> tuple[float, float]:
    """Rate and sd of one pixel by a loop, variance as E[c^2] - mu^2."""
    c = [COEFS[n] for n in NAMES]
    mu = sum(pi * ci for pi, ci in zip(p, c))
    ec2 = sum(pi * ci * ci for pi, ci in zip(p, c))
    return scale * mu, scale * math.sqrt(max(ec2 - mu * mu, 0.0))


def _sites(path: Path, geoms: list, ids: list, crs=UTM) -> Path:
    gpd.GeoDataFrame({"site_id": ids}, geometry=geoms, crs=crs).to_file(path, driver="GPKG")
    return path


def _run(tmp_path: Path, probs_path: Path, sites_path: Path | None = None, **kw):
    warnings: list[str] = []
    fb = Feedback(on_warning=warnings.append)
    out = tmp_path / "out"
    result = run_carbonation(
        probs_path, output_rate=str(out / "rate.tif"), output_uncertainty=str(out / "sd.tif"),
        sites=str(sites_path) if sites_path else None,
        output_sites=str(out / "sites.gpkg") if sites_path else None,
        config=CarbonationConfig(coefficients_path=str(_table(tmp_path)),
                                 scale_t_co2_per_ha_yr=SCALE, **kw),
        feedback=fb)
    return result, warnings, out


def _records(result) -> dict:
    return {r["site_id"]: r for r in result.site_records}


def _close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(abs(b), 1e-12)


def _projected_reference(probs: np.ndarray, site, valid: np.ndarray, transform=None,
                         unit_m: float = 1.0) -> dict:
    """Brute force over every pixel: exact shapely intersection with each pixel's box."""
    transform = transform or from_origin(X0, Y0, GSD, GSD)
    p = _stored(probs)
    covered = valid_area = total = sd_sum = sd_sq = 0.0
    class_area = np.zeros(len(NAMES))
    for r in range(p.shape[1]):
        for c in range(p.shape[2]):
            # The pixel as the polygon of its four corners (also right for rotated grids).
            pixel = Polygon([transform * (c + i, r + j) for i, j in ((0, 0), (1, 0), (1, 1), (0, 1))])
            a_m2 = site.intersection(pixel).area * unit_m ** 2
            if a_m2 == 0:
                continue
            a_ha = a_m2 / 1e4
            covered += a_ha
            if not valid[r, c]:
                continue
            rate, sd = _ref_pixel(p[:, r, c])
            valid_area += a_ha
            total += a_ha * rate
            sd_sum += a_ha * sd
            sd_sq += (a_ha * sd) ** 2
            class_area += a_ha * p[:, r, c]
    return dict(covered=covered, valid_area=valid_area, total=total, sd_sum=sd_sum,
                sd_ind=math.sqrt(sd_sq), class_area=class_area, area=site.area * unit_m ** 2 / 1e4)


def _check_site(rec: dict, ref: dict) -> None:
    assert _close(rec["area_ha"], ref["area"])
    assert _close(rec["valid_area_ha"], ref["valid_area"])
    assert _close(rec["valid_fraction"], ref["valid_area"] / ref["area"])
    assert _close(rec["raster_fraction"], ref["covered"] / ref["area"])
    assert _close(rec["total_t_co2_yr"], ref["total"])
    assert _close(rec["mean_rate_t_co2_ha_yr"], ref["total"] / ref["valid_area"])
    assert _close(rec["total_uncertainty_t_co2_yr"], ref["sd_sum"])
    assert _close(rec["total_uncertainty_independent_t_co2_yr"], ref["sd_ind"])
    k = int(np.argmax(ref["class_area"]))
    assert rec["dominant_mineral"] == NAMES[k]
    assert _close(rec["dominant_mineral_share"], ref["class_area"][k] / ref["valid_area"])


# ----------------------------------------------------------------------------- rate raster
def test_rate_and_uncertainty_rasters_match_per_pixel_loop(tmp_path):
    probs = _probs()
    probs[:, 3:7, 2:9] = np.nan          # nodata block
    probs[2, 10, 10] = np.nan            # one band missing -> nodata pixel
    path = _write_probs(tmp_path / "p.tif", probs)
    result, _, out = _run(tmp_path, path)
    with rasterio.open(out / "rate.tif") as r, rasterio.open(out / "sd.tif") as s:
        rate, sd = r.read(1).astype(np.float64), s.read(1).astype(np.float64)
        assert r.units[0] == "t CO2 ha-1 yr-1"
        tags = r.tags()
        assert tags["CMKD_PRODUCT"] == "carbonation_rate"
        # Provenance a verifier recomputes from: the coefficients and SCALE actually used.
        import hashlib
        import json

        assert json.loads(tags["CMKD_COEFFICIENTS"]) == COEFS
        assert float(tags["CMKD_SCALE_T_CO2_PER_HA_YR"]) == SCALE
        assert tags["CMKD_COEFFICIENT_TABLE_SHA256"] == hashlib.sha256(
            (tmp_path / "coef.csv").read_bytes()).hexdigest()
    p = _stored(probs)
    valid = np.isfinite(p).all(axis=0)
    assert np.array_equal(np.isfinite(rate), valid) and np.array_equal(np.isfinite(sd), valid)
    for rr, cc in zip(*np.nonzero(valid)):
        ref_rate, ref_sd = _ref_pixel(p[:, rr, cc])
        # float32 storage of the outputs: relative 1e-6 is float32's resolution.
        assert abs(rate[rr, cc] - ref_rate) <= 1e-6 * max(ref_rate, 1e-3)
        assert abs(sd[rr, cc] - ref_sd) <= 1e-6 * max(ref_sd, 1e-3) + 1e-6
    assert result.raster_total_t_co2_yr == pytest.approx(
        sum(_ref_pixel(p[:, r_, c_])[0] for r_, c_ in zip(*np.nonzero(valid))) * 0.01, rel=REL)


def test_pure_pixels_have_zero_uncertainty_and_default_scale_anchors_basalt(tmp_path):
    probs = np.zeros((len(NAMES), 2, 2))
    probs[2] = 1.0  # pure basalt
    path = _write_probs(tmp_path / "p.tif", probs)
    out = tmp_path / "o.tif"
    result = run_carbonation(path, output_rate=str(out),
                             output_uncertainty=str(tmp_path / "sd.tif"))
    with rasterio.open(out) as r, rasterio.open(tmp_path / "sd.tif") as s:
        assert np.allclose(r.read(1), ANCHOR_RATE_T_CO2_PER_HA_YR, rtol=1e-6)
        assert np.all(s.read(1) == 0)
    basalt = read_coefficients().get("BASALT").coefficient
    assert result.scale == pytest.approx(ANCHOR_RATE_T_CO2_PER_HA_YR / basalt)
    assert default_scale() == result.scale


def test_declared_nodata_value_and_probabilities_not_summing_to_one(tmp_path):
    probs = _probs(seed=9) * 0.9   # sums to 0.9: used as given, reported
    probs[:, 0, :4] = -9999.0
    path = tmp_path / "p.tif"
    with rasterio.open(path, "w", driver="GTiff", width=COLS, height=ROWS, count=4,
                       dtype="float32", crs=UTM, transform=from_origin(X0, Y0, GSD, GSD),
                       nodata=-9999.0) as dst:
        dst.write(probs.astype(np.float32))
        for i, n in enumerate(NAMES, start=1):
            dst.set_band_description(i, n)
        dst.update_tags(CMKD_PRODUCT="probabilities")
    result, warnings, out = _run(tmp_path, path)
    with rasterio.open(out / "rate.tif") as r:
        rate = r.read(1).astype(np.float64)
    assert np.isnan(rate[0, :4]).all() and np.isfinite(rate[0, 4:]).all()
    p = _stored(probs)
    assert rate[5, 5] == pytest.approx(_ref_pixel(p[:, 5, 5])[0], rel=1e-6)
    assert any(f"{ROWS * COLS - 4} valid pixel(s) have probabilities that do not sum to 1" in w
               for w in warnings)


def test_windowing_does_not_change_any_number(tmp_path):
    probs = _probs(37, 29, seed=3)
    path = _write_probs(tmp_path / "p.tif", probs)
    site = Polygon([(X0 + 13, Y0 - 17), (X0 + 270, Y0 - 95), (X0 + 180, Y0 - 352)])
    sites = _sites(tmp_path / "s.gpkg", [site], ["t"])
    small, _, out_s = _run(tmp_path / "a", path, sites, block_px=16)
    big, _, out_b = _run(tmp_path / "b", path, sites, block_px=512)
    with rasterio.open(out_s / "rate.tif") as a, rasterio.open(out_b / "rate.tif") as b:
        assert np.array_equal(a.read(), b.read(), equal_nan=True)
    assert _close(small.site_records[0]["total_t_co2_yr"], big.site_records[0]["total_t_co2_yr"],
                  1e-12)


# ----------------------------------------------------------------------------- sites
def test_site_half_over_nodata_matches_analytic_rectangle_overlaps(tmp_path):
    probs = _probs()
    probs[:, :, :15] = np.nan  # left half nodata: x < X0 + 150
    path = _write_probs(tmp_path / "p.tif", probs)
    x_a, x_b, y_a, y_b = X0 + 73.3, X0 + 231.7, Y0 - 349.8, Y0 - 122.1
    sites = _sites(tmp_path / "s.gpkg", [box(x_a, y_a, x_b, y_b)], ["half"])
    result, _, _ = _run(tmp_path, path, sites)
    rec = _records(result)["half"]
    # Independent: overlap lengths along x and y for each pixel (rectangles only).
    p = _stored(probs)
    total = valid_area = 0.0
    for r in range(ROWS):
        oy = max(0.0, min(Y0 - r * GSD, y_b) - max(Y0 - (r + 1) * GSD, y_a))
        for c in range(COLS):
            ox = max(0.0, min(X0 + (c + 1) * GSD, x_b) - max(X0 + c * GSD, x_a))
            if ox * oy and np.isfinite(p[:, r, c]).all():
                valid_area += ox * oy / 1e4
                total += ox * oy / 1e4 * _ref_pixel(p[:, r, c])[0]
    area = (x_b - x_a) * (y_b - y_a) / 1e4
    assert _close(rec["area_ha"], area)
    assert _close(rec["valid_area_ha"], valid_area)
    assert _close(rec["valid_fraction"], (x_b - X0 - 150) / (x_b - x_a))
    assert _close(rec["total_t_co2_yr"], total)
    assert _close(rec["raster_fraction"], 1.0)
    assert rec["status"] == "partial"
    _check_site(rec, _projected_reference(probs, box(x_a, y_a, x_b, y_b),
                                          np.isfinite(p).all(axis=0)))


def test_site_straddling_raster_edge_and_irregular_polygon_with_hole(tmp_path):
    probs = _probs(seed=5)
    path = _write_probs(tmp_path / "p.tif", probs)
    edge = box(X0 + 211.4, Y0 - 455.5, X0 + 377.7, Y0 - 301.2)   # beyond right and bottom edges
    shell = [(X0 + 21.3, Y0 - 33.1), (X0 + 187.9, Y0 - 12.6), (X0 + 240.2, Y0 - 171.7),
             (X0 + 96.6, Y0 - 288.4), (X0 + 5.5, Y0 - 140.0)]
    hole = [(X0 + 80.2, Y0 - 90.7), (X0 + 140.9, Y0 - 95.3), (X0 + 110.1, Y0 - 150.6)]
    # A hole thinner than a pixel row stays a hole (interior ring) inside its row strip.
    small_hole = [(X0 + 150.2, Y0 - 201.5), (X0 + 152.9, Y0 - 201.7), (X0 + 151.1, Y0 - 203.8)]
    odd = Polygon(shell, [hole, small_hole])
    sites = _sites(tmp_path / "s.gpkg", [edge, odd], ["edge", "odd"])
    result, _, _ = _run(tmp_path, path, sites)
    recs = _records(result)
    valid = np.isfinite(_stored(probs)).all(axis=0)
    ref_edge = _projected_reference(probs, edge, valid)
    _check_site(recs["edge"], ref_edge)
    assert recs["edge"]["raster_fraction"] < 0.5 and recs["edge"]["status"] == "partial"
    _check_site(recs["odd"], _projected_reference(probs, odd, valid))
    assert recs["odd"]["status"] == "ok"
    assert result.total_t_co2_yr == pytest.approx(
        recs["edge"]["total_t_co2_yr"] + recs["odd"]["total_t_co2_yr"], rel=1e-12)


def test_site_in_another_crs_is_reprojected(tmp_path):
    probs = _probs(seed=7)
    path = _write_probs(tmp_path / "p.tif", probs)
    rect = box(X0 + 33.3, Y0 - 277.7, X0 + 222.2, Y0 - 44.4)
    to_ll = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    ll = Polygon([to_ll.transform(x, y) for x, y in rect.exterior.coords])
    sites = _sites(tmp_path / "s.gpkg", [ll], ["ll"], crs="EPSG:4326")
    result, _, _ = _run(tmp_path, path, sites)
    _check_site(_records(result)["ll"],
                _projected_reference(probs, rect, np.isfinite(_stored(probs)).all(axis=0)))


def test_geographic_raster_uses_ellipsoidal_pixel_areas(tmp_path):
    lon0, lat0, d = 10.0, 46.0, 0.001
    transform = from_origin(lon0, lat0, d, d)
    probs = _probs(seed=11)
    probs[:, 30:, :] = np.nan
    path = _write_probs(tmp_path / "p.tif", probs, crs="EPSG:4326", transform=transform)
    lo_a, lo_b, la_a, la_b = lon0 + 0.00337, lon0 + 0.02513, lat0 - 0.03441, lat0 - 0.00219
    site = box(lo_a, la_a, lo_b, la_b)
    sites = _sites(tmp_path / "s.gpkg", [site], ["geo"], crs="EPSG:4326")
    result, _, _ = _run(tmp_path, path, sites)
    rec = _records(result)["geo"]
    geod = pyproj.Geod(ellps="WGS84")
    p = _stored(probs)
    total = valid_area = whole_raster = 0.0
    for r in range(ROWS):
        top, bottom = lat0 - r * d, lat0 - (r + 1) * d
        pixel_ha = abs(geod.polygon_area_perimeter(
            [lon0, lon0 + d, lon0 + d, lon0], [bottom, bottom, top, top])[0]) / 1e4
        for c in range(COLS):
            if not np.isfinite(p[:, r, c]).all():
                continue
            rate = _ref_pixel(p[:, r, c])[0]
            whole_raster += pixel_ha * rate
            x_lo, x_hi = max(lon0 + c * d, lo_a), min(lon0 + (c + 1) * d, lo_b)
            y_lo, y_hi = max(bottom, la_a), min(top, la_b)
            if x_hi <= x_lo or y_hi <= y_lo:
                continue
            # Exact ellipsoidal area of the covered piece of the pixel.
            piece_ha = abs(geod.polygon_area_perimeter([x_lo, x_hi, x_hi, x_lo],
                                                       [y_lo, y_lo, y_hi, y_hi])[0]) / 1e4
            valid_area += piece_ha
            total += piece_ha * rate
    site_ha = abs(geod.geometry_area_perimeter(site)[0]) / 1e4
    assert _close(rec["area_ha"], site_ha)
    assert _close(rec["valid_area_ha"], valid_area)
    assert _close(rec["total_t_co2_yr"], total)
    assert _close(rec["valid_fraction"], valid_area / site_ha)
    assert _close(result.raster_total_t_co2_yr, whole_raster)
    assert 0.5 < rec["valid_fraction"] < 1.0


def test_rotated_grid_and_feet_crs(tmp_path):
    from affine import Affine

    # A grid rotated by 30 degrees in a metre CRS.
    rotated = Affine.translation(X0, Y0) * Affine.rotation(30.0) * Affine.scale(GSD, -GSD)
    probs = _probs(seed=8)
    path = _write_probs(tmp_path / "rot.tif", probs, transform=rotated)
    site = Polygon([(X0 + 40.3, Y0 - 60.7), (X0 + 230.1, Y0 - 20.2), (X0 + 170.9, Y0 - 260.4)])
    result, _, _ = _run(tmp_path / "rot", path, _sites(tmp_path / "rot.gpkg", [site], ["r"]))
    valid = np.isfinite(_stored(probs)).all(axis=0)
    _check_site(_records(result)["r"], _projected_reference(probs, site, valid, rotated))
    # New York Long Island state plane: US survey feet (1 ft = 1200/3937 m).
    ft = 1200.0 / 3937.0
    t_ft = from_origin(1_000_000.0, 200_000.0, 30.0, 30.0)
    path = _write_probs(tmp_path / "ft.tif", probs, crs="EPSG:2263", transform=t_ft)
    site = box(1_000_000.0 + 95.5, 200_000.0 - 700.2, 1_000_000.0 + 611.1, 200_000.0 - 123.4)
    result, _, _ = _run(tmp_path / "ft", path,
                        _sites(tmp_path / "ft.gpkg", [site], ["f"], crs="EPSG:2263"))
    _check_site(_records(result)["f"], _projected_reference(probs, site, valid, t_ft, ft))


@pytest.mark.parametrize("crs, geoms, pattern", [
    (None, [box(X0, Y0 - 50, X0 + 50, Y0)], "no coordinate reference system"),
    (UTM, [Point(X0 + 5, Y0 - 5)], "Point geometries; sites must be polygons"),
])
def test_unusable_site_layers_are_refused(tmp_path, crs, geoms, pattern):
    path = _write_probs(tmp_path / "p.tif", _probs())
    sites = tmp_path / "s.gpkg"
    gpd.GeoDataFrame({"site_id": ["a"]}, geometry=geoms, crs=crs).to_file(sites, driver="GPKG")
    with pytest.raises(InputError, match=pattern):
        _run(tmp_path, path, sites)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_memory_does_not_grow_with_raster_size(tmp_path):
    import tracemalloc

    peaks = []
    for rows, cols in ((64, 64), (512, 384)):
        path = _write_probs(tmp_path / f"p{rows}.tif", _probs(rows, cols, seed=1))
        sites = _sites(tmp_path / f"s{rows}.gpkg",
                       [box(X0 + 3.3, Y0 - rows * GSD + 7.7, X0 + cols * GSD - 5.5, Y0 - 2.2)], ["all"])
        tracemalloc.start()
        _run(tmp_path / f"o{rows}", path, sites, block_px=64)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 48x more pixels; one window of 64 x 64 px x 4 classes is ~130 kB in float64.
    assert peaks[1] < 1.5 * peaks[0] + 2_000_000, peaks


def test_no_overlap_site_reported_with_zero_coverage(tmp_path):
    path = _write_probs(tmp_path / "p.tif", _probs())
    far = box(X0 + 5000, Y0 + 5000, X0 + 5100, Y0 + 5100)
    inside = box(X0 + 10, Y0 - 100, X0 + 50, Y0 - 20)
    sites = _sites(tmp_path / "s.gpkg", [far, inside], [1, 2])
    result, warnings, out = _run(tmp_path, path, sites)
    rec = _records(result)[1]
    assert rec["status"] == "no_overlap"
    assert rec["valid_fraction"] == 0 and rec["total_t_co2_yr"] == 0
    assert rec["mean_rate_t_co2_ha_yr"] is None and rec["dominant_mineral"] is None
    assert rec["area_ha"] == pytest.approx(1.0)
    assert any("no overlap" in w for w in warnings)
    written = gpd.read_file(out / "sites.gpkg")
    assert list(written["site_id"]) == [1, 2]
    assert written.loc[0, "valid_fraction"] == 0
    assert _records(result)[2]["total_t_co2_yr"] > 0


def test_invalid_geometry_is_repaired_and_reported(tmp_path):
    probs = _probs(seed=2)
    path = _write_probs(tmp_path / "p.tif", probs)
    bowtie = Polygon([(X0 + 20, Y0 - 20), (X0 + 200, Y0 - 200), (X0 + 200, Y0 - 20),
                      (X0 + 20, Y0 - 200)])
    assert not bowtie.is_valid
    sites = _sites(tmp_path / "s.gpkg", [bowtie], ["bow"])
    result, warnings, _ = _run(tmp_path, path, sites)
    assert any("Repaired 1 invalid" in w and "bow" in w for w in warnings)
    # The two triangles meeting at the crossing point, written out by hand.
    repaired = MultiPolygon([
        Polygon([(X0 + 20, Y0 - 20), (X0 + 110, Y0 - 110), (X0 + 20, Y0 - 200)]),
        Polygon([(X0 + 110, Y0 - 110), (X0 + 200, Y0 - 200), (X0 + 200, Y0 - 20)])])
    assert repaired.area == pytest.approx(2 * 0.5 * 180 * 90)
    _check_site(_records(result)["bow"],
                _projected_reference(probs, repaired, np.isfinite(_stored(probs)).all(axis=0)))


def test_overlapping_sites_are_each_complete_and_reported(tmp_path):
    probs = _probs(seed=4)
    path = _write_probs(tmp_path / "p.tif", probs)
    a = box(X0 + 10.5, Y0 - 150.5, X0 + 150.5, Y0 - 10.5)
    b = box(X0 + 80.5, Y0 - 220.5, X0 + 220.5, Y0 - 80.5)  # shares a 70 m x 70 m square with a
    result, warnings, _ = _run(tmp_path, path, _sites(tmp_path / "s.gpkg", [a, b], ["a", "b"]))
    valid = np.isfinite(_stored(probs)).all(axis=0)
    for key, geom in (("a", a), ("b", b)):
        _check_site(_records(result)[key], _projected_reference(probs, geom, valid))
    share = 70 * 70 / (2 * 140 * 140)
    assert any(f"{100 * share:.3g} %" in w and "more than once" in w for w in warnings)


def test_qgis_layer_source_selects_the_layer(tmp_path):
    probs = _probs(seed=12)
    path = _write_probs(tmp_path / "p.tif", probs)
    gpkg = tmp_path / "two.gpkg"
    a = box(X0 + 12.5, Y0 - 88.5, X0 + 77.5, Y0 - 11.5)
    b = box(X0 + 101.5, Y0 - 201.5, X0 + 187.5, Y0 - 123.5)
    gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[a], crs=UTM).to_file(gpkg, layer="first")
    gpd.GeoDataFrame({"site_id": ["b"]}, geometry=[b], crs=UTM).to_file(gpkg, layer="second")
    result, _, _ = _run(tmp_path, path, f"{gpkg}|layername=second")
    assert list(_records(result)) == ["b"]
    _check_site(_records(result)["b"],
                _projected_reference(probs, b, np.isfinite(_stored(probs)).all(axis=0)))


def test_missing_explicit_site_id_field_names_the_fields(tmp_path):
    path = _write_probs(tmp_path / "p.tif", _probs())
    sites = _sites(tmp_path / "s.gpkg", [box(X0, Y0 - 50, X0 + 50, Y0)], ["a"])
    with pytest.raises(InputError, match="no field 'plot'.*site_id"):
        _run(tmp_path, path, sites, site_id_field="plot")


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("names", [[None] * 4, ["olivine", "olivine", "basalt", "soil"]])
def test_not_a_probability_raster_is_refused(tmp_path, names):
    path = _write_probs(tmp_path / "p.tif", _probs(), names=names, tag=False)
    with pytest.raises(InputError, match="not a CMKD probability raster"):
        _run(tmp_path, path)
    assert not (tmp_path / "out" / "rate.tif").exists()


def test_untagged_raster_with_class_names_is_used_with_a_warning(tmp_path):
    path = _write_probs(tmp_path / "p.tif", _probs(), names=["Olivine", "SERPENTINE", "basalt",
                                                             "lichen"], tag=False)
    result, warnings, _ = _run(tmp_path, path)
    assert any("no CMKD_PRODUCT" in w for w in warnings)
    assert result.matched == ("Olivine", "SERPENTINE", "basalt")  # case-insensitive
    assert result.unmatched == ("lichen",) and result.unused == ("soil",)
    assert any("lichen" in w for w in warnings) and any("soil" in w for w in warnings)


@pytest.mark.parametrize("text, pattern", [
    ("class,coefficient,source\nolivine,0.85,x\n", r"line 1 \(header\).*'unit'"),
    ("class,coefficient,unit,source\nolivine,0.85,relative,x\n# comment\nbasalt,high,relative,y\n",
     r"line 4, column 'coefficient': 'high'"),
    ("class,coefficient,unit,source\nolivine,,relative,x\n", r"line 2, column 'coefficient'"),
    ("class,coefficient,unit,source\nolivine,-1,relative,x\n", r"line 2, column 'coefficient'"),
    ("class,coefficient,unit,source\nolivine,0.8,relative,\n", r"line 2, column 'source'"),
    ("class,coefficient,unit,source\nolivine,0.8,relative,a\nOLIVINE,0.7,relative,b\n",
     r"line 3, column 'class'.*line 2"),
    ("class,coefficient,unit,source,capacity_carbonate_t_co2_per_t_rock\n"
     "olivine,0.8,relative,a,lots\n", r"line 2, column 'capacity_carbonate_t_co2_per_t_rock'"),
    ("class,coefficient,unit,source\nolivine,0.8,relative,a\nbasalt,0.2,t/ha,b\n", "mixes units"),
])
def test_bad_coefficient_tables_name_line_and_column(tmp_path, text, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=pattern):
        read_coefficients(path)


def test_shipped_table_has_seed_values_and_a_source_for_every_row():
    table = read_coefficients()
    seeds = {"olivine": 0.85, "wollastonite": 0.92, "serpentine": 0.45, "basalt": 0.28}
    for name, value in seeds.items():
        assert table.get(name).coefficient == value
    for zero in ("calcite", "magnesite", "soil", "green_vegetation", "water"):
        assert table.get(zero).coefficient == 0
    assert all(row.source for row in table.rows)
    assert table.get("olivine").capacity_bicarbonate == "1.25"
    assert table.get("basalt").capacity_bicarbonate == "0.31-0.36"


# ----------------------------------------------------------------------------- atomic, styles
def test_cancelled_run_leaves_no_output(tmp_path):
    path = _write_probs(tmp_path / "p.tif", _probs())
    sites = _sites(tmp_path / "s.gpkg", [box(X0, Y0 - 100, X0 + 100, Y0)], ["a"])
    out = tmp_path / "out"
    out.mkdir()
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(CancelledError):
        run_carbonation(path, output_rate=str(out / "rate.tif"),
                        output_uncertainty=str(out / "sd.tif"), sites=str(sites),
                        output_sites=str(out / "sites.gpkg"),
                        config=CarbonationConfig(coefficients_path=str(_table(tmp_path)),
                                                 block_px=16),
                        feedback=Feedback(is_cancelled=cancelled))
    assert len(calls) == 3  # it did start writing windows before stopping
    assert list(out.iterdir()) == []


def test_qml_sidecars_parse_and_name_unit_and_field(tmp_path):
    path = _write_probs(tmp_path / "p.tif", _probs())
    sites = _sites(tmp_path / "s.gpkg", [box(X0, Y0 - 100, X0 + 100, Y0)], ["a"])
    _, _, out = _run(tmp_path, path, sites)
    rate = ET.parse(out / "rate.qml").getroot()
    renderer = rate.find(".//rasterrenderer")
    assert renderer.get("type") == "singlebandpseudocolor"
    labels = [i.get("label") for i in rate.iter("item")]
    assert len(labels) >= 2 and all("t CO2 ha-1 yr-1" in lab for lab in labels)
    assert float(renderer.get("classificationMax")) == pytest.approx(SCALE * 0.85)
    assert ET.parse(out / "sd.qml").getroot().find(".//rasterrenderer") is not None
    vec = ET.parse(out / "sites.qml").getroot()
    r2 = vec.find("renderer-v2")
    assert r2.get("type") == "graduatedSymbol" and r2.get("attr") == "total_t_co2_yr"
    assert len(r2.findall("./ranges/range")) == len(r2.findall("./symbols/symbol"))
    assert vec.get("labelsEnabled") == "1"
    assert '"site_id"' in vec.find(".//labeling/settings/text-style").get("fieldName")


def test_cli_command_returns_the_documented_outputs(tmp_path, capsys):
    from cmkd_plugin.engine.cli import main

    path = _write_probs(tmp_path / "p.tif", _probs())
    sites = _sites(tmp_path / "s.gpkg", [box(X0 + 5, Y0 - 95, X0 + 95, Y0 - 5)], ["a"])
    code = main(["--protocol", "jsonl", "carbonation", "--probabilities", str(path),
                 "--coefficients", str(_table(tmp_path)), "--scale", str(SCALE),
                 "--sites", str(sites), "--site-id-field", "site_id",
                 "--output-rate", str(tmp_path / "r.tif"),
                 "--output-uncertainty", str(tmp_path / "u.tif"),
                 "--output-sites", str(tmp_path / "s_out.gpkg")])
    assert code == 0
    import json

    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    outputs = next(m for m in lines if m.get("type") == "result")["outputs"]
    assert set(outputs) >= {"OUTPUT_RATE", "OUTPUT_UNCERTAINTY", "OUTPUT_SITES",
                            "TOTAL_T_CO2_PER_YR", "MATCHED_CLASSES", "UNMATCHED_CLASSES"}
    assert outputs["MATCHED_CLASSES"] == NAMES and outputs["UNMATCHED_CLASSES"] == []
    site_total = gpd.read_file(tmp_path / "s_out.gpkg")["total_t_co2_yr"].sum()
    assert outputs["TOTAL_T_CO2_PER_YR"] == pytest.approx(site_total, rel=1e-12)
    assert outputs["TOTAL_T_CO2_PER_YR"] > 0
