"""QGIS tier: the real QgsApplication (pytest-qgis) with Processing and our provider."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cmkd_provider(qgis_processing):  # noqa: ARG001 - initialises Processing first
    from qgis.core import QgsApplication

    from cmkd_plugin.processing.provider import CmkdProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("cmkd")
    if provider is None:
        provider = CmkdProvider()
        assert registry.addProvider(provider)
    # Keep the Python reference alive for the whole session (QGIS_NOTES: or algorithms vanish).
    yield provider


def _model_child(alg_id, child_id, sources, outputs=()):
    """A Modeler child algorithm ``child_id`` running ``alg_id`` with parameter ``sources``
    (``QgsProcessingModelChildParameterSource`` per key), exposing ``outputs`` as model outputs."""
    from qgis.core import QgsProcessingModelChildAlgorithm, QgsProcessingModelOutput

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


@pytest.fixture(scope="session")
def model_child():
    """Builder of Modeler child algorithms (see :func:`_model_child`)."""
    return _model_child
