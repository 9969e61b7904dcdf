"""Geodata read side, pure functions over pixel windows (no QGIS types).

- ``tiling``: windows with overlap, stitch plan (centre-crop) and strip blender.
- ``grid``: the reference :class:`~.grid.Grid` and raster checks (CRS, bands, overlap).
- ``read``: :class:`~.read.AlignedReader`, any raster read per window on the grid with a mask.
- ``scaling``: raw values to 0-1 (detected or forced, never assumed /255).
- ``spectral``: band wavelengths (ENVI / GeoTIFF / band names) and resampling to model bands.
- ``labels``: point / polygon layers to labelled pixels; ``mask``: polygon processing mask.
- ``split``: spatial block train / validation split.
- ``write``: raster writers (GeoTIFF profile, class rasters, styles).
"""
