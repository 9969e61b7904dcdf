"""Base class of every CMKD algorithm: naming, groups, translation, help, engine runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from . import runner
from .provider import icon_path

#: Vector inputs that hold labels or sites: points or polygons.
POINT_OR_POLYGON = [QgsProcessing.TypeVectorPoint, QgsProcessing.TypeVectorPolygon]

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

    def add_modality_inputs(self, hsi_optional: bool, dem_optional: bool) -> None:
        """The RGB / HSI / DEM raster inputs shared by training and classification."""
        from qgis.core import QgsProcessingParameterRasterLayer

        self.addParameter(QgsProcessingParameterRasterLayer(
            "RGB", self.tr("RGB image (3 bands, or RGB + alpha)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "HSI", self.tr("Hyperspectral image (HSI, with band wavelengths)"),
            optional=hsi_optional))
        self.addParameter(QgsProcessingParameterRasterLayer(
            "DEM", self.tr("Elevation model (DEM, metres)"), optional=dem_optional))

    def modality_args(self, parameters, context: QgsProcessingContext) -> list[str]:
        """``--rgb P [--hsi P] [--dem P]`` from the modality inputs."""
        args: list[str] = []
        for key in ("RGB", "HSI", "DEM"):
            path = self.raster_path(parameters, key, context)
            if path:
                args += ["--" + key.lower(), path]
        return args

    def raster_path(self, parameters, key: str, context: QgsProcessingContext) -> str | None:
        """File path of a raster layer parameter (``None`` when an optional one is empty)."""
        layer = self.parameterAsRasterLayer(parameters, key, context)
        if layer is None:
            return None
        source = layer.source()
        if layer.providerType() != "gdal" or not Path(source.split("|")[0]).exists():
            raise QgsProcessingException(
                self.tr("{} must be a raster file on disk (got '{}'); save it as GeoTIFF first.")
                .format(key, source)
            )
        return source

    def vector_source(self, parameters, key: str, context: QgsProcessingContext,
                      feedback) -> str | None:
        """A vector parameter as ``file`` or ``file|layername=x`` the engine can read; memory
        layers and selections are exported to a temporary GeoPackage first."""
        if not parameters.get(key):
            return None
        path, layer_name = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, key, context, ["gpkg", "shp", "geojson"], "gpkg", feedback)
        if not path:
            return None
        return f"{path}|layername={layer_name}" if layer_name else path

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
