"""Turning raw rasters into model inputs (numpy, torch-free).

The normalisation statistics and DEM channel definitions stored in the model card are applied
here, so training and classification prepare inputs the same way:

* :func:`dem_features` turns elevation (metres) into the DEM channels of
  :data:`~.config.DEM_CHANNELS`: elevation, slope in degrees and hillshade in [0, 1];
* :func:`band_statistics` computes the per-band mean/std that go into the card;
* :func:`normalise` applies ``(x - mean) / std`` and keeps nodata as NaN, which the models
  treat as "modality not available at this pixel".
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

HILLSHADE_AZIMUTH_DEG = 315.0
HILLSHADE_ALTITUDE_DEG = 45.0


def dem_features(elevation_m: np.ndarray, pixel_size_m: float) -> np.ndarray:
    """DEM channels ``(elevation_m, slope_deg, hillshade)`` as a (3, H, W) float32 array.

    Slope and hillshade use central differences (one-sided on the array edges) with the given
    pixel size; a pixel next to nodata (NaN) gets NaN slope/hillshade. Compute on a window one
    pixel larger than the tile and crop, so tile edges match the untiled result.

    Args:
        elevation_m: (H, W) elevation in metres, NaN = nodata.
        pixel_size_m: ground size of a pixel in metres (> 0).
    """
    if pixel_size_m <= 0:
        raise ValueError(f"pixel_size_m must be > 0, got {pixel_size_m}")
    z = np.asarray(elevation_m, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"elevation must be (height, width), got shape {z.shape}")
    if min(z.shape) < 2:
        dzdy = dzdx = np.zeros_like(z)
    else:
        dzdy, dzdx = np.gradient(z, pixel_size_m)
    slope = np.arctan(np.hypot(dzdx, dzdy))
    # Aspect convention of GDAL's hillshade: rows grow southwards, so north-facing is -dz/dy.
    aspect = np.arctan2(dzdy, -dzdx)
    zenith = np.radians(90.0 - HILLSHADE_ALTITUDE_DEG)
    azimuth = np.radians(360.0 - HILLSHADE_AZIMUTH_DEG + 90.0)
    shade = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(azimuth - aspect)
    out = np.stack([z, np.degrees(slope), np.clip(shade, 0.0, 1.0)])
    out[:, ~np.isfinite(z)] = np.nan
    return out.astype(np.float32)


def band_statistics(array: np.ndarray, valid: np.ndarray | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-band mean and standard deviation over finite (and ``valid``) pixels.

    Args:
        array: (C, H, W) or (C, N) values.
        valid: optional boolean mask over the spatial axes.

    Returns:
        ``(mean, std)`` tuples of C floats; a constant band gets std 1 (so normalising it is
        a shift, never a division by zero).

    Raises:
        ValueError: no finite valid pixel in some band.
    """
    a = np.asarray(array, dtype=np.float64).reshape(array.shape[0], -1)
    ok = np.isfinite(a)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool).reshape(1, -1)
    means, stds = [], []
    for band, mask in zip(a, ok):
        if not mask.any():
            raise ValueError("a band has no valid pixel; cannot compute its statistics")
        values = band[mask]
        mean, std = float(values.mean()), float(values.std())
        means.append(mean)
        stds.append(std if std > 1e-12 else 1.0)
    return tuple(means), tuple(stds)


def normalise(array: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(x - mean) / std`` per band as float32; non-finite stays NaN.

    Args:
        array: (C, H, W) or (B, C, H, W).
        mean, std: C values each (from the model card).
    """
    a = np.asarray(array, dtype=np.float32)
    c_axis = a.ndim - 3
    if a.shape[c_axis] != len(mean) or len(mean) != len(std):
        raise ValueError(f"{a.shape[c_axis]} bands but {len(mean)} means and {len(std)} stds")
    shape = [1] * a.ndim
    shape[c_axis] = len(mean)
    m = np.asarray(mean, dtype=np.float32).reshape(shape)
    s = np.asarray(std, dtype=np.float32).reshape(shape)
    out = (a - m) / s
    out[~np.isfinite(out)] = np.nan
    return out
