"""Input preparation: DEM slope/hillshade, band statistics and normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmkd_plugin.engine.models.preprocess import band_statistics, dem_features, normalise


def test_flat_dem_has_zero_slope_and_sun_altitude_hillshade() -> None:
    f = dem_features(np.full((5, 6), 120.0), pixel_size_m=2.0)
    assert f.shape == (3, 5, 6) and f.dtype == np.float32
    assert np.allclose(f[0], 120.0) and np.allclose(f[1], 0.0)
    assert np.allclose(f[2], math.cos(math.radians(45.0)), atol=1e-6)  # sun 45 degrees up


def test_plane_slope_in_degrees_uses_the_pixel_size() -> None:
    cols = np.arange(8, dtype=float)
    z = np.tile(cols * 1.0, (6, 1))  # +1 m per pixel eastwards
    assert np.allclose(dem_features(z, 1.0)[1], 45.0, atol=1e-4)
    assert np.allclose(dem_features(z, 2.0)[1], math.degrees(math.atan(0.5)), atol=1e-4)


def test_hillshade_lights_north_west_facing_slopes() -> None:
    cols = np.arange(8, dtype=float)
    rises_east = np.tile(cols * 0.5, (6, 1))  # surface faces west, towards the 315 degree sun
    rises_west = rises_east[:, ::-1].copy()  # faces east, away from it
    west, east = dem_features(rises_east, 1.0)[2], dem_features(rises_west, 1.0)[2]
    assert west.mean() > east.mean() + 0.2
    rises_south = np.tile(np.arange(6, dtype=float)[:, None] * 0.5, (1, 8))  # row index grows southwards: faces north
    assert dem_features(rises_south, 1.0)[2].mean() > dem_features(rises_south[::-1].copy(), 1.0)[2].mean() + 0.2


def test_dem_nodata_stays_nodata() -> None:
    z = np.full((5, 5), 10.0)
    z[2, 2] = np.nan
    f = dem_features(z, 1.0)
    assert np.isnan(f[:, 2, 2]).all()
    assert np.isnan(f[1, 2, 1]) and np.isfinite(f[0, 2, 1])  # neighbours lose slope, keep elevation
    with pytest.raises(ValueError):
        dem_features(z, 0.0)


def test_band_statistics_and_normalise_round_trip() -> None:
    rng = np.random.default_rng(0)
    a = np.stack([rng.normal(5.0, 2.0, (20, 20)), rng.normal(-1.0, 0.5, (20, 20)), np.full((20, 20), 3.0)])
    a[0, 0, 0] = np.nan
    mean, std = band_statistics(a)
    assert mean[0] == pytest.approx(np.nanmean(a[0])) and std[1] == pytest.approx(a[1].std())
    assert std[2] == 1.0  # constant band: no division by zero
    n = normalise(a, mean, std)
    assert n.dtype == np.float32 and np.isnan(n[0, 0, 0]) and np.isfinite(n[1:]).all()
    assert np.nanmean(n[0]) == pytest.approx(0.0, abs=1e-5) and np.nanstd(n[1]) == pytest.approx(1.0, abs=1e-4)
    valid = np.zeros((20, 20), dtype=bool)
    valid[:5] = True
    m_valid, _ = band_statistics(a, valid)
    assert m_valid[1] == pytest.approx(a[1, :5].mean())
    batch = normalise(a[None], mean, std)
    assert np.array_equal(batch[0], n, equal_nan=True)
    with pytest.raises(ValueError):
        normalise(a, mean[:2], std[:2])
    with pytest.raises(ValueError, match="no valid pixel"):
        band_statistics(np.full((1, 3, 3), np.nan))
