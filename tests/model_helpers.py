"""Building Graphical Modeler models in code, shared by the QGIS-tier model tests."""

from __future__ import annotations

from qgis.core import QgsProcessingModelChildAlgorithm, QgsProcessingModelOutput


def model_child(alg_id, child_id, sources, outputs=()):
    """A model child running ``alg_id`` with parameter ``sources`` (key -> model source); each
    name in ``outputs`` becomes a model output ``child_id:name``."""
    child = QgsProcessingModelChildAlgorithm(alg_id)
    child.setChildId(child_id)
    for key, source in sources.items():
        child.addParameterSources(key, [source])
    model_outputs = {}
    for name in outputs:
        out = QgsProcessingModelOutput(name, name)
        out.setChildId(child_id)
        out.setChildOutputName(name)
        model_outputs[name] = out
    child.setModelOutputs(model_outputs)
    return child
