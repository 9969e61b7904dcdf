"""``qgis_process run cmkd:tunedistillation`` on the tiny scene: the budget holds, every
evaluation is in the table, the outputs name the best settings, the same seed repeats them."""

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import train_tiny_teacher, write_scene  # noqa: E402


def test_tunedistillation_headless(qgis_run_json, tmp_path, one_torch_thread):  # noqa: ARG001
    scene = write_scene(tmp_path / "scene")
    teacher = train_tiny_teacher(scene, tmp_path, epochs=4)
    results = []
    for run in ("a", "b"):
        out = tmp_path / run
        out.mkdir()
        result = qgis_run_json(
            "cmkd:tunedistillation", TEACHER=teacher, RGB=scene["rgb"], HSI=scene["hsi"],
            DEM=scene["dem"], LABELS=scene["labels"], LABEL_FIELD="mineral", MAX_EVALUATIONS=2,
            SEED=7, EPOCHS=1, EVAL_EPOCHS=1, METHOD=0, OUTPUT_TABLE=out / "tuning.csv",
            OUTPUT_MODEL=out / "student.cmkd", OUTPUT_REPORT=out / "student.html")["results"]
        with open(out / "tuning.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        # DE's smallest population is 5 points: the budget of 2 stops it inside the first one.
        assert [r["evaluation"] for r in rows] == ["1", "2"] and result["EVALUATIONS"] == 2
        best = max(rows, key=lambda r: float(r["score"]))
        assert abs(result["BEST_TEMPERATURE_START"] - float(best["temperature_start"])) < 1e-5
        assert Path(result["OUTPUT_MODEL"]) == out / "student.cmkd" and (out / "student.cmkd").exists()
        results.append([{k: v for k, v in r.items() if k != "seconds"} for r in rows])
    assert results[0] == results[1]
