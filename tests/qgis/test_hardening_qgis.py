"""QGIS tier hardening: algorithms through ``processing.run`` with the real engine subprocess.
Paths with spaces and Japanese folder names work end to end; a read-only or full output folder
is a QgsProcessingException with the engine's message and nothing is written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer, QgsVectorLayer

import processing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile as H  # noqa: E402


def _inputs(folder: Path) -> dict[str, Path]:
    probs = H.write_probabilities(folder / "確率 map.tif", H.probabilities_array(40, 30))
    sites = H.write_vector(folder / "サイト.gpkg", [H.site_box(20, 20, 150), H.site_box(150, 150, 100)],
                           {"site_id": ["北", "南"]})
    return {"probabilities": probs, "sites": sites}


def _run(inputs: dict[str, Path], out: Path):
    return processing.run("cmkd:carbonation", {
        "PROBABILITIES": str(inputs["probabilities"]), "SITES": str(inputs["sites"]),
        "SITE_ID_FIELD": "site_id", "OUTPUT_RATE": str(out / "炭酸化 rate.tif"),
        "OUTPUT_UNCERTAINTY": str(out / "不確か.tif"), "OUTPUT_SITES": str(out / "結果 sites.gpkg"),
    }, feedback=QgsProcessingFeedback())


@pytest.mark.parametrize("folder", ["survey with spaces/run 1", f"{H.JAPANESE_FOLDER}/区域 1"])
def test_spaces_and_japanese_names_in_every_path(cmkd_provider, tmp_path: Path, folder: str) -> None:
    inputs = _inputs(tmp_path / folder / "入力")
    before = H.file_hashes(list(inputs.values()))
    out = tmp_path / folder / "出力"
    result = _run(inputs, out)
    rate = QgsRasterLayer(result["OUTPUT_RATE"], "rate")
    assert rate.isValid() and rate.width() == 30 and rate.height() == 40
    sites = QgsVectorLayer(result["OUTPUT_SITES"], "sites", "ogr")
    assert sites.isValid() and sites.featureCount() == 2
    assert {f["site_id"] for f in sites.getFeatures()} == {"北", "南"}
    assert result["TOTAL_T_CO2_PER_YR"] > 0
    assert H.file_hashes(list(inputs.values())) == before


@pytest.mark.parametrize("kind", ["read-only", "full"])
def test_unwritable_output_folder_raises_and_writes_nothing(cmkd_provider, tmp_path: Path,
                                                           kind: str) -> None:
    inputs = _inputs(tmp_path / "入力")
    before = H.file_hashes(list(inputs.values()))
    opts = {"read_only": True} if kind == "read-only" else {"size": "64k", "fill": True}
    with H.tiny_filesystem(tmp_path / "出力", **opts) as out:
        pattern = "Cannot write to the output folder" if kind == "read-only" else "disk is full"
        with pytest.raises(QgsProcessingException, match=pattern):
            _run(inputs, out)
        assert [p for p in H.leftovers([out]) if not p.endswith("filler.bin")] == []
    assert H.file_hashes(list(inputs.values())) == before
