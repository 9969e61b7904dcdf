"""CMKD Survey engine: the science (models, losses, training, tiling, raster/vector I/O,
carbonation, simulator).

This package never imports qgis. Importing it (or its light modules ``errors``, ``feedback``,
``protocol``, ``atomic``, ``launcher``, ``paths``) never imports torch either, so the QGIS side
can use them. Run it as ``python -m cmkd_plugin.engine <command> ...``.
"""
