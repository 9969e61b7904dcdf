"""Tiled classification of rasters with a teacher or student model file, and map evaluation.

- ``config``: :class:`ClassifyConfig` (tile size, overlap, batch size, device, extent, mask).
- ``inputs``: opening the inputs a model card asks for, read window by window on one grid.
- ``inference``: :class:`Predictor`, batches of tiles -> class probabilities under
  ``torch.inference_mode()``.
- ``outputs``: streamed GeoTIFF outputs (classes, probabilities, confidence) written window by
  window, with overviews, category names and ``.qml`` sidecars.
- ``pipeline``: :func:`classify`, the whole run (read -> infer -> centre-crop stitch -> write).
- ``evaluate``: :func:`evaluate`, a class raster against reference labels (report, CSV, PNG).
"""
