"""``cmkd:classify`` with a teacher from the toolbox: its probabilities are refined by the RGB
inside each of its 2 m pixels unless the advanced REFINE says none, and it runs on its own grid
unless the advanced TEACHER_GRID says rgb."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingFeedback, QgsProcessingParameterDefinition

import processing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import train_tiny_teacher, write_scene  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, one_torch_thread) -> dict[str, Path]:  # noqa: ARG001
    paths = write_scene(tmp_path_factory.mktemp("scene"))
    return {**paths, "teacher": train_tiny_teacher(paths, tmp_path_factory.mktemp("teacher"), 4)}


def test_a_teacher_map_is_refined_by_the_rgb_unless_turned_off(cmkd_provider, tiny, tmp_path):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("cmkd:classify")
    param = alg.parameterDefinition("REFINE")
    assert param.defaultValue() == "teacher" and param.options() == ["teacher", "all", "none"]
    assert param.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    probs = {}
    for name, refine in (("refined", "teacher"), ("raw", "none")):
        result = processing.run("cmkd:classify", {
            "MODEL": str(tiny["teacher"]), "RGB": str(tiny["rgb"]), "HSI": str(tiny["hsi"]),
            "DEM": str(tiny["dem"]), "REFINE": refine, "TILE_SIZE": 64, "OVERLAP": 16,
            "OUTPUT_CLASSES": str(tmp_path / f"{name}_c.tif"),
            "OUTPUT_PROBABILITIES": str(tmp_path / f"{name}_p.tif"),
        }, feedback=QgsProcessingFeedback())
        assert result["MODEL_KIND"] == "teacher"
        with rasterio.open(tmp_path / f"{name}_p.tif") as ds:
            probs[name] = ds.read()
    valid = ~np.isnan(probs["raw"][0])
    assert valid.mean() > 0.9 and np.array_equal(valid, ~np.isnan(probs["refined"][0]))
    np.testing.assert_allclose(probs["refined"][:, valid].sum(axis=0), 1.0, atol=1e-4)
    assert np.abs(probs["refined"] - probs["raw"])[:, valid].max() > 0.005


def test_a_teacher_runs_on_its_own_grid_unless_told_otherwise(cmkd_provider, tiny, tmp_path):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("cmkd:classify")
    param = alg.parameterDefinition("TEACHER_GRID")
    assert param.defaultValue() == "own" and param.options() == ["own", "rgb"]
    assert param.flags() & QgsProcessingParameterDefinition.FlagAdvanced
    probs, logs = {}, {}
    for grid in ("own", "rgb"):
        feedback = QgsProcessingFeedback()
        chosen = {"TEACHER_GRID": grid} if grid == "rgb" else {}  # own: the default
        processing.run("cmkd:classify", {
            "MODEL": str(tiny["teacher"]), "RGB": str(tiny["rgb"]), "HSI": str(tiny["hsi"]),
            "DEM": str(tiny["dem"]), "REFINE": "none", "TILE_SIZE": 64,
            "OVERLAP": 16, "OUTPUT_CLASSES": str(tmp_path / f"{grid}_c.tif"),
            "OUTPUT_PROBABILITIES": str(tmp_path / f"{grid}.tif"), **chosen,
        }, feedback=feedback)
        logs[grid] = feedback.textLog()
        with rasterio.open(tmp_path / f"{grid}.tif") as ds:
            probs[grid] = ds.read()
    # the tiny teacher's 2 m grid over 0.5 m RGB: 4 x 4 RGB pixels each
    assert "own grid (2 m, 4 x 4 RGB pixels" in logs["own"] and "own grid" not in logs["rgb"]
    valid = ~np.isnan(probs["own"][0]) & ~np.isnan(probs["rgb"][0])
    assert valid.mean() > 0.9
    assert np.abs(probs["own"] - probs["rgb"])[:, valid].max() > 1e-3
