"""The ``cmkd`` Processing provider ("CMKD Survey")."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..engine.paths import plugin_version, resources_dir
from .settings import ENGINE_PYTHON_SETTING


def icon_path() -> str:
    return str(resources_dir() / "icons" / "cmkd.svg")


class CmkdProvider(QgsProcessingProvider):
    """Registers the CMKD algorithms and the 'Engine Python' setting."""

    def id(self) -> str:
        return "cmkd"

    def name(self) -> str:
        return self.tr("CMKD Survey")

    def longName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("CMKD Survey {} (cross-modal knowledge distillation for minerals)").format(
            plugin_version()
        )

    def versionInfo(self) -> str:  # noqa: N802 - QGIS API
        return plugin_version()

    def icon(self) -> QIcon:
        return QIcon(icon_path())

    def svgIconPath(self) -> str:  # noqa: N802 - QGIS API
        return icon_path()

    def load(self) -> bool:
        try:
            from processing.core.ProcessingConfig import ProcessingConfig, Setting
        except ImportError:  # Processing plugin absent: the environment variable still works.
            self.refreshAlgorithms()
            return True
        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(Setting(
            self.name(), ENGINE_PYTHON_SETTING,
            self.tr("Engine Python (interpreter with torch and rasterio; empty = automatic)"),
            "", valuetype=Setting.FILE,
        ))
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        try:
            from processing.core.ProcessingConfig import ProcessingConfig
        except ImportError:
            return
        ProcessingConfig.removeSetting(ENGINE_PYTHON_SETTING)

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API
        from .algorithms import ALGORITHMS

        for alg_class in ALGORITHMS:
            self.addAlgorithm(alg_class())

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("CmkdProvider", text)
