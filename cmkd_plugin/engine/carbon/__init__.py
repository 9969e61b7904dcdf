"""Carbonation rate (t CO2 ha-1 yr-1) from mineral probabilities, and per-site CO2 uptake.

- :mod:`.coefficients`: the coefficient CSV (class, coefficient, unit, source), its validation
  and the case-insensitive match to a raster's classes; the default SCALE and its anchor.
- :mod:`.rate`: the per-pixel formula, probability-raster checks, the raster style.
- :mod:`.sites`: pixel areas (projected / ellipsoidal), exact partial-pixel coverage, per-site
  sums, the GeoPackage and its style.
- :mod:`.pipeline`: one streamed pass over the raster producing every output atomically.

The method, units and sources are in ``resources/carbonation/METHODS.md``.
"""
