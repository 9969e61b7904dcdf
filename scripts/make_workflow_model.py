#!/usr/bin/env python3
"""Write ``resources/models/full_workflow.model3``: the Graphical Modeler model that chains
simulate → train teacher → distil student → classify → carbonation.

Run with the project venv (it needs QGIS): ``.venv/bin/python scripts/make_workflow_model.py``.
The file is committed; open it in the Graphical Modeler to change it, or change this script and
run it again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append("/usr/share/qgis/python/plugins")  # the Processing plugin (Debian)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource as Source,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QPointF  # noqa: E402

MODEL_FILE = ROOT / "resources" / "models" / "full_workflow.model3"


def child(alg_id: str, child_id: str, description: str, x: float, sources: dict,
          outputs: dict[str, tuple[str, str]] | None = None) -> QgsProcessingModelChildAlgorithm:
    c = QgsProcessingModelChildAlgorithm(alg_id)
    c.setChildId(child_id)
    c.setDescription(description)
    c.setPosition(QPointF(x, 200))
    for key, source in sources.items():
        c.addParameterSources(key, [source])
    model_outputs = {}
    for name, (child_output, label) in (outputs or {}).items():
        out = QgsProcessingModelOutput(name, label)
        out.setChildId(child_id)
        out.setChildOutputName(child_output)
        out.setMandatory(False)
        model_outputs[name] = out
    c.setModelOutputs(model_outputs)
    return c


def build() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Full survey workflow", "Workflows")
    model.setHelpContent({"ALG_DESC": (
        "The whole CMKD mission on a simulated survey: generate a scene (RGB, HSI, DEM, labels, "
        "sites), train the RGB+HSI+DEM teacher, distil the RGB-only student, map minerals with "
        "the student, and turn the probabilities into carbonation rate and per-site CO2 uptake. "
        "Scene size, seed and epochs are inputs; open it in the Graphical Modeler to adapt it "
        "to your own rasters.")})
    params = [
        QgsProcessingParameterEnum("preset", "Preset", ["earth_carbonation", "mars_analogue"],
                                   defaultValue="earth_carbonation", usesStaticStrings=True),
        QgsProcessingParameterNumber("scene_size", "Scene size (RGB pixels per side)",
                                     QgsProcessingParameterNumber.Integer, 512, minValue=64),
        QgsProcessingParameterNumber("seed", "Random seed", QgsProcessingParameterNumber.Integer,
                                     1, minValue=0),
        QgsProcessingParameterNumber("epochs", "Training epochs",
                                     QgsProcessingParameterNumber.Integer, 20, minValue=1),
    ]
    for i, p in enumerate(params):
        mp = QgsProcessingModelParameter(p.name())
        mp.setPosition(QPointF(100, 60 + 60 * i))
        model.addModelParameter(p, mp)

    def scene(key: str) -> Source:
        return Source.fromChildOutput("simulate", key)

    modalities = {"RGB": scene("OUTPUT_RGB"), "HSI": scene("OUTPUT_HSI"),
                  "DEM": scene("OUTPUT_DEM")}
    labels = {"LABELS": scene("OUTPUT_LABELS"), "LABEL_FIELD": Source.fromStaticValue("mineral")}
    training = {"EPOCHS": Source.fromModelParameter("epochs"),
                "SEED": Source.fromModelParameter("seed")}
    children = [
        child("cmkd:simulatesurvey", "simulate", "Generate survey scene", 300, {
            "PRESET": Source.fromModelParameter("preset"),
            "SEED": Source.fromModelParameter("seed"),
            "SIZE": Source.fromModelParameter("scene_size"),
        }, {"truth": ("OUTPUT_TRUTH", "Ground truth classes")}),
        child("cmkd:trainteacher", "teacher", "Train teacher", 550,
              {**modalities, **labels, **training},
              {"teacher_report": ("OUTPUT_REPORT", "Teacher training report")}),
        child("cmkd:distillstudent", "student", "Distil RGB student", 800, {
            "TEACHER": Source.fromChildOutput("teacher", "OUTPUT_MODEL"),
            **modalities, **labels, **training,
        }, {"student_model": ("OUTPUT_MODEL", "Student model"),
            "student_report": ("OUTPUT_REPORT", "Distillation report")}),
        child("cmkd:classify", "classify", "Classify minerals (student)", 1050, {
            "MODEL": Source.fromChildOutput("student", "OUTPUT_MODEL"),
            "RGB": scene("OUTPUT_RGB"),
        }, {"classes": ("OUTPUT_CLASSES", "Mineral classes"),
            "confidence": ("OUTPUT_CONFIDENCE", "Confidence")}),
        child("cmkd:carbonation", "carbonation", "Carbonation rate", 1300, {
            "PROBABILITIES": Source.fromChildOutput("classify", "OUTPUT_PROBABILITIES"),
            "SITES": scene("OUTPUT_SITES"),
            "SITE_ID_FIELD": Source.fromStaticValue("site_id"),
        }, {"rate": ("OUTPUT_RATE", "Carbonation rate (t CO2/ha/yr)"),
            "site_uptake": ("OUTPUT_SITES", "Site CO2 uptake")}),
    ]
    for c in children:
        model.addChildAlgorithm(c)
    model.updateDestinationParameters()  # model outputs become the model's own parameters
    return model


def main() -> int:
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from cmkd_plugin.processing.provider import CmkdProvider

    provider = CmkdProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    model = build()
    model.setSourceFilePath(str(MODEL_FILE))
    ok = model.toFile(str(MODEL_FILE))
    print(MODEL_FILE if ok else "failed")
    QgsApplication.processingRegistry().removeProvider(provider)
    app.exitQgis()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
