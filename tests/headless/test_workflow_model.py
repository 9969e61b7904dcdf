"""The shipped Graphical Modeler model (resources/models/full_workflow.model3) runs headless:
simulate → train teacher → distil → classify (student) → carbonation in one model."""

import geopandas as gpd
import rasterio


def test_bundled_model_is_listed(qgis_process):
    out = qgis_process("help", "cmkd:fullworkflow")
    assert out.returncode == 0, out.stderr
    for name in ("scene_size", "seed", "epochs", "classify:classes", "carbonation:rate"):
        assert name in out.stdout


def test_full_workflow_model_runs_headless(qgis_run_json, tmp_path):
    outs = {"carbonation:rate": "rate.tif", "carbonation:site_uptake": "uptake.gpkg",
            "classify:classes": "classes.tif", "classify:confidence": "conf.tif",
            "simulate:truth": "truth.tif", "student:student_model": "student.cmkd",
            "student:student_report": "student.html", "teacher:teacher_report": "teacher.html"}
    result = qgis_run_json("cmkd:fullworkflow", preset="earth_carbonation", scene_size=160,
                           seed=2, epochs=1, **{k: tmp_path / v for k, v in outs.items()})
    assert set(result["results"]) >= set(outs)
    for name in outs.values():
        assert (tmp_path / name).exists(), name
    with rasterio.open(tmp_path / "classes.tif") as classes, \
            rasterio.open(tmp_path / "truth.tif") as truth:
        assert classes.crs == truth.crs and classes.bounds == truth.bounds
        assert classes.colormap(1)  # styled class raster
    with rasterio.open(tmp_path / "rate.tif") as rate:
        assert rate.dtypes[0] == "float32"
    sites = gpd.read_file(tmp_path / "uptake.gpkg")
    assert len(sites) > 0 and "site_id" in sites.columns
