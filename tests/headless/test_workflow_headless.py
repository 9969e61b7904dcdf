"""The whole mission chained headless: simulate → train teacher → distil → classify →
evaluate → carbonation, with tiny settings (the numbers here prove the plumbing, not accuracy;
accuracy targets live in scripts/bench_distillation.py)."""

import json

import rasterio

from cmkd_plugin.engine.models.fileformat import read_card


def test_chain_simulate_train_distil_classify_evaluate_carbonation(qgis_run_json, tmp_path):
    s = tmp_path / "scene"
    s.mkdir()
    scene = {"OUTPUT_RGB": s / "rgb.tif", "OUTPUT_HSI": s / "hsi.tif", "OUTPUT_DEM": s / "dem.tif",
             "OUTPUT_TRUTH": s / "truth.tif", "OUTPUT_LABELS": s / "labels.gpkg",
             "OUTPUT_SITES": s / "sites.gpkg", "OUTPUT_FOOTPRINT": s / "footprint.gpkg",
             "OUTPUT_PREVIEW": s / "preview.png"}
    qgis_run_json("cmkd:simulatesurvey", PRESET="earth_carbonation", SEED=5, SIZE=192,
                  LABELS_PER_CLASS=6, HSI_BANDS=32, **scene)
    inputs = dict(RGB=scene["OUTPUT_RGB"], HSI=scene["OUTPUT_HSI"], DEM=scene["OUTPUT_DEM"],
                  LABELS=scene["OUTPUT_LABELS"], LABEL_FIELD="mineral", SEED=0)
    teacher = qgis_run_json("cmkd:trainteacher", EPOCHS=1, MEMBERS=2, MIXING=0.5,
                            OUTPUT_MODEL=tmp_path / "t.cmkd", OUTPUT_REPORT=tmp_path / "t.html",
                            **inputs)["results"]
    assert 0.0 <= teacher["TEACHER_OA"] <= 1.0
    card = read_card(tmp_path / "t.cmkd")
    assert card.architecture.members == 2  # an ensemble, distilled below
    assert card.training["teacher"]["mixing"] == 0.5  # the advanced MIXING reached the engine
    student = qgis_run_json("cmkd:distillstudent", TEACHER=tmp_path / "t.cmkd", EPOCHS=1,
                            COLOUR_JITTER=True, STUDENT_LAYERS=2, TEACHER_TARGETS="probabilities",
                            OUTPUT_MODEL=tmp_path / "s.cmkd", OUTPUT_REPORT=tmp_path / "s.html",
                            **inputs)["results"]
    for key in ("STUDENT_OA", "BASELINE_OA", "TEACHER_OA"):
        assert 0.0 <= student[key] <= 1.0, key
    # The advanced COLOUR_JITTER (off by default) reached the engine.
    student_card = read_card(tmp_path / "s.cmkd")
    assert student_card.training["distill"]["augment"] is True
    # So did STUDENT_LAYERS (default 3): the student file holds two conv layers.
    assert student_card.architecture.encoder_depth == 2
    assert student_card.training["distill"]["encoder_depth"] == 2
    # And TEACHER_TARGETS (default guided).
    assert student_card.training["distill"]["target_interpolation"] == "probabilities"
    mapped = qgis_run_json("cmkd:classify", MODEL=tmp_path / "s.cmkd", RGB=scene["OUTPUT_RGB"],
                           OUTPUT_CLASSES=tmp_path / "classes.tif",
                           OUTPUT_PROBABILITIES=tmp_path / "prob.tif",
                           OUTPUT_CONFIDENCE=tmp_path / "conf.tif")["results"]
    assert mapped["MODEL_KIND"] == "student"
    classes = mapped["CLASSES"].split(",")
    with rasterio.open(tmp_path / "prob.tif") as prob, rasterio.open(tmp_path / "classes.tif") as c:
        assert list(prob.descriptions) == classes
        assert (c.width, c.height) == (192, 192)
    evaluation = qgis_run_json("cmkd:evaluate", CLASSES=tmp_path / "classes.tif",
                               REFERENCE=scene["OUTPUT_TRUTH"],
                               OUTPUT_REPORT=tmp_path / "eval.html")["results"]
    assert 0.0 <= evaluation["OA"] <= 1.0
    carbon = qgis_run_json("cmkd:carbonation", PROBABILITIES=tmp_path / "prob.tif",
                           SITES=scene["OUTPUT_SITES"], SITE_ID_FIELD="site_id",
                           OUTPUT_RATE=tmp_path / "rate.tif",
                           OUTPUT_UNCERTAINTY=tmp_path / "unc.tif",
                           OUTPUT_SITES=tmp_path / "uptake.gpkg")["results"]
    assert carbon["TOTAL_T_CO2_PER_YR"] >= 0.0
    assert (tmp_path / "uptake.gpkg").exists() and (tmp_path / "rate.tif").exists()
    report = json.loads((tmp_path / "s.json").read_text())
    assert report  # the distillation report's JSON twin
