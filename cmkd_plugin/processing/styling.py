"""Styling of output layers loaded onto the map.

The engine writes a QGIS ``.qml`` sidecar next to every output it styles (paletted classes with
their names, pseudocolour ramps with units, graduated site polygons), so headless outputs look the
same when opened later. In QGIS, a layer post-processor applies that sidecar (and the layer name)
when Processing loads the output onto the canvas.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingLayerPostProcessorInterface,
)
from qgis.PyQt.QtCore import QCoreApplication


def sidecar_style(path: str) -> Path:
    """The ``.qml`` that QGIS would load by default for ``path``."""
    return Path(path).with_suffix(".qml")


class ApplySidecarStyle(QgsProcessingLayerPostProcessorInterface):
    """Loads the output's ``.qml`` sidecar into the layer once it is on the project."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        qml = sidecar_style(self.path)
        if layer is None or not qml.exists():
            return
        message, ok = layer.loadNamedStyle(str(qml))
        if not ok and feedback is not None:
            feedback.pushWarning(
                QCoreApplication.translate("ApplySidecarStyle", "Could not apply the style {}: {}")
                .format(qml, message)
            )
        layer.triggerRepaint()


#: QGIS keeps no Python reference to a post-processor, and the algorithm instance that made it
#: may be collected before Processing loads the layers: without this list the post-processor
#: silently never runs. Bounded, since each run adds a few.
_ALIVE: list[ApplySidecarStyle] = []
_ALIVE_MAX = 256


def style_on_load(context: QgsProcessingContext, output_path: str) -> None:
    """Apply ``output_path``'s ``.qml`` sidecar when Processing loads it onto the project."""
    if not context.willLoadLayerOnCompletion(output_path):
        return
    processor = ApplySidecarStyle(output_path)
    _ALIVE.append(processor)
    del _ALIVE[:-_ALIVE_MAX]
    context.layerToLoadOnCompletionDetails(output_path).setPostProcessor(processor)
