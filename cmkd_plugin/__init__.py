"""CMKD Survey QGIS plugin."""


def classFactory(iface):  # noqa: N802 - QGIS plugin entry point
    """Called by QGIS (and by qgis_process with iface=None) to create the plugin."""
    from .plugin import CmkdPlugin

    return CmkdPlugin(iface)
