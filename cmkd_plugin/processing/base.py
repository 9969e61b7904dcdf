"""Base class of every CMKD algorithm: naming, groups, translation, help, engine runs."""

from __future__ import annotations

from typing import Any, Sequence

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from . import runner
from .provider import icon_path

#: Group id -> English group name (translated when shown). One place for the toolbox layout.
GROUPS = {
    "diagnostics": "Diagnostics",
    "data": "Survey data",
    "training": "Training",
    "mapping": "Mapping",
    "carbon": "Carbon",
}


class CmkdAlgorithm(QgsProcessingAlgorithm):
    """Subclasses set ``NAME``, ``GROUP`` and ``DISPLAY_NAME`` and implement
    ``initAlgorithm``/``processAlgorithm``; ``shortHelpString`` returns ``HELP``."""

    NAME = ""
    GROUP = "diagnostics"
    DISPLAY_NAME = ""
    HELP = ""

    # --- naming -------------------------------------------------------------------------
    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(GROUPS[self.GROUP])

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return self.GROUP

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        return QIcon(icon_path())

    def svgIconPath(self) -> str:  # noqa: N802 - QGIS API
        return icon_path()

    def createInstance(self):  # noqa: N802 - QGIS API
        return type(self)()

    def tr(self, text: str) -> str:
        # pylupdate5 files each string under the class that wrote it; look along the MRO so
        # strings written in this base class are found as well as the subclass's own.
        for cls in type(self).__mro__:
            translated = QCoreApplication.translate(cls.__name__, text)
            if translated != text:
                return translated
        return text

    # --- parameters ---------------------------------------------------------------------
    def add_advanced(self, parameter: QgsProcessingParameterDefinition) -> None:
        """Add a parameter shown under 'Advanced Parameters' in the dialog."""
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(parameter)

    # --- engine -------------------------------------------------------------------------
    def canExecute(self) -> tuple[bool, str]:  # noqa: N802 - QGIS API
        return runner.engine_status()

    def run_engine(
        self,
        command: str,
        args: Sequence[str],
        feedback: QgsProcessingFeedback,
        outputs: Sequence[str] = (),
    ) -> dict[str, Any]:
        return runner.run_engine(command, args, feedback, outputs)
