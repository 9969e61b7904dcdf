"""evaluate: a hand-made confusion matrix recovered from rasters and from points, and the files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from cmkd_plugin.engine import cli
from cmkd_plugin.engine.classify.evaluate import evaluate
from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.write import write_class_raster

NAMES = ("calcite", "serpentine", "olivine")
COLOURS = ("#1f77b4", "#2ca02c", "#d62728")
# Rows = reference, columns = map: what the rasters below are built to contain.
CM = np.array([[5, 1, 0],
               [2, 6, 1],
               [0, 0, 4]])
OA = 15 / 19
# p_e = (6*7 + 9*7 + 4*5) / 19**2 = 125/361; kappa = (285 - 125) / (361 - 125)
KAPPA = 160 / 236
MACRO_F1 = (10 / 13 + 12 / 16 + 8 / 9) / 3
TRANSFORM = Affine(2.0, 0, 600_000.0, 0, -2.0, 5_000_000.0)
H, W = 6, 8


def pairs() -> tuple[np.ndarray, np.ndarray]:
    """Map and truth rasters (H x W) holding CM, plus ignored pixels (map nodata / unlabelled)."""
    ref, pred = [], []
    for i in range(3):
        for j in range(3):
            ref += [i] * CM[i, j]
            pred += [j] * CM[i, j]
    ref += [0, 1, 255, 255]  # two map-nodata pixels and two unlabelled ones
    pred += [255, 255, 2, 0]
    n = H * W - len(ref)
    ref += [255] * n
    pred += [1] * n  # classified but unlabelled: not counted
    order = np.random.default_rng(3).permutation(H * W)
    return (np.array(pred, np.uint8)[order].reshape(H, W),
            np.array(ref, np.uint8)[order].reshape(H, W))


@pytest.fixture
def rasters(tmp_path: Path) -> dict[str, Path]:
    pred, ref = pairs()
    out = {"map": tmp_path / "map.tif", "truth": tmp_path / "truth.tif"}
    write_class_raster(out["map"], pred, crs="EPSG:32633", transform=TRANSFORM,
                       class_names=NAMES, colours=COLOURS)
    # The truth lists its classes in another order: evaluate must match them by name.
    perm = {0: 1, 1: 2, 2: 0, 255: 255}  # calcite->1, serpentine->2, olivine->0
    ref2 = np.vectorize(perm.get)(ref).astype(np.uint8)
    write_class_raster(out["truth"], ref2, crs="EPSG:32633", transform=TRANSFORM,
                       class_names=("olivine", "calcite", "serpentine"),
                       colours=("#d62728", "#1f77b4", "#2ca02c"))
    return out


def check_figures(report: dict) -> None:
    np.testing.assert_array_equal(np.array(report["confusion_matrix"]), CM)
    assert report["n_pixels"] == 19
    assert report["overall_accuracy"] == pytest.approx(OA)
    assert report["kappa"] == pytest.approx(KAPPA)
    assert report["macro_f1"] == pytest.approx(MACRO_F1)
    assert report["per_class"]["serpentine"]["producers_accuracy"] == pytest.approx(6 / 9)
    assert report["per_class"]["serpentine"]["users_accuracy"] == pytest.approx(6 / 7)


def test_truth_raster_gives_the_hand_made_confusion(tmp_path: Path, rasters: dict[str, Path]) -> None:
    result = evaluate(rasters["map"], rasters["truth"], output_report=tmp_path / "r" / "acc.html")
    check_figures(result.report)
    assert result.overall_accuracy == pytest.approx(OA)
    r = tmp_path / "r"
    assert sorted(p.name for p in r.iterdir()) == ["acc.html", "acc.json", "acc_confusion.csv",
                                                   "acc_confusion.png"]
    check_figures(json.loads((r / "acc.json").read_text()))
    rows = list(csv.reader((r / "acc_confusion.csv").open()))
    assert rows[0] == ["reference \\ map", *NAMES]
    np.testing.assert_array_equal(np.array([[int(v) for v in row[1:]] for row in rows[1:]]), CM)
    assert (r / "acc_confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (r / "acc.html").read_text()
    assert "0.789" in page and "acc_confusion.png" in page and "serpentine" in page


def test_point_layer_gives_the_same_confusion(tmp_path: Path, rasters: dict[str, Path]) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    pred, ref = pairs()
    rows, cols = np.nonzero(ref != 255)
    pts = [Point(*(TRANSFORM * (c + 0.5, r + 0.5))) for r, c in zip(rows, cols)]
    gdf = gpd.GeoDataFrame({"mineral": [NAMES[ref[r, c]].upper() for r, c in zip(rows, cols)]},
                           geometry=pts, crs="EPSG:32633").to_crs("EPSG:4326")
    layer = tmp_path / "points.gpkg"
    gdf.to_file(layer)
    result = evaluate(rasters["map"], layer, output_report=tmp_path / "p.html")
    check_figures(result.report)


def test_unknown_reference_class_is_refused_and_nothing_written(tmp_path: Path,
                                                                 rasters: dict[str, Path]) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    layer = tmp_path / "bad.gpkg"
    gpd.GeoDataFrame({"mineral": ["calcite", "magnesite"]},
                     geometry=[Point(600_001, 4_999_999), Point(600_003, 4_999_997)],
                     crs="EPSG:32633").to_file(layer)
    with pytest.raises(InputError, match="magnesite"):
        evaluate(rasters["map"], layer, output_report=tmp_path / "out" / "x.html")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with pytest.raises(InputError, match=r"\.html"):
        evaluate(rasters["map"], rasters["truth"], output_report=tmp_path / "x.pdf")


def test_reference_elsewhere_is_refused(tmp_path: Path, rasters: dict[str, Path]) -> None:
    far = tmp_path / "far.tif"
    write_class_raster(far, np.zeros((4, 4), np.uint8), crs="EPSG:32633",
                       transform=Affine(2.0, 0, 700_000.0, 0, -2.0, 5_000_000.0),
                       class_names=NAMES, colours=COLOURS)
    with pytest.raises(InputError, match="does not overlap"):
        evaluate(rasters["map"], far, output_report=tmp_path / "x.html")
    assert not list(tmp_path.glob("x*"))


def test_evaluate_command_line(tmp_path: Path, rasters: dict[str, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["evaluate", "--classes", str(rasters["map"]), "--reference",
                     str(rasters["truth"]), "--output-report", str(tmp_path / "rep.html")])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["OA"] == pytest.approx(OA) and out["KAPPA"] == pytest.approx(KAPPA)
    assert out["MACRO_F1"] == pytest.approx(MACRO_F1)
    assert out["OUTPUT_REPORT"] == str(tmp_path / "rep.html")
