"""`make demo` (scripts/demo.sh) end to end with a small scene: the output folder a newcomer
gets — project, rendered map, report — and the project opens in QGIS with styled layers."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_writes_project_map_and_report(tmp_path, qgis_config, staged_plugins):
    out = tmp_path / "demo output"
    env = dict(os.environ, CMKD_DEMO_OUTPUT=str(out), CMKD_DEMO_SIZE="192", CMKD_DEMO_EPOCHS="1",
               CMKD_QGIS_CONFIG=str(qgis_config), CMKD_PLUGIN_DIR=str(staged_plugins))
    run = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True,
                         text=True, env=env, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"Open in QGIS: {out}/cmkd-demo.qgz" in run.stdout
    for rel in ("scene/rgb.tif", "scene/preview.png", "teacher/classes.tif",
                "student/probabilities.tif", "carbon/rate.tif", "carbon/site_uptake.gpkg",
                "training/report.html", "map.png", "report.html", "cmkd-demo.qgz"):
        assert (out / rel).exists(), rel
    assert (out / "map.png").stat().st_size > 50_000
    report = (out / "report.html").read_text(encoding="utf-8")
    for heading in ("Accuracy against the ground truth", "Per-site CO2 uptake",
                    "Speed and energy", "Confusion matrices"):
        assert heading in report
    assert "Trial plot" in report  # the per-site table has the simulated sites

    code = textwrap.dedent("""
        import sys
        from qgis.core import QgsApplication, QgsProject, QgsPalettedRasterRenderer
        app = QgsApplication([], False)
        app.initQgis()
        project = QgsProject.instance()
        assert project.read(sys.argv[1])
        root = project.layerTreeRoot()
        print("GROUPS", [g.name() for g in root.children()])
        layers = list(project.mapLayers().values())
        print("VALID", all(layer.isValid() for layer in layers), len(layers))
        classes = [l for l in layers if l.name() == "Student mineral classes"][0]
        print("PALETTED", isinstance(classes.renderer(), QgsPalettedRasterRenderer))
        project.clear()
        app.exitQgis()
    """)
    check = subprocess.run([sys.executable, "-c", code, str(out / "cmkd-demo.qgz")],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert check.returncode == 0, check.stderr
    assert "GROUPS ['Carbonation', 'Student (RGB only)', 'Teacher (RGB + HSI + DEM)', 'Inputs']" \
        in check.stdout
    assert "VALID True" in check.stdout and "PALETTED True" in check.stdout
