"""``cmkd:adaptsite`` through a real ``qgis_process``: the bundled student adapted to a
simulated scene's labels with the advanced options given on the command line; a layer without
points is refused and writes nothing."""

import geopandas as gpd

from cmkd_plugin.engine.models.modelfile import load_model
from cmkd_plugin.engine.paths import resources_dir
from cmkd_plugin.engine.simulator import OutputPaths, SimulationConfig, simulate_survey

BUNDLED = resources_dir() / "models" / "earth_carbonation_student.cmkd"


def test_adaptsite_headless(qgis_run_json, qgis_process, tmp_path):
    scene = simulate_survey(SimulationConfig("earth_carbonation", seed=31, size_px=128,
                                             hsi_bands=16, labels_per_class=1),
                            OutputPaths.in_folder(tmp_path / "scene"))
    result = qgis_run_json("cmkd:adaptsite", MODEL=BUNDLED, RGB=scene["OUTPUT_RGB"],
                           LABELS=scene["OUTPUT_LABELS"], LABEL_FIELD="mineral", EPOCHS=1,
                           FREEZE="features", KEEP_WEIGHT=0.5, RENORMALISE="true",
                           OUTPUT_MODEL=tmp_path / "a.cmkd", OUTPUT_REPORT=tmp_path / "a.html")
    outputs = result["results"]
    assert outputs["OUTPUT_MODEL"] == str(tmp_path / "a.cmkd")
    assert 0.0 <= outputs["CHANGED_SHARE"] <= 1.0
    card = load_model(tmp_path / "a.cmkd", expect_kind="student")[1]
    settings = card.training["adaptations"][-1]["settings"]
    assert (settings["freeze"], settings["keep_weight"], settings["renormalise"]) == ("features", 0.5, True)

    labels = gpd.read_file(scene["OUTPUT_LABELS"], layer="labels")
    labels.iloc[:0].to_file(tmp_path / "none.gpkg", driver="GPKG")
    out = qgis_process("run", "cmkd:adaptsite", "--", f"MODEL={BUNDLED}",
                       f"RGB={scene['OUTPUT_RGB']}", f"LABELS={tmp_path / 'none.gpkg'}",
                       f"OUTPUT_MODEL={tmp_path / 'b.cmkd'}", f"OUTPUT_REPORT={tmp_path / 'b.html'}")
    assert out.returncode != 0
    assert "have no features; label some points" in out.stdout + out.stderr
    assert not (tmp_path / "b.cmkd").exists()
