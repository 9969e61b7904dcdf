"""Labels: points and polygons (any CRS, GeoPackage / Shapefile / GeoJSON) to grid pixels."""

from __future__ import annotations

from pathlib import Path

import fiona
import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, Polygon, box

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.geo import labels as labels_mod
from cmkd_plugin.engine.geo.grid import Grid
from cmkd_plugin.engine.geo.labels import UNLABELLED, LabelConfig, read_labels
from cmkd_plugin.engine.geo.tiling import PixelWindow

UTM = "EPSG:32633"
X0, Y0, RES = 500_000.0, 5_000_000.0, 10.0
GRID = Grid(CRS.from_string(UTM), from_origin(X0, Y0, RES, RES), 60, 40, "rgb.tif")


def pixel_centre(row: int, col: int) -> tuple[float, float]:
    return X0 + (col + 0.5) * RES, Y0 - (row + 0.5) * RES


def pixel_box(r0: int, c0: int, r1: int, c1: int) -> Polygon:
    """Polygon covering pixel rows r0..r1-1 and columns c0..c1-1 exactly (UTM)."""
    return box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)


def save(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    driver = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON"}[path.suffix]
    gdf.to_file(path, driver=driver)
    return path


def collect() -> tuple[Feedback, list[str]]:
    warnings: list[str] = []
    return Feedback(on_warning=warnings.append), warnings


def test_points_in_another_crs_label_the_pixel_they_fall_in(tmp_path: Path) -> None:
    cells = [(0, 0, "calcite"), (5, 7, "serpentine"), (39, 59, "olivine"), (20, 30, "calcite")]
    to_geo = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    pts = [Point(*to_geo.transform(*pixel_centre(r, c))) for r, c, _ in cells]
    gdf = gpd.GeoDataFrame({"mineral": [m for *_, m in cells]}, geometry=pts, crs="EPSG:4326")
    labels = read_labels(save(gdf, tmp_path / "pts.gpkg"), GRID)
    assert labels.class_names == ("calcite", "olivine", "serpentine")  # sorted from the data
    got = {(int(r), int(c)): labels.class_names[k]
           for r, c, k in zip(labels.rows, labels.cols, labels.classes)}
    assert got == {(r, c): m for r, c, m in cells}
    assert labels.counts() == {"calcite": 2, "olivine": 1, "serpentine": 1}
    image = labels.to_array()
    assert image.shape == (40, 60) and (image != UNLABELLED).sum() == 4
    assert image[5, 7] == labels.class_names.index("serpentine")


@pytest.mark.parametrize("suffix,crs", [(".shp", "EPSG:3857"), (".geojson", "EPSG:4326"),
                                        (".gpkg", UTM)])
def test_polygons_are_rasterised_on_the_grid(tmp_path: Path, suffix: str, crs: str) -> None:
    polys = gpd.GeoSeries([pixel_box(5, 10, 15, 20), pixel_box(20, 30, 25, 50)], crs=UTM)
    gdf = gpd.GeoDataFrame({"mineral": ["magnesite", "brucite"]}, geometry=polys.to_crs(crs))
    labels = read_labels(save(gdf, tmp_path / f"poly{suffix}"), GRID)
    image = labels.to_array()
    k_mag = labels.class_names.index("magnesite")
    k_bru = labels.class_names.index("brucite")
    if crs == UTM:  # exact pixel boxes
        assert (image[5:15, 10:20] == k_mag).all() and (image[20:25, 30:50] == k_bru).all()
        assert len(labels) == 100 + 100
    else:  # reprojected edges may move by a pixel
        assert (image[6:14, 11:19] == k_mag).all() and (image[21:24, 31:49] == k_bru).all()
        assert 80 <= labels.counts()["magnesite"] <= 121
        assert (image[:3] == UNLABELLED).all()


def test_block_rasterisation_equals_one_block(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(4)
    polys, names = [], []
    for i in range(12):
        r, c = rng.integers(0, 35), rng.integers(0, 55)
        polys.append(Point(pixel_centre(int(r), int(c))).buffer(rng.uniform(15, 60)))
        names.append(["a", "b", "c"][i % 3])
    path = save(gpd.GeoDataFrame({"mineral": names}, geometry=polys, crs=UTM),
                tmp_path / "blobs.gpkg")
    whole = read_labels(path, GRID).to_array()
    monkeypatch.setattr(labels_mod, "_BLOCK_PX", 7)
    blocks = read_labels(path, GRID).to_array()
    assert np.array_equal(whole, blocks) and (whole != UNLABELLED).sum() > 100


def test_given_class_list_fixes_the_order_and_refuses_unknown_names(tmp_path: Path) -> None:
    pts = [Point(pixel_centre(1, 1)), Point(pixel_centre(2, 2)), Point(pixel_centre(3, 3))]
    gdf = gpd.GeoDataFrame({"mineral": ["Olivine", "calcite", "calcite"]}, geometry=pts, crs=UTM)
    path = save(gdf, tmp_path / "pts.gpkg")
    cfg = LabelConfig(class_names=("serpentine", "olivine", "calcite"))
    labels = read_labels(path, GRID, cfg)
    assert labels.class_names == cfg.class_names  # order kept, case folded
    assert labels.counts() == {"serpentine": 0, "olivine": 1, "calcite": 2}
    with pytest.raises(InputError) as err:
        read_labels(path, GRID, LabelConfig(class_names=("serpentine", "calcite")))
    assert "'Olivine'" in str(err.value) and "Known classes: 'serpentine', 'calcite'" in str(err.value)


def test_missing_field_lists_the_fields(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"class_id": [1, 2], "note": ["x", "y"]},
                           geometry=[Point(pixel_centre(1, 1)), Point(pixel_centre(2, 2))], crs=UTM)
    path = save(gdf, tmp_path / "pts.gpkg")
    with pytest.raises(InputError, match=r"no field 'mineral'; the fields are: 'class_id', 'note'"):
        read_labels(path, GRID)
    # integer codes are class names too; field names match case-insensitively
    labels = read_labels(path, GRID, LabelConfig(field="CLASS_ID"))
    assert labels.class_names == ("1", "2")


def test_empty_layer(tmp_path: Path) -> None:
    path = tmp_path / "empty.gpkg"
    schema = {"geometry": "Point", "properties": {"mineral": "str"}}
    with fiona.open(path, "w", driver="GPKG", schema=schema, crs=UTM):
        pass
    with pytest.raises(InputError, match="no features"):
        read_labels(path, GRID)


def test_only_one_class_is_refused(tmp_path: Path) -> None:
    pts = [Point(pixel_centre(1, 1)), Point(pixel_centre(2, 2)), Point(X0 - 5000, Y0)]
    gdf = gpd.GeoDataFrame({"mineral": ["calcite", "calcite", "olivine"]}, geometry=pts, crs=UTM)
    feedback, warnings = collect()
    # the olivine point lies outside the grid, so only one class is left inside it
    with pytest.raises(InputError, match="only 1 class \\('calcite'\\)"):
        read_labels(save(gdf, tmp_path / "one.gpkg"), GRID, feedback=feedback)
    labels = read_labels(tmp_path / "one.gpkg", GRID, LabelConfig(min_classes=1), feedback)
    assert labels.dropped_outside == 1 and any("outside" in w for w in warnings)


def test_all_labels_outside_give_both_extents(tmp_path: Path) -> None:
    pts = [Point(16.9, 47.1), Point(16.95, 47.2)]
    gdf = gpd.GeoDataFrame({"mineral": ["a", "b"]}, geometry=pts, crs="EPSG:4326")
    with pytest.raises(InputError) as err:
        read_labels(save(gdf, tmp_path / "far.geojson"), GRID)
    msg = str(err.value)
    assert "All 2 labels of 'far.geojson' lie outside the raster 'rgb.tif'" in msg
    assert "EPSG:32633" in msg and "500000 .. 500600" in msg


def test_invalid_polygons_are_repaired(tmp_path: Path) -> None:
    # a bow-tie (self-intersecting) polygon over pixels rows 0-9, columns 0-9
    a, b = pixel_centre(0, 0), pixel_centre(9, 9)
    bowtie = Polygon([(a[0], a[1]), (b[0], b[1]), (b[0], a[1]), (a[0], b[1])])
    assert not bowtie.is_valid
    gdf = gpd.GeoDataFrame({"mineral": ["a", "b"]},
                           geometry=[bowtie, pixel_box(20, 20, 30, 30)], crs=UTM)
    feedback, warnings = collect()
    labels = read_labels(save(gdf, tmp_path / "bad.gpkg"), GRID, feedback=feedback)
    assert labels.repaired == 1 and any("repaired" in w for w in warnings)
    image = labels.to_array()
    # both triangles of the bow-tie are kept (buffer(0) on a bow-tie can drop one lobe)
    assert image[4, 1] == 0 and image[4, 8] == 0 and image[1, 4] == UNLABELLED


def test_lines_are_refused(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"mineral": ["a"]},
                           geometry=[LineString([pixel_centre(1, 1), pixel_centre(5, 5)])], crs=UTM)
    with pytest.raises(InputError, match="line features"):
        read_labels(save(gdf, tmp_path / "lines.gpkg"), GRID)


