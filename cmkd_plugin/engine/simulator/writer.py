"""Write a simulated :class:`.scene.Scene` as one atomic group of files."""

from __future__ import annotations

from typing import Any

from ..atomic import AtomicOutputs
from ..feedback import Feedback
from ..geo import write as gw
from .config import OutputPaths
from .preview import write_preview

LABELS_LAYER = "labels"
ZONE_LAYER = "labelled_zone"


def write_scene(scene, outputs: OutputPaths, feedback: Feedback) -> dict[str, Any]:
    """Write every output of ``scene``; on failure or cancel nothing is left behind.

    Returns:
        The engine result: ``OUTPUT_*`` paths and ``CLASSES`` (class names in index order).
    """
    import geopandas as gpd
    from shapely.geometry import Point

    names = scene.preset.class_names()
    colours = [c.colour for c in scene.preset.classes]
    crs = scene.preset.crs
    with AtomicOutputs() as outs:
        tmp = outs.add(outputs.rgb)
        gw.write_rgb_raster(tmp, scene.rgb, crs=crs, transform=scene.rgb_grid.transform,
                            tags=scene.rgb_tags)
        feedback.progress(15)
        feedback.check_cancelled()
        tmp = outs.add(outputs.hsi)
        gw.write_hyperspectral(tmp, scene.hsi, crs=scene.hsi_grid.crs,
                               transform=scene.hsi_grid.transform,
                               wavelengths_nm=scene.hsi_bands.centres_nm,
                               fwhm_nm=scene.hsi_bands.fwhm_nm, fmt=scene.config.hsi_format,
                               good_bands=scene.good_bands, tags=scene.hsi_tags)
        feedback.progress(45)
        feedback.check_cancelled()
        tmp = outs.add(outputs.dem)
        gw.write_float_raster(tmp, scene.dem, crs=crs, transform=scene.dem_grid.transform,
                              band_names=["elevation"], nodata=-9999.0, units="m",
                              tags={"CMKD_PRESET": scene.preset.name,
                                    "CMKD_SEED": str(scene.config.seed)})
        tmp = outs.add(outputs.truth)
        gw.write_class_raster(tmp, scene.truth, crs=crs, transform=scene.rgb_grid.transform,
                              class_names=names, colours=colours)
        feedback.progress(60)
        feedback.check_cancelled()

        labels = gpd.GeoDataFrame(
            {"label_id": list(range(1, len(scene.labels_class) + 1)),
             "mineral": [names[int(k)] for k in scene.labels_class],
             "class_id": [int(k) for k in scene.labels_class]},
            geometry=[Point(float(x), float(y)) for x, y in scene.labels_xy], crs=crs)
        zone = gpd.GeoDataFrame({"zone_id": [1], "name": ["labelled zone (field traverse)"]},
                                geometry=[scene.zone], crs=crs)
        tmp = outs.add(outputs.labels)
        labels.to_file(tmp, layer=LABELS_LAYER, driver="GPKG")
        zone.to_file(tmp, layer=ZONE_LAYER, driver="GPKG")
        sites = gpd.GeoDataFrame(
            {"site_id": list(range(1, len(scene.sites) + 1)), "name": [s[1] for s in scene.sites]},
            geometry=[s[0] for s in scene.sites], crs=crs)
        tmp = outs.add(outputs.sites)
        sites.to_file(tmp, layer="sites", driver="GPKG")
        foot = gpd.GeoDataFrame(
            {"strip_id": [1], "heading_deg": [round(scene.strip_heading_deg, 2)],
             "gsd_m": [scene.config.hsi_gsd_m], "bands": [len(scene.hsi_bands.centres_nm)]},
            geometry=[scene.footprint], crs=scene.hsi_grid.crs)
        tmp = outs.add(outputs.footprint)
        foot.to_file(tmp, layer="footprint", driver="GPKG")
        feedback.progress(75)
        feedback.check_cancelled()
        tmp = outs.add(outputs.preview)
        write_preview(tmp, scene)
        feedback.progress(100)
    result: dict[str, Any] = outputs.as_result()
    result["CLASSES"] = names
    return result
