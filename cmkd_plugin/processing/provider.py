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
        # Bundled Modeler models refer to this provider's algorithms, which the registry only
        # knows once this provider is added: load them again at that moment.
        from qgis.core import QgsApplication

        QgsApplication.processingRegistry().providerAdded.connect(self._on_provider_added)
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

    def _on_provider_added(self, provider_id: str) -> None:
        if provider_id == self.id():
            self.refreshAlgorithms()

    def unload(self) -> None:
        from qgis.core import QgsApplication

        try:
            QgsApplication.processingRegistry().providerAdded.disconnect(self._on_provider_added)
        except TypeError:  # already disconnected
            pass
        try:
            from processing.core.ProcessingConfig import ProcessingConfig
        except ImportError:
            return
        ProcessingConfig.removeSetting(ENGINE_PYTHON_SETTING)

    def loadAlgorithms(self) -> None:  # noqa: N802 - QGIS API
        from .algorithms import ALGORITHMS
        from .models import BundledModel, bundled_model_files

        for alg_class in ALGORITHMS:
            self.addAlgorithm(alg_class())
        for path in bundled_model_files():
            self.addAlgorithm(BundledModel(str(path)))

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("CmkdProvider", text)