def test_conflicting_labels_are_dropped_and_small_polygons_kept(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"mineral": ["a", "b", "a", "b"]},
        geometry=[pixel_box(0, 0, 4, 4),                    # 16 pixels of a
                  Point(pixel_centre(1, 1)),                # conflicts with the polygon
                  Point(pixel_centre(2, 2)),                # agrees with it
                  Point(pixel_centre(30, 30)).buffer(3.0)], # sub-pixel polygon
        crs=UTM,
    )
    feedback, warnings = collect()
    labels = read_labels(save(gdf, tmp_path / "mix.gpkg"), GRID, feedback=feedback)
    image = labels.to_array()
    assert labels.conflicts == 1 and image[1, 1] == UNLABELLED
    assert image[2, 2] == 0 and labels.counts()["a"] == 15
    assert image[30, 30] == 1 and labels.counts()["b"] == 1
    assert any("different classes" in w for w in warnings)


def test_window_views(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"mineral": ["a", "b"]},
                           geometry=[pixel_box(0, 0, 10, 10), pixel_box(10, 10, 20, 20)], crs=UTM)
    labels = read_labels(save(gdf, tmp_path / "w.gpkg"), GRID)
    window = PixelWindow(5, 5, 10, 10)
    part = labels.to_array(window)
    assert np.array_equal(part, labels.to_array()[5:15, 5:15])
    r, c, k = labels.in_window(window)
    assert len(r) == 50 and r.min() >= 0 and c.max() < 10


