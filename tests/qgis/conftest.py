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
