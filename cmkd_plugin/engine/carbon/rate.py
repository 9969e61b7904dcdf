"""Per-pixel carbonation rate and its uncertainty from a CMKD probability raster.

Formula (METHODS.md explains the choices)::

    rate(px)        = SCALE * sum_k p_k(px) * c_k                    [t CO2 ha-1 yr-1]
    uncertainty(px) = SCALE * sqrt(sum_k p_k(px) * (c_k - mu(px))^2),   mu = sum_k p_k c_k

``p_k`` are the class probabilities of the pixel, ``c_k`` the relative coefficients. The
uncertainty is the standard deviation of the coefficient under the pixel's class distribution:
the spread that comes from not knowing which class the pixel is. A pixel is nodata (NaN) in both
outputs wherever any probability band is nodata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import display_name, open_raster, require_crs
from ..geo.tiling import PixelWindow
from ..geo.write import PRODUCT_TAG
from ..geo.qml import pseudocolour_qml as write_pseudocolour_qml

PROBABILITIES_PRODUCT = "probabilities"
RATE_UNIT = "t CO2 ha-1 yr-1"
RATE_BAND = "carbonation_rate_t_co2_per_ha_yr"
UNCERTAINTY_BAND = "carbonation_rate_sd_t_co2_per_ha_yr"
#: Probabilities summing further than this from 1 are reported (softmax output sums to 1).
SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ProbabilityRasterInfo:
    """What the carbonation step needs to know about a probability raster."""

    path: str
    class_names: tuple[str, ...]
    width: int
    height: int
    crs: Any
    transform: Any
    nodata: float | None


def inspect_probabilities(path: str | os.PathLike[str],
                          feedback: Feedback | None = None) -> ProbabilityRasterInfo:
    """Check that ``path`` is a CMKD probability raster and return its class names and grid.

    Raises:
        InputError: no or duplicate band names, integer data, another CMKD product, no CRS.
    """
    feedback = feedback or Feedback()
    with open_raster(path, "Probabilities") as src:
        name = display_name(path)
        descriptions = [(d or "").strip() for d in src.descriptions]
        product = src.tags().get(PRODUCT_TAG)
        if any(not d for d in descriptions) or len({d.casefold() for d in descriptions}) != len(
                descriptions):
            raise InputError(
                f"'{name}' is not a CMKD probability raster (no class band names): every band "
                "must be named after its class, names unique. Use the probabilities output of "
                "cmkd:classify.")
        if product is not None and product != PROBABILITIES_PRODUCT:
            raise InputError(
                f"'{name}' is a CMKD '{product}' raster, not a probability raster; use the "
                "probabilities output of cmkd:classify.")
        if np.dtype(src.dtypes[0]).kind != "f":
            raise InputError(
                f"'{name}' has {src.dtypes[0]} bands; CMKD probability rasters are float32 in "
                "[0, 1]. Use the probabilities output of cmkd:classify.")
        if product is None:
            feedback.warning(
                f"'{name}' has no {PRODUCT_TAG}={PROBABILITIES_PRODUCT} tag; its band names are "
                "taken as class names: " + ", ".join(descriptions) + ".")
        crs = require_crs(src, "Probabilities")
        return ProbabilityRasterInfo(str(path), tuple(descriptions), src.width, src.height, crs,
                                     src.transform, src.nodata)


def block_windows(width: int, height: int, block_px: int = 512) -> Iterator[PixelWindow]:
    """Non-overlapping windows of at most ``block_px`` square, row-major (bounded memory)."""
    for row in range(0, height, block_px):
        for col in range(0, width, block_px):
            yield PixelWindow(col, row, min(block_px, width - col), min(block_px, height - row))


def valid_mask(probs: np.ndarray, nodata: float | None) -> np.ndarray:
    """True where every band holds a finite value other than the declared nodata."""
    valid = np.isfinite(probs).all(axis=0)
    if nodata is not None and not np.isnan(nodata):
        valid &= (probs != nodata).all(axis=0)
    return valid


def rate_and_uncertainty(probs: np.ndarray, coefficients: np.ndarray, scale: float,
                         valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rate and its standard deviation for ``probs (K, h, w)``; NaN where not ``valid``.

    Args:
        probs: class probabilities, band order as ``coefficients``.
        coefficients: ``c_k`` (K,).
        scale: SCALE in t CO2 ha-1 yr-1 per unit coefficient.
        valid: pixels to compute (default: all finite).

    Returns:
        ``(rate, sd)`` float64 arrays (h, w) in t CO2 ha-1 yr-1.
    """
    if valid is None:
        valid = np.isfinite(probs).all(axis=0)
    p = np.where(valid[None], probs, 0.0).astype(np.float64)
    c = np.asarray(coefficients, np.float64)[:, None, None]
    mu = (p * c).sum(axis=0)
    # Clip tiny negative round-off before the square root.
    var = np.maximum((p * (c - mu[None]) ** 2).sum(axis=0), 0.0)
    rate = scale * mu
    sd = scale * np.sqrt(var)
    rate[~valid] = np.nan
    sd[~valid] = np.nan
    return rate, sd


def pseudocolour_qml(band_name: str, maximum: float, unit: str = RATE_UNIT,
                     colours: Sequence[str] = ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8",
                                               "#253494")) -> str:
    """QGIS single-band pseudocolour style from 0 to ``maximum`` with the unit in every label."""
    maximum = float(maximum) if maximum > 0 else 1.0
    n = len(colours)
    stops = [(maximum * i / (n - 1), col) for i, col in enumerate(colours)]
    return write_pseudocolour_qml([(v, c, f"{v:.3g} {unit}") for v, c in stops])
