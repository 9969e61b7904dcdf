"""One streamed pass: probability windows -> rate / uncertainty rasters and per-site sums."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import AtomicOutputs, check_writable, refuse_inputs_as_outputs
from ..errors import InputError
from ..feedback import Feedback
from ..geo.write import PRODUCT_TAG
from . import rate as rate_mod
from . import sites as sites_mod
from .coefficients import default_scale, match_classes, read_coefficients


#: GDAL block cache for a run, in MB (several windows of every band, in and out).
GDAL_CACHE_MB = 128


@dataclass(frozen=True)
class CarbonationConfig:
    """Parameters of a carbonation run.

    Attributes:
        coefficients_path: coefficient CSV; None for the shipped table.
        scale_t_co2_per_ha_yr: SCALE (t CO2 ha-1 yr-1 per unit coefficient); None for the
            documented default (basalt anchor, see METHODS.md).
        site_id_field: attribute identifying a site.
        block_px: side of the processing windows (memory is O(block_px^2 * classes)).
    """

    coefficients_path: str | None = None
    scale_t_co2_per_ha_yr: float | None = None
    site_id_field: str = "site_id"
    block_px: int = 512


@dataclass(frozen=True)
class CarbonationResult:
    """What a run produced (paths are final paths; None when not requested)."""

    rate_path: str | None
    uncertainty_path: str | None
    sites_path: str | None
    total_t_co2_yr: float | None
    raster_total_t_co2_yr: float | None
    matched: tuple[str, ...]
    unmatched: tuple[str, ...]
    unused: tuple[str, ...]
    scale: float
    site_records: list[dict[str, Any]]


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_carbonation(probabilities: str | os.PathLike[str], *, output_rate: str | None,
                    output_uncertainty: str | None = None, sites: str | None = None,
                    output_sites: str | None = None,
                    config: CarbonationConfig = CarbonationConfig(),
                    feedback: Feedback | None = None) -> CarbonationResult:
    """Rate and uncertainty rasters and, with ``sites``, the per-site GeoPackage.

    All outputs are atomic: a failure or cancellation leaves none of them.

    Raises:
        InputError: bad probability raster, coefficient table, sites or parameters.
    """
    feedback = feedback or Feedback()
    if not (output_rate or output_uncertainty or output_sites):
        raise InputError("No output requested; give at least the rate raster output.")
    if output_sites and not sites:
        raise InputError("A sites output was requested without a sites layer; give the sites "
                         "polygons or leave the sites output empty.")
    refuse_inputs_as_outputs([str(probabilities), sites, config.coefficients_path],
                             [output_rate, output_uncertainty, output_sites])
    for out in (output_rate, output_uncertainty, output_sites):
        if out:
            check_writable(out)
    if output_sites and Path(output_sites).suffix.lower() != ".gpkg":
        raise InputError(f"The sites output '{output_sites}' must be a GeoPackage (.gpkg).")

    table = read_coefficients(config.coefficients_path)
    scale = config.scale_t_co2_per_ha_yr
    if scale is None:
        scale = default_scale()
    if not np.isfinite(scale) or scale <= 0:
        raise InputError(f"SCALE must be a positive number of t CO2 ha-1 yr-1; got {scale}.")
    info = rate_mod.inspect_probabilities(probabilities, feedback)
    match = match_classes(table, info.class_names)
    if not match.matched:
        raise InputError(
            "None of the raster's classes (" + ", ".join(info.class_names) + ") is in the "
            f"coefficient table '{Path(table.path).name}'; add rows for them.")
    if match.missing_in_table:
        feedback.warning("Classes of the raster without a coefficient (counted as 0): "
                         + ", ".join(match.missing_in_table) + ".")
    if match.missing_in_raster:
        feedback.warning("Coefficient-table classes not in the raster (unused): "
                         + ", ".join(match.missing_in_raster) + ".")
    table_sha = _sha256(table.path)
    coeff_json = json.dumps(dict(zip(info.class_names, match.coefficients.tolist())))
    feedback.info(f"SCALE = {scale:.6g} t CO2 ha-1 yr-1 per unit coefficient; coefficients: "
                  f"{coeff_json} (table {Path(table.path).name}, sha256 {table_sha[:12]}).")

    k = len(info.class_names)
    # Pixel areas give the whole-raster total even without sites; only site totals need them.
    try:
        area_model = sites_mod.pixel_area_model(info.crs, info.transform)
    except InputError as exc:
        if sites:
            raise
        feedback.warning(f"No whole-raster total: {exc}")
        area_model = None
    layer = None
    if sites:
        layer = sites_mod.read_sites(sites, info.crs, info.transform, k, config.site_id_field,
                                     feedback)
        shared = sites_mod.overlap_share(layer)
        if shared > 1e-9:
            feedback.warning(
                f"Sites overlap ({100 * shared:.3g} % of their summed area): each site reports "
                "its own total, so TOTAL_T_CO2_PER_YR counts overlapping areas more than once.")
    tags = {PRODUCT_TAG: "carbonation_rate", "CMKD_SCALE_T_CO2_PER_HA_YR": repr(float(scale)),
            "CMKD_COEFFICIENTS": coeff_json, "CMKD_COEFFICIENT_TABLE_SHA256": table_sha,
            "CMKD_FORMULA": "rate = SCALE * sum_k p_k c_k; sd = SCALE * sqrt(sum_k p_k "
                            "(c_k - sum_j p_j c_j)^2)",
            "CMKD_SOURCE_PROBABILITIES": Path(str(probabilities)).name}

    import rasterio
    import rasterio.errors
    from rasterio.enums import Resampling

    from ..geo.write import build_overviews, gtiff_profile

    max_rate = scale * float(match.coefficients.max())
    total = 0.0
    raster_total = 0.0
    sum_off = 0
    valid_pixels = 0
    # GDAL's block cache defaults to 5 % of RAM and would grow with the raster; a fixed cache
    # keeps the whole run's memory independent of the raster size.
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), AtomicOutputs() as outs:
        paths = {key: outs.add(p) for key, p in (("rate", output_rate),
                                                   ("sd", output_uncertainty),
                                                   ("sites", output_sites)) if p}
        profile = gtiff_profile(width=info.width, height=info.height, count=1, dtype="float32",
                                crs=info.crs, transform=info.transform, nodata=float("nan"))
        dsts: dict[str, Any] = {}
        try:
            for key, band in (("rate", rate_mod.RATE_BAND), ("sd", rate_mod.UNCERTAINTY_BAND)):
                if key in paths:
                    dst = rasterio.open(paths[key], "w", **profile)
                    dsts[key] = dst
                    dst.set_band_description(1, band)
                    dst.set_band_unit(1, rate_mod.RATE_UNIT)
                    dst.update_tags(**tags)
            windows = list(rate_mod.block_windows(info.width, info.height, config.block_px))
            with rasterio.open(str(probabilities)) as src:
                for i, win in enumerate(windows):
                    feedback.check_cancelled()
                    try:
                        probs = src.read(window=win.to_rasterio()).astype(np.float64)
                    except rasterio.errors.RasterioIOError as exc:
                        # The header opened; a block is cut off (interrupted copy/download).
                        raise InputError(
                            f"Probability raster '{Path(str(probabilities)).name}' cannot be "
                            f"read: the file is damaged or truncated ({exc}). Copy or export "
                            "it again.") from None
                    valid = rate_mod.valid_mask(probs, info.nodata)
                    outside = probs[:, valid]
                    outside = outside[(outside < -rate_mod.SUM_TOLERANCE)
                                      | (outside > 1.0 + rate_mod.SUM_TOLERANCE)]
                    if outside.size:
                        # A negative "probability" would give a negative CO2 uptake that still
                        # adds into the site totals; such a raster is not a probability raster.
                        raise InputError(
                            f"Probability raster '{Path(str(probabilities)).name}' has values "
                            f"outside 0..1 (e.g. {float(outside[0]):.6g}); give the "
                            "probabilities written by classify, not another raster.")
                    valid_pixels += int(valid.sum())
                    rate, sd = rate_mod.rate_and_uncertainty(probs, match.coefficients, scale,
                                                             valid)
                    sums = probs[:, valid].sum(axis=0)
                    sum_off += int((np.abs(sums - 1.0) > rate_mod.SUM_TOLERANCE).sum())
                    if "rate" in dsts:
                        dsts["rate"].write(rate.astype(np.float32)[None], window=win.to_rasterio())
                    if "sd" in dsts:
                        dsts["sd"].write(sd.astype(np.float32)[None], window=win.to_rasterio())
                    if area_model is not None:
                        rows_ha = area_model.row_areas_ha(win.row_off, win.height)
                        raster_total += float((np.where(valid, rate, 0.0)
                                               * rows_ha[:, None]).sum())
                    if layer is not None:
                        for site in layer.sites:
                            if site.touches(win):
                                sites_mod.accumulate(site, win, rows_ha, valid, rate, sd, probs)
                    feedback.progress(90.0 * (i + 1) / len(windows))
            if valid_pixels == 0:
                feedback.warning(
                    f"No pixel of '{Path(str(probabilities)).name}' has valid probabilities "
                    "(all nodata, NaN or infinite): the rate rasters are all nodata and every "
                    "total is 0.")
            for key, dst in dsts.items():
                build_overviews(dst, Resampling.average)
                dst.close()
        finally:
            for dst in dsts.values():
                if not dst.closed:
                    dst.close()
        if "rate" in paths:
            paths["rate"].with_suffix(".qml").write_text(
                rate_mod.pseudocolour_qml(rate_mod.RATE_BAND, max_rate), encoding="utf-8")
        if "sd" in paths:
            paths["sd"].with_suffix(".qml").write_text(
                rate_mod.pseudocolour_qml(rate_mod.UNCERTAINTY_BAND, max_rate / 2.0),
                encoding="utf-8")
        records: list[dict[str, Any]] = []
        if layer is not None:
            records = sites_mod.site_records(layer, info.class_names, match.coefficients, scale)
            total = float(sum(r["total_t_co2_yr"] for r in records))
            for r in records:
                if r["status"] in ("no_overlap", "no_valid_pixels", "empty_geometry"):
                    feedback.warning(f"Site {r['site_id']}: {r['status'].replace('_', ' ')}; "
                                     "its totals are 0 (valid_fraction 0).")
            if "sites" in paths:
                sites_mod.write_sites(paths["sites"], layer, records, {
                    "scale_t_co2_ha_yr_per_unit": scale,
                    "coefficient_table_sha256": table_sha})
        if sum_off:
            feedback.warning(f"{sum_off} valid pixel(s) have probabilities that do not sum to 1 "
                             f"(tolerance {rate_mod.SUM_TOLERANCE}); the rate uses them as given.")
        feedback.progress(100.0)
    return CarbonationResult(
        rate_path=output_rate, uncertainty_path=output_uncertainty,
        sites_path=output_sites, total_t_co2_yr=total if layer is not None else None,
        raster_total_t_co2_yr=raster_total if area_model is not None else None,
        matched=match.matched,
        unmatched=match.missing_in_table, unused=match.missing_in_raster,
        scale=scale, site_records=records)
