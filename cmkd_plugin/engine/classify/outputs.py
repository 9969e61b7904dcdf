"""Classification outputs streamed to GeoTIFF window by window.

Uses the shared profile, colour and style helpers of :mod:`..geo.write`; that module's writers
take whole arrays, so the windowed writing, the confidence style and the metadata live here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import rasterio
from rasterio.enums import Resampling

from ..geo.grid import Grid
from ..geo.tiling import PixelWindow
from ..geo.qml import class_qml, pseudocolour_qml
from ..geo.write import (
    CLASS_NODATA,
    PRODUCT_TAG,
    build_overviews,
    gtiff_profile,
    hex_to_rgb,
    set_category_names,
)
from .inference import confidence

CONFIDENCE_BANDS = ("max_probability", "normalised_entropy")


@dataclass(frozen=True)
class OutputPaths:
    """Where each output is written (None: not wanted). Paths may be partial files."""

    classes: Path | None = None
    probabilities: Path | None = None
    confidence: Path | None = None


def confidence_qml(band: int = 1) -> str:
    """QGIS single-band pseudocolour style (0 = red, 1 = green) for a confidence band."""
    return pseudocolour_qml([(0.0, "#d7191c", "0"), (0.5, "#ffffbf", "0.5"),
                             (1.0, "#1a9641", "1")], band=band)


class StreamedOutputs:
    """The open output files of one run; :meth:`write` one stitched window at a time."""

    def __init__(self, paths: OutputPaths, grid: Grid, class_names: Sequence[str],
                 colours: Sequence[str], tags: dict[str, str]) -> None:
        self.paths = paths
        self.class_names = tuple(class_names)
        self.colours = tuple(colours)
        self._open: dict[str, Any] = {}
        k = len(self.class_names)
        common = dict(width=grid.width, height=grid.height, crs=grid.crs, transform=grid.transform)
        try:
            if paths.classes is not None:
                profile = gtiff_profile(count=1, dtype="uint8", nodata=CLASS_NODATA, **common)
                profile["photometric"] = "palette"
                ds = rasterio.open(paths.classes, "w", **profile)
                self._open["classes"] = ds
                colormap = {i: hex_to_rgb(c) + (255,) for i, c in enumerate(self.colours)}
                colormap[CLASS_NODATA] = (0, 0, 0, 0)
                ds.write_colormap(1, colormap)
                ds.set_band_description(1, "class")
                ds.update_tags(1, CLASS_NAMES=",".join(self.class_names))
                ds.update_tags(**tags, **{PRODUCT_TAG: "classes"})
            if paths.probabilities is not None:
                ds = rasterio.open(paths.probabilities, "w", **gtiff_profile(
                    count=k, dtype="float32", nodata=float("nan"), interleave="band", **common))
                self._open["probabilities"] = ds
                for i, name in enumerate(self.class_names, start=1):
                    ds.set_band_description(i, name)
                ds.update_tags(**tags, **{PRODUCT_TAG: "probabilities"})
            if paths.confidence is not None:
                ds = rasterio.open(paths.confidence, "w", **gtiff_profile(
                    count=2, dtype="float32", nodata=float("nan"), interleave="band", **common))
                self._open["confidence"] = ds
                for i, name in enumerate(CONFIDENCE_BANDS, start=1):
                    ds.set_band_description(i, name)
                ds.update_tags(**tags, **{PRODUCT_TAG: "confidence"})
        except BaseException:
            self.close()
            raise

    def write(self, window: PixelWindow, probs: np.ndarray, valid: np.ndarray) -> None:
        """Write one region: ``probs (K, h, w)`` and ``valid (h, w)`` (False -> nodata)."""
        win = window.to_rasterio()
        if "classes" in self._open:
            classes = np.argmax(probs, axis=0).astype(np.uint8)
            classes[~valid] = CLASS_NODATA
            self._open["classes"].write(classes, 1, window=win)
        if "probabilities" in self._open:
            p = probs.astype(np.float32, copy=True)
            p[:, ~valid] = np.nan
            self._open["probabilities"].write(p, window=win)
        if "confidence" in self._open:
            c = confidence(probs)
            c[:, ~valid] = np.nan
            self._open["confidence"].write(c, window=win)

    def write_nodata(self, window: PixelWindow) -> None:
        """Write nodata over a region that was skipped (outside the mask, or no valid input)."""
        h, w = window.height, window.width
        win = window.to_rasterio()
        if "classes" in self._open:
            self._open["classes"].write(np.full((h, w), CLASS_NODATA, np.uint8), 1, window=win)
        for key in ("probabilities", "confidence"):
            if key in self._open:
                ds = self._open[key]
                ds.write(np.full((ds.count, h, w), np.nan, np.float32), window=win)

    def finish(self) -> None:
        """Overviews, then close; category names and ``.qml`` sidecars after closing."""
        for key, ds in self._open.items():
            build_overviews(ds, Resampling.mode if key == "classes" else Resampling.average)
        self.close()
        if self.paths.classes is not None:
            set_category_names(self.paths.classes, self.class_names)
            self.paths.classes.with_suffix(".qml").write_text(
                class_qml(self.class_names, self.colours), encoding="utf-8")
        if self.paths.confidence is not None:
            self.paths.confidence.with_suffix(".qml").write_text(confidence_qml(1),
                                                                 encoding="utf-8")

    def close(self) -> None:
        for ds in self._open.values():
            if not ds.closed:
                ds.close()

    def __enter__(self) -> "StreamedOutputs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
