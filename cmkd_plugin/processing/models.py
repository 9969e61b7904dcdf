"""Graphical Modeler models shipped with the plugin (``resources/models/*.model3``), listed in
the toolbox under the CMKD provider with a stable lowercase id (``cmkd:fullworkflow``)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingModelAlgorithm
from qgis.PyQt.QtCore import QCoreApplication

from ..engine.paths import resources_dir

#: model file stem -> (algorithm name, display name). Models not listed keep their own names.
NAMES = {
    "full_workflow": ("fullworkflow",
                      "Full survey workflow (simulate → train → distil → classify → carbonation)"),
}


class BundledModel(QgsProcessingModelAlgorithm):
    """A shipped ``.model3`` with a fixed id; open it in the Modeler to adapt it."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path
        stem = Path(path).stem
        self._name, self._display = NAMES.get(stem, (stem.replace("_", "").lower(), stem))
        if not self.fromFile(path):
            raise ValueError(f"cannot read the model {path}")

    def name(self) -> str:
        return self._name

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return QCoreApplication.translate("BundledModel", self._display)

    def group(self) -> str:
        return QCoreApplication.translate("BundledModel", "Workflows")

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "workflows"

    def createInstance(self):  # noqa: N802 - QGIS API
        return BundledModel(self._path)


def bundled_model_files() -> list[Path]:
    folder = resources_dir() / "models"
    return sorted(folder.glob("*.model3")) if folder.is_dir() else []
