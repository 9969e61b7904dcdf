#!/usr/bin/env python3
"""Turn a `make demo` output folder into a QGIS project, a rendered map and an HTML report.

    .venv/bin/python scripts/demo_report.py demo-output [--device-power-w 15]

Writes ``cmkd-demo.qgz`` (every layer styled from its ``.qml`` sidecar, grouped Inputs / Teacher /
Student / Carbonation), ``map.png`` (QGIS's own renderer: student mineral map and carbonation
rate with site totals, legends, scale bars) and ``report.html`` (accuracy of teacher, student and
RGB-only baseline, confusion matrices, per-site uptake, timings, energy estimate).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsLayerTreeLayer,
    QgsLayoutExporter,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemMap,
    QgsLayoutItemScaleBar,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLegendStyle,
    QgsPrintLayout,
    QgsProject,
    QgsRasterLayer,
    QgsUnitTypes,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QFont  # noqa: E402

#: group -> [(relative path, layer name, visible)]; drawn top to bottom as listed.
LAYERS = {
    "Carbonation": [("carbon/site_uptake.gpkg", "Site CO2 uptake (t CO2/yr)", True),
                    ("carbon/rate.tif", "Carbonation rate (t CO2/ha/yr)", True),
                    ("carbon/uncertainty.tif", "Carbonation rate uncertainty", False)],
    "Student (RGB only)": [("student/classes.tif", "Student mineral classes", True),
                           ("student/confidence.tif", "Student confidence", False)],
    "Teacher (RGB + HSI + DEM)": [("teacher/classes.tif", "Teacher mineral classes", False),
                                  ("teacher/confidence.tif", "Teacher confidence", False)],
    "Inputs": [("scene/labels.gpkg|layername=labels", "Labelled points", False),
               ("scene/sites.gpkg", "Sites", False),
               ("scene/truth.tif", "Ground truth", False),
               ("scene/rgb.tif", "RGB image", True),
               ("scene/hsi.tif", "Hyperspectral image", False),
               ("scene/dem.tif", "Elevation model", False)],
}


def load_layer(out: Path, rel: str, name: str):
    path = str(out / rel)
    file_path = path.split("|")[0]
    if not Path(file_path).exists():
        return None
    is_vector = file_path.endswith(".gpkg")
    layer = QgsVectorLayer(path, name, "ogr") if is_vector else QgsRasterLayer(path, name)
    if not layer.isValid():
        raise SystemExit(f"cannot open {path}")
    qml = Path(file_path).with_suffix(".qml")
    if qml.exists():
        layer.loadNamedStyle(str(qml))
    return layer


def build_project(out: Path) -> dict[str, object]:
    project = QgsProject.instance()
    project.clear()
    root = project.layerTreeRoot()
    layers: dict[str, object] = {}
    for group_name, entries in LAYERS.items():
        group = root.addGroup(group_name)
        for rel, name, visible in entries:
            layer = load_layer(out, rel, name)
            if layer is None:
                continue
            project.addMapLayer(layer, False)
            node: QgsLayerTreeLayer = group.addLayer(layer)
            node.setItemVisibilityChecked(visible)
            layers[rel] = layer
    rgb = layers.get("scene/rgb.tif")
    if rgb is not None:
        project.setCrs(rgb.crs())
    project.setTitle("CMKD Survey demo: earth_carbonation")
    project.write(str(out / "cmkd-demo.qgz"))
    return layers


def _drop_band_title(legend, layer) -> None:
    """Raster legends start with a 'Band 1: …' node: readers want the classes only."""
    from qgis.core import QgsMapLayerLegendUtils

    node = legend.model().rootGroup().findLayer(layer)
    count = len(legend.model().layerLegendNodes(node))
    if isinstance(layer, QgsRasterLayer) and count > 1:
        QgsMapLayerLegendUtils.setLegendNodeOrder(node, list(range(1, count)))
        legend.model().refreshLayerLegend(node)


def _map_panel(layout, layers, extent, x, title, legend_layers, legend_columns):
    item = QgsLayoutItemMap(layout)
    item.attemptMove(QgsLayoutPoint(x, 22, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(135, 135, QgsUnitTypes.LayoutMillimeters))
    item.setLayers(layers)
    item.setExtent(extent)
    item.setFrameEnabled(True)
    layout.addLayoutItem(item)

    label = QgsLayoutItemLabel(layout)
    label.setText(title)
    label.setFont(QFont("DejaVu Sans", 12, QFont.Bold))
    label.attemptMove(QgsLayoutPoint(x, 14, QgsUnitTypes.LayoutMillimeters))
    label.attemptResize(QgsLayoutSize(135, 8, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(label)

    bar = QgsLayoutItemScaleBar(layout)
    bar.setLinkedMap(item)
    bar.applyDefaultSettings()
    bar.setStyle("Single Box")
    bar.setUnits(QgsUnitTypes.DistanceMeters)
    bar.setUnitLabel("m")
    bar.setNumberOfSegments(3)
    bar.setNumberOfSegmentsLeft(0)
    bar.setUnitsPerSegment(max(1.0, round(extent.width() / 6.0)))
    bar.attemptMove(QgsLayoutPoint(x, 160, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(bar)

    legend = QgsLayoutItemLegend(layout)
    legend.setLinkedMap(item)
    legend.setAutoUpdateModel(False)
    model_root = legend.model().rootGroup()
    model_root.removeAllChildren()
    for layer in legend_layers:
        model_root.addLayer(layer)
    for layer in legend_layers:
        _drop_band_title(legend, layer)
    legend.setTitle("")
    legend.setStyleFont(QgsLegendStyle.SymbolLabel, QFont("DejaVu Sans", 9))
    legend.setStyleFont(QgsLegendStyle.Subgroup, QFont("DejaVu Sans", 10, QFont.Bold))
    legend.setColumnCount(legend_columns)
    legend.setSplitLayer(True)
    legend.attemptMove(QgsLayoutPoint(x, 172, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(legend)
    return item


def render_map(out: Path, layers: dict[str, object]) -> Path:
    project = QgsProject.instance()
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    page = layout.pageCollection().page(0)
    page.setPageSize(QgsLayoutSize(297, 262, QgsUnitTypes.LayoutMillimeters))
    title = QgsLayoutItemLabel(layout)
    title.setText("CMKD Survey — minerals from RGB alone, and the CO2 they take up")
    title.setFont(QFont("DejaVu Sans", 15, QFont.Bold))
    title.attemptMove(QgsLayoutPoint(8, 4, QgsUnitTypes.LayoutMillimeters))
    title.attemptResize(QgsLayoutSize(280, 10, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(title)
    extent = layers["scene/rgb.tif"].extent()
    classes = layers["student/classes.tif"]
    _map_panel(layout, [classes], extent, 8, "Mineral map (RGB student)", [classes], 3)
    sites = layers.get("carbon/site_uptake.gpkg")
    rate = layers["carbon/rate.tif"]
    panel = [sites, rate] if sites is not None else [rate]
    _map_panel(layout, panel, extent, 152, "Carbonation rate and site uptake", panel, 1)
    target = out / "map.png"
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    settings.generateWorldFile = False
    settings.exportMetadata = False
    from osgeo import gdal

    # QGIS tries to write georeferencing into the PNG through GDAL, whose PNG driver cannot
    # update files: a harmless "ERROR 6" that would alarm readers of the demo's output.
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        result = QgsLayoutExporter(layout).exportToImage(str(target), settings)
    finally:
        gdal.PopErrorHandler()
    if result != QgsLayoutExporter.Success:
        raise SystemExit(f"map export failed ({result})")
    return target


def _img(path: Path) -> str:
    if not path.exists():
        return "<p>(missing)</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img src='data:image/png;base64,{data}' style='max-width:100%'>"


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def write_report(out: Path, device_power_w: float, bundled_models: bool) -> Path:
    import geopandas as gpd
    import rasterio

    evals = {who: _read_json(out / who / "evaluation.json") for who in ("teacher", "student")}
    distil = _read_json(out / "training" / "report.json")
    timings = {}
    if (out / "timings.tsv").exists():
        for line in (out / "timings.tsv").read_text().splitlines():
            name, _, secs = line.partition("\t")
            timings[name] = float(secs)
    with rasterio.open(out / "scene" / "rgb.tif") as rgb:
        pixels = rgb.width * rgb.height
        px_area_m2 = abs(rgb.transform.a * rgb.transform.e)
    km2 = pixels * px_area_m2 / 1e6

    def metric(who, key):
        value = evals.get(who, {}).get(key)
        return "–" if value is None else f"{float(value):.3f}"

    rows = "".join(
        f"<tr><th>{html.escape(who)}</th><td>{metric(who, 'overall_accuracy')}</td>"
        f"<td>{metric(who, 'kappa')}</td><td>{metric(who, 'macro_f1')}</td></tr>"
        for who in ("teacher", "student"))
    headline = distil.get("headline", {})
    distil_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.3f}</td></tr>"
                          for k, v in headline.items() if isinstance(v, (int, float)))
    energy_rows = ""
    for who in ("teacher", "student"):
        run = _read_json(out / who / "classify.json").get("results", {})
        secs, done = run.get("SECONDS"), run.get("PIXELS")
        if secs and done:
            wh_per_km2 = device_power_w * secs / (done * px_area_m2 / 1e6) / 3600.0
            energy_rows += (f"<tr><th>{who}</th><td>{secs:.1f}</td><td>{done / secs / 1e6:.3f}</td>"
                            f"<td>{wh_per_km2:.1f}</td></tr>")
    sites_html = "<p>(no sites)</p>"
    sites_path = out / "carbon" / "site_uptake.gpkg"
    if sites_path.exists():
        sites = gpd.read_file(sites_path)
        cols = [c for c in ("site_id", "name", "area_ha", "valid_fraction", "mean_rate_t_co2_ha_yr",
                            "total_t_co2_yr", "total_uncertainty_t_co2_yr", "dominant_mineral",
                            "dominant_mineral_share") if c in sites.columns]
        sites_html = sites[cols].to_html(index=False, float_format=lambda v: f"{v:.4g}")
    timing_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{v:.1f}</td></tr>"
                          for k, v in timings.items())
    models_text = (
        "mapped by the bundled teacher (RGB + HSI + DEM) and student (RGB only), which never saw it"
        if bundled_models else
        "mapped by a teacher (RGB + HSI + DEM) and a student (RGB only) trained briefly on its own "
        "labels (no bundled models were installed), so whole-scene accuracy is optimistic")
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>CMKD Survey demo report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px}}</style>
</head><body>
<h1>CMKD Survey demo: earth_carbonation</h1>
<p>A simulated survey ({pixels:,} RGB pixels, {km2 * 100:.2f} ha), {models_text}, then turned into
a carbonation rate and per-site CO2 uptake.</p>
{_img(out / 'map.png')}
<h2>Accuracy against the ground truth (whole scene)</h2>
<table><tr><th></th><th>OA</th><th>kappa</th><th>macro-F1</th></tr>{rows}</table>
<h3>Confusion matrices</h3>
<table><tr><th>Teacher</th><th>Student</th></tr>
<tr><td>{_img(out / 'teacher' / 'evaluation_confusion.png')}</td>
<td>{_img(out / 'student' / 'evaluation_confusion.png')}</td></tr></table>
<h2>Short distillation run (teacher, student, RGB-only baseline)</h2>
<p>Validation blocks of the labels; see <a href="training/report.html">training/report.html</a>.</p>
<table>{distil_rows}</table>
<h2>Per-site CO2 uptake</h2>{sites_html}
<p>Formula, units and coefficient sources: resources/carbonation/METHODS.md in the plugin.</p>
<h2>Speed and energy</h2>
<p>End-to-end classification inside the engine (read, infer, stitch, write; without QGIS
start-up) on this machine; energy assumes a device drawing {device_power_w:g} W while
classifying (set with --device-power-w).</p>
<table><tr><th>model</th><th>seconds</th><th>Mpx/s</th><th>Wh per km²</th></tr>{energy_rows}</table>
<h2>Timings</h2><table><tr><th>step</th><th>seconds</th></tr>{timing_rows}</table>
</body></html>
"""
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device-power-w", type=float, default=15.0)
    parser.add_argument("--bundled-models", choices=("yes", "no"), default="yes",
                        help="whether the maps come from the bundled models (else trained here)")
    args = parser.parse_args()
    app = QgsApplication([], False)
    app.initQgis()
    try:
        layers = build_project(args.out)
        print(render_map(args.out, layers))
        print(args.out / "cmkd-demo.qgz")
        print(write_report(args.out, args.device_power_w, args.bundled_models == "yes"))
    finally:
        QgsProject.instance().clear()
        app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
