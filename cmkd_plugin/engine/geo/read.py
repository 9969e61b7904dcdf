"""Read any raster window by window on a reference :class:`~.grid.Grid`, with a validity mask.

A source in another CRS, resolution or extent is warped on the fly through
``rasterio.vrt.WarpedVRT`` (only the source pixels a window needs are read); a source already on
the grid, or shifted by whole pixels in the same CRS and resolution, is read directly without
resampling. Values come back as float32 after scaling, NaN where invalid; a pixel is valid when
its bands are finite (declared nodata, NaN, pixels masked by an alpha band or an internal mask —
as orthomosaics mark their borders — and everything outside the source extent are not).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from rasterio.enums import ColorInterp, MaskFlags

from ..errors import InputError
from .grid import (
    Grid,
    check_overlap,
    display_name,
    open_raster,
    require_band_count,
    require_crs,
)
from .scaling import InputKind, Scaling, ScalingSpec, scaling_for_dataset
from .tiling import PixelWindow

CONTINUOUS = "bilinear"
CATEGORICAL = "nearest"


@dataclass(frozen=True)
class ReaderConfig:
    """How one input raster is read onto the grid.

    Attributes:
        role: the input's name in messages ("RGB", "HSI", "DEM", "Truth").
        kind: what it holds, for automatic scaling.
        resampling: ``"bilinear"`` for continuous values, ``"nearest"`` for classes (any
            rasterio resampling name is accepted).
        bands: 1-based band indexes to read; None for all.
        expected_bands: required band count (after ``bands``), None for any.
        band_hint: what to tell the user when the count is wrong.
        scaling: forced scaling, ``AUTO`` to detect.
        min_valid_band_fraction: a pixel is valid when at least this fraction of its bands is
            finite (1.0: all bands; lower for HSI whose spectral resampling fills gaps).
    """

    role: str = "Raster"
    kind: InputKind = InputKind.REFLECTANCE
    resampling: str = CONTINUOUS
    bands: tuple[int, ...] | None = None
    expected_bands: int | None = None
    band_hint: str = ""
    scaling: Scaling = Scaling.AUTO
    min_valid_band_fraction: float = 1.0


RGB_CONFIG = ReaderConfig(role="RGB", kind=InputKind.RGB, expected_bands=3,
                          band_hint="keep only the red, green and blue bands (e.g. GDAL's Translate "
                                    "with bands 1, 2, 3); a fourth band marked as alpha is read as "
                                    "the mask")
DEM_CONFIG = ReaderConfig(role="DEM", kind=InputKind.ELEVATION, expected_bands=1,
                          band_hint="choose the elevation band")
HSI_CONFIG = ReaderConfig(role="HSI", kind=InputKind.REFLECTANCE)
CLASS_CONFIG = ReaderConfig(role="Classes", kind=InputKind.ELEVATION, resampling=CATEGORICAL,
                            expected_bands=1, band_hint="choose the class band",
                            scaling=Scaling.NONE)


@dataclass
class WindowData:
    """One window read on the grid.

    Attributes:
        data: float32 ``(bands, h, w)``, scaled; NaN where a band is invalid.
        valid: bool ``(h, w)``.
    """

    data: np.ndarray
    valid: np.ndarray


def _integer_offset(src_transform: Any, grid: Grid) -> tuple[int, int] | None:
    """``(col, row)`` of the grid's origin in source pixels if the grids differ by whole pixels."""
    s, g = src_transform, grid.transform
    if not (np.isclose(s.a, g.a, rtol=1e-9) and np.isclose(s.e, g.e, rtol=1e-9)
            and s.b == 0 and s.d == 0 and g.b == 0 and g.d == 0):
        return None
    col = (g.c - s.c) / s.a
    row = (g.f - s.f) / s.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(col)), int(round(row))


