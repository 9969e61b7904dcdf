"""Terrain: fractal elevation, slope, illumination of a DEM under a given sun, cast shadows.

Conventions: arrays are north-up (row 0 is the northern edge), x east, y north; the sun azimuth
is clockwise from north, the elevation above the horizon, both in degrees.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fractal_noise(shape: tuple[int, int], spectral_exponent: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian noise with power spectrum ``|k|^-spectral_exponent``.

    Larger exponents give smoother fields (2 to 3.5 look like natural terrain and geology).
    """
    rows, cols = shape
    ky = np.fft.fftfreq(rows)[:, None]
    kx = np.fft.rfftfreq(cols)[None, :]
    k = np.sqrt(kx * kx + ky * ky)
    k[0, 0] = 1.0
    amplitude = k ** (-spectral_exponent / 2.0)
    amplitude[0, 0] = 0.0
    spectrum = amplitude * (rng.standard_normal(amplitude.shape)
                            + 1j * rng.standard_normal(amplitude.shape))
    field = np.fft.irfft2(spectrum, s=shape)
    field -= field.mean()
    field /= field.std() or 1.0
    return field.astype(np.float32)


def make_dem(shape: tuple[int, int], gsd_m: float, rms_slope: float,
             rng: np.random.Generator) -> np.ndarray:
    """A fractal terrain (metres) with a regional trend, scaled to a root-mean-square gradient.

    Scaling by the gradient rather than by the relief keeps slopes (hence shading) alike at every
    scene size and GSD.
    """
    # Periodic FFT noise on a padded grid so opposite edges are unrelated.
    pad = (shape[0] + shape[0] // 2, shape[1] + shape[1] // 2)
    z = fractal_noise(pad, 3.6, rng)[: shape[0], : shape[1]].astype(np.float64)
    yy, xx = np.mgrid[0: shape[0], 0: shape[1]] / max(shape)
    angle = rng.uniform(0, 2 * np.pi)
    z += 0.8 * (np.cos(angle) * xx + np.sin(angle) * yy)  # regional tilt: drainage to one side
    gy, gx = np.gradient(z, gsd_m)
    z *= rms_slope / np.sqrt(np.mean(gx * gx + gy * gy))
    z -= z.min()
    return z.astype(np.float32)


def surface_normal_cos(dem: np.ndarray, gsd_m: float, sun_azimuth_deg: float,
                       sun_elevation_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of the local solar incidence angle and of the slope, per pixel."""
    dz_drow, dz_dcol = np.gradient(dem.astype(np.float64), gsd_m)
    dz_dx, dz_dy = dz_dcol, -dz_drow  # rows run south
    norm = np.sqrt(dz_dx * dz_dx + dz_dy * dz_dy + 1.0)
    az, el = np.radians(sun_azimuth_deg), np.radians(sun_elevation_deg)
    sx, sy, sz = np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)
    cos_i = (-dz_dx * sx - dz_dy * sy + sz) / norm
    return cos_i, 1.0 / norm


def cast_shadow(dem: np.ndarray, gsd_m: float, sun_azimuth_deg: float,
                sun_elevation_deg: float, max_steps: int = 2000) -> np.ndarray:
    """Boolean mask of pixels in the shadow of terrain between them and the sun (ray marching)."""
    dem = dem.astype(np.float64)
    az, el = np.radians(sun_azimuth_deg), np.radians(sun_elevation_deg)
    # One pixel per step toward the sun; rows grow southward.
    dcol, drow = np.sin(az), -np.cos(az)
    rise = np.tan(el) * gsd_m
    relief = float(dem.max() - dem.min())
    steps = min(max_steps, int(np.ceil(relief / max(rise, 1e-9))) + 1)
    rows, cols = np.mgrid[0: dem.shape[0], 0: dem.shape[1]].astype(np.float64)
    shadow = np.zeros(dem.shape, dtype=bool)
    for k in range(1, steps + 1):
        r, c = rows + k * drow, cols + k * dcol
        inside = (r >= 0) & (r <= dem.shape[0] - 1) & (c >= 0) & (c <= dem.shape[1] - 1)
        if not inside.any():
            break
        h = ndimage.map_coordinates(dem, [r, c], order=1, mode="nearest")
        shadow |= inside & (h > dem + k * rise)
    return shadow


def illumination_factor(dem: np.ndarray, gsd_m: float, sun_azimuth_deg: float,
                        sun_elevation_deg: float, diffuse_fraction: float,
                        cast_shadows: bool = True) -> np.ndarray:
    """Irradiance of each pixel relative to a flat, unshadowed surface (1.0 on flat ground).

    Lambertian direct term ``cos i`` (zero in cast shadow) plus isotropic skylight weighted by the
    sky-view factor ``(1 + cos slope) / 2``; ``diffuse_fraction`` is the skylight share on flat
    ground.

    Args:
        dem: elevation (m), north-up.
        gsd_m: pixel size (m).
        sun_azimuth_deg: clockwise from north.
        sun_elevation_deg: above the horizon.
        diffuse_fraction: skylight share of the irradiance on flat ground, in [0, 1).
        cast_shadows: whether terrain blocks the direct sun.

    Returns:
        float32 array shaped like ``dem``.
    """
    cos_i, cos_slope = surface_normal_cos(dem, gsd_m, sun_azimuth_deg, sun_elevation_deg)
    direct = np.clip(cos_i, 0.0, None)
    if cast_shadows:
        direct[cast_shadow(dem, gsd_m, sun_azimuth_deg, sun_elevation_deg)] = 0.0
    sin_el = np.sin(np.radians(sun_elevation_deg))
    d = float(diffuse_fraction)
    irradiance = (1.0 - d) * direct / sin_el + d * (1.0 + cos_slope) / 2.0
    return irradiance.astype(np.float32)


def hillshade(dem: np.ndarray, gsd_m: float, azimuth_deg: float = 315.0,
              elevation_deg: float = 45.0) -> np.ndarray:
    """Classic cartographic hillshade in [0, 1] (for the preview)."""
    cos_i, _ = surface_normal_cos(dem, gsd_m, azimuth_deg, elevation_deg)
    return np.clip(cos_i, 0.0, 1.0).astype(np.float32)