def test_qgis_layer_source_form_names_the_layer(tmp_path):
    """'file.gpkg|layername=x' (how QGIS names a layer of a multi-layer file) picks that layer."""
    import geopandas as gpd
    from shapely.geometry import Point

    from cmkd_plugin.engine.geo.grid import Grid
    from cmkd_plugin.engine.geo.labels import LabelConfig, read_labels, split_vector_source
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    assert split_vector_source("a.gpkg|layername=labels|subset=x") == ("a.gpkg", "labels")
    assert split_vector_source("a.gpkg") == ("a.gpkg", None)
    grid = Grid(CRS.from_epsg(32633), from_origin(500000, 4000010, 1, 1), 10, 10)
    path = tmp_path / "two.gpkg"
    gpd.GeoDataFrame({"mineral": ["zone"]}, geometry=[Point(500001, 4000001)],
                     crs=32633).to_file(path, layer="zone")
    gpd.GeoDataFrame({"mineral": ["olivine", "basalt"]},
                     geometry=[Point(500002.5, 4000007.5), Point(500007.5, 4000002.5)],
                     crs=32633).to_file(path, layer="labels")
    pixels = read_labels(f"{path}|layername=labels", grid, LabelConfig())
    assert sorted(pixels.class_names) == ["basalt", "olivine"]
