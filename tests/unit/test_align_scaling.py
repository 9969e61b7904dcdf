"""Input scaling is detected from data type and metadata (or forced), never assumed /255."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.grid import Grid
from cmkd_plugin.engine.geo.read import HSI_CONFIG, RGB_CONFIG, AlignedReader, ReaderConfig
from cmkd_plugin.engine.geo.scaling import (
    InputKind,
    Scaling,
    range_warning,
    resolve_scaling,
)
from cmkd_plugin.engine.geo.tiling import PixelWindow

TRANSFORM = from_origin(600_000, 4_000_000, 2, 2)


def write(path: Path, data: np.ndarray, **kw) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype.name, crs="EPSG:32633",
                       transform=TRANSFORM, **kw) as dst:
        dst.write(data)
    return path


def read_all(path: Path, config: ReaderConfig) -> tuple[np.ndarray, AlignedReader]:
    grid = Grid.from_raster(path)
    reader = AlignedReader(path, grid, config)
    data = reader.read(PixelWindow(0, 0, grid.width, grid.height)).data
    reader.close()
    return data, reader


@pytest.mark.parametrize(
    "dtype,kind,gain",
    [
        ("uint8", InputKind.RGB, 1 / 255),
        ("uint16", InputKind.RGB, 1 / 65535),
        ("uint16", InputKind.REFLECTANCE, 1e-4),
        ("int16", InputKind.REFLECTANCE, 1e-4),
        ("float32", InputKind.REFLECTANCE, 1.0),
        ("float32", InputKind.RGB, 1.0),
        ("float32", InputKind.ELEVATION, 1.0),
        ("int16", InputKind.ELEVATION, 1.0),
    ],
)
def test_auto_rules(dtype: str, kind: InputKind, gain: float) -> None:
    spec = resolve_scaling(dtype, kind)
    assert spec.gain == pytest.approx(gain) and spec.offset == 0.0


def test_declared_bit_depth_and_scale_win_over_type() -> None:
    assert resolve_scaling("uint16", "rgb", nbits=12).gain == pytest.approx(1 / 4095)
    spec = resolve_scaling("uint16", "reflectance", declared_scale=2e-5, declared_offset=-0.1)
    assert spec.mode is Scaling.DECLARED and spec.gain == 2e-5 and spec.offset == -0.1


def test_forced_modes_and_bad_names() -> None:
    assert resolve_scaling("uint16", "rgb", forced="12bit").gain == pytest.approx(1 / 4095)
    assert resolve_scaling("uint16", "rgb", forced="reflectance10000").gain == pytest.approx(1e-4)
    assert resolve_scaling("float32", "rgb", forced=Scaling.UINT8).gain == pytest.approx(1 / 255)
    with pytest.raises(InputError, match="use one of: auto, unit"):
        Scaling.parse("percent")
    with pytest.raises(InputError, match="no GDAL scale/offset"):
        resolve_scaling("uint16", "rgb", forced="declared")


def test_files_are_scaled_on_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb16 = rng.integers(0, 4096, size=(3, 8, 8), dtype=np.uint16)
    # 12-bit camera data in a 16-bit file, declared through NBITS
    data, reader = read_all(write(tmp_path / "rgb12.tif", rgb16, NBITS=12), RGB_CONFIG)
    assert np.allclose(data, rgb16 / 4095.0)
    # the same values without NBITS are divided by the type maximum, and flagged as too dark
    data, reader = read_all(write(tmp_path / "rgb16.tif", rgb16), RGB_CONFIG)
    assert np.allclose(data, rgb16 / 65535.0)
    warning = range_warning(data, reader.scaling, "rgb16.tif")
    assert warning is not None and "12-bit" in warning
    # forcing 12-bit on the same file
    forced = ReaderConfig(role="RGB", kind="rgb", expected_bands=3, scaling=Scaling.BITS12)
    data, _ = read_all(tmp_path / "rgb16.tif", forced)
    assert np.allclose(data, rgb16 / 4095.0) and range_warning(data, _.scaling, "x") is None

    hsi = rng.integers(1, 10000, size=(5, 8, 8)).astype(np.int16)
    data, reader = read_all(write(tmp_path / "hsi.tif", hsi), HSI_CONFIG)
    assert np.allclose(data, hsi / 10000.0, atol=1e-6)
    assert range_warning(data, reader.scaling, "hsi.tif") is None

    # float reflectance kept, but percent values are flagged
    pct = (rng.random((5, 8, 8)) * 100).astype(np.float32)
    data, reader = read_all(write(tmp_path / "pct.tif", pct), HSI_CONFIG)
    assert np.allclose(data, pct)
    assert "not 0-1" in range_warning(data, reader.scaling, "pct.tif")


def test_gdal_scale_metadata_is_used(tmp_path: Path) -> None:
    raw = np.full((2, 4, 4), 5000, dtype=np.uint16)
    path = write(tmp_path / "scaled.tif", raw)
    with rasterio.open(path, "r+") as ds:
        ds.scales = (2e-5, 2e-5)
        ds.offsets = (0.0, 0.0)
    data, reader = read_all(path, HSI_CONFIG)
    assert reader.scaling.mode is Scaling.DECLARED
    assert np.allclose(data, 0.1)