class AlignedReader:
    """A raster read window by window on a reference grid.

    Usage::

        with AlignedReader("hsi.tif", grid, HSI_CONFIG) as hsi:
            win = hsi.read(task.read)      # win.data (B, h, w) float32, win.valid (h, w)

    Raises InputError at opening for: missing/unreadable file, no CRS, wrong band count, bands
    out of range, no overlap with the grid.
    """

    def __init__(self, path: str | os.PathLike[str], grid: Grid,
                 config: ReaderConfig = ReaderConfig()) -> None:
        from rasterio.enums import Resampling

        self.path = str(path)
        self.grid = grid
        self.config = config
        self._ds = open_raster(self.path, config.role)
        try:
            require_crs(self._ds, config.role)
            self.bands: tuple[int, ...] = self._check_bands()
            self.overlap_fraction = check_overlap(grid, self._ds, config.role)
            self.scaling: ScalingSpec = scaling_for_dataset(
                self._ds, config.kind, config.scaling, self.bands)
            try:
                resampling = Resampling[config.resampling]
            except KeyError:
                raise InputError(
                    f"Unknown resampling '{config.resampling}'; use bilinear, cubic or nearest."
                ) from None
            self.nodata = self._ds.nodata
            self._masked = any(MaskFlags.per_dataset in self._ds.mask_flag_enums[b - 1]
                               for b in self.bands)
            self._offset = (_integer_offset(self._ds.transform, grid)
                            if self._ds.crs == grid.crs else None)
            self._vrt = None
            if self._offset is None:
                from rasterio.vrt import WarpedVRT

                src_nodata = self.nodata
                if src_nodata is None and np.dtype(self._ds.dtypes[0]).kind == "f":
                    src_nodata = float("nan")
                self._vrt = WarpedVRT(
                    self._ds, crs=grid.crs, transform=grid.transform, width=grid.width,
                    height=grid.height, resampling=resampling, dtype="float32",
                    src_nodata=src_nodata, nodata=float("nan"),
                )
        except BaseException:
            self._ds.close()
            raise

    def _check_bands(self) -> tuple[int, ...]:
        c = self.config
        if c.bands is not None:
            bad = [b for b in c.bands if not 1 <= b <= self._ds.count]
            if bad:
                raise InputError(
                    f"{c.role} raster '{display_name(self.path)}' has bands 1..{self._ds.count}; "
                    f"band(s) {bad} do not exist. Choose existing bands."
                )
            bands = tuple(c.bands)
            if c.expected_bands is not None and len(bands) != c.expected_bands:
                raise InputError(
                    f"{c.role} needs {c.expected_bands} band(s); {len(bands)} were chosen "
                    f"from '{display_name(self.path)}'" + (f" — {c.band_hint}" if c.band_hint else "")
                    + "."
                )
            return bands
        # An alpha band (RGBA orthomosaics) is a validity mask, not data: it is left out of the
        # bands and serves through the dataset mask (``_masked``).
        bands = tuple(b for b, ci in enumerate(self._ds.colorinterp, start=1)
                      if ci != ColorInterp.alpha) or tuple(range(1, self._ds.count + 1))
        if c.expected_bands is not None and len(bands) != c.expected_bands:
            require_band_count(self._ds, c.role, c.expected_bands, c.band_hint)
        return bands

    @property
    def dataset(self) -> Any:
        """The open source dataset (tags, descriptions), not warped."""
        return self._ds

    @property
    def band_count(self) -> int:
        return len(self.bands)

    def read_raw(self, window: PixelWindow) -> np.ndarray:
        """Unscaled float32 values ``(bands, h, w)`` of ``window`` on the grid; NaN invalid."""
        from rasterio.errors import RasterioIOError

        try:
            if self._vrt is not None:
                return self._vrt.read(indexes=list(self.bands), window=window.to_rasterio(),
                                      out_dtype="float32")
            return self._read_offset(window)
        except RasterioIOError as exc:
            # A truncated or damaged file opens (its header is intact) and fails at a block.
            raise InputError(
                f"{self.config.role} raster '{display_name(self.path)}' cannot be read: the file "
                f"is damaged or truncated ({exc}). Copy or export it again."
            ) from None

    def _read_offset(self, window: PixelWindow) -> np.ndarray:
        from rasterio.windows import Window

        col0, row0 = self._offset  # type: ignore[misc]
        out = np.full((len(self.bands), window.height, window.width), np.nan, dtype=np.float32)
        # the window in source pixels, clipped to the source
        sc0, sr0 = window.col_off + col0, window.row_off + row0
        c0, r0 = max(sc0, 0), max(sr0, 0)
        c1 = min(sc0 + window.width, self._ds.width)
        r1 = min(sr0 + window.height, self._ds.height)
        if c1 <= c0 or r1 <= r0:
            return out
        src_window = Window(c0, r0, c1 - c0, r1 - r0)
        raw = self._ds.read(indexes=list(self.bands), window=src_window)
        part = raw.astype(np.float32)
        if self.nodata is not None and not np.isnan(self.nodata):
            part[raw == np.asarray(self.nodata).astype(raw.dtype)] = np.nan
        if self._masked:
            # An alpha band or an internal mask (the warped path honours them through GDAL).
            part[self._ds.read_masks(indexes=list(self.bands), window=src_window) == 0] = np.nan
        out[:, r0 - sr0:r1 - sr0, c0 - sc0:c1 - sc0] = part
        return out

    def read(self, window: PixelWindow) -> WindowData:
        """Scaled float32 values and validity of ``window`` (a window of the grid)."""
        data = self.scaling.apply(self.read_raw(window))
        finite = np.isfinite(data)
        frac = self.config.min_valid_band_fraction
        if frac >= 1.0:
            valid = finite.all(axis=0)
        else:
            valid = finite.mean(axis=0) >= max(frac, 1e-9)
        return WindowData(data, valid)

    def close(self) -> None:
        if self._vrt is not None:
            self._vrt.close()
        self._ds.close()

    def __enter__(self) -> "AlignedReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def combine_valid(masks: Iterable[np.ndarray]) -> np.ndarray:
    """Pixels valid in every mask (nodata in any required modality makes a pixel nodata)."""
    masks = list(masks)
    if not masks:
        raise ValueError("combine_valid needs at least one mask")
    out = masks[0].copy()
    for m in masks[1:]:
        out &= m
    return out


@dataclass
class AlignedStack:
    """Several modalities read together on one grid (e.g. ``{"rgb": ..., "hsi": ..., "dem": ...}``)."""

    readers: Mapping[str, AlignedReader]
    required: Sequence[str] = field(default_factory=tuple)

    def read(self, window: PixelWindow) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Data of each modality and the combined validity of the required ones (all if none
        named)."""
        data: dict[str, np.ndarray] = {}
        masks: list[np.ndarray] = []
        required = set(self.required or self.readers)
        for name, reader in self.readers.items():
            win = reader.read(window)
            data[name] = win.data
            if name in required:
                masks.append(win.valid)
        return data, combine_valid(masks)

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()

    def __enter__(self) -> "AlignedStack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
