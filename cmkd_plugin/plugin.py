"""The QGIS plugin object: registers the Processing provider and the menu entries."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsSettings
from qgis.PyQt.QtCore import QCoreApplication, QLocale, QTranslator

from .processing.provider import CmkdProvider

PLUGIN_DIR = Path(__file__).resolve().parent


def _i18n_dirs() -> list[Path]:
    # Installed plugin: cmkd_plugin/i18n; source checkout: i18n/ beside the package.
    return [PLUGIN_DIR / "i18n", PLUGIN_DIR.parent / "i18n"]


def install_translator() -> QTranslator | None:
    """Install the plugin's translator for QGIS's locale (``locale/userLocale``), if one exists."""
    settings = QgsSettings()
    locale = settings.value("locale/userLocale", "") or QLocale.system().name()
    lang = str(locale)[:2]
    for folder in _i18n_dirs():
        qm = folder / f"cmkd_plugin_{lang}.qm"
        if qm.exists():
            translator = QTranslator()
            if translator.load(str(qm)):
                QCoreApplication.installTranslator(translator)
                return translator
    return None


class CmkdPlugin:
    """Plugin entry: ``initProcessing`` (also called by qgis_process) and ``initGui``."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: CmkdProvider | None = None
        self.translator = install_translator()
        self.actions: list = []

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API
        if self.provider is None:
            self.provider = CmkdProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        self.initProcessing()
        if self.iface is None:
            return
        from .gui import add_menu_actions

        self.actions = add_menu_actions(self.iface, self.provider)

    def unload(self) -> None:
        if self.iface is not None:
            from .gui import remove_menu_actions

            remove_menu_actions(self.iface, self.actions)
            self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.translator is not None:
            QCoreApplication.removeTranslator(self.translator)
            self.translator = None
