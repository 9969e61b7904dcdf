"""Overlapping windows over a raster and seam-free stitching of per-window results.

Pure functions over pixel windows: no file access, no QGIS types. A :class:`StitchPlan` lists, for
every window, the input window to read (with overlap) and the output region that window alone
writes, so a caller reads, infers and writes window by window with bounded memory.

Number of windows along one axis of length ``L`` with tile ``T`` and overlap ``O`` (stride
``S = T - O``)::

    n(L) = 1                          if L <= T   (one window clipped to L; callers pad it)
    n(L) = ceil((L - T) / S) + 1      otherwise

Window ``i < n - 1`` starts at ``i * S``; the last one starts at ``L - T`` (shifted back inside
the raster), so lengths that are not a multiple of the stride are covered without reading
outside the raster. The 2-D plan is the product of the row and column axes (``n(H) * n(W)``
windows, row-major order).

Seam-free stitching. Centre-crop: where two neighbouring windows overlap, the cut lies in the
middle of their overlap, so every pixel is taken from a window in which it is at least
``overlap_px // 2`` pixels from any edge that is not a raster edge. A function whose value at a
pixel depends only on the pixels within ``r`` of it (a convolutional network with receptive-field
radius ``r``; zero padding at raster edges) therefore gives, tiled and stitched, exactly the
whole-image result when ``r <= overlap_px // 2``. Blending (:class:`StripBlender`) instead
averages the overlapping windows with weights that ramp (raised cosine) from near zero at an
interior window edge to one over the overlap; weights never fall at raster edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class TilingConfig:
    """How a raster is cut into windows.

    Attributes:
        tile_size_px: side of a square window in pixels (what the model sees).
        overlap_px: pixels shared by neighbouring windows; at least twice the model's
            receptive-field radius for exact centre-crop stitching.
    """

    tile_size_px: int = 256
    overlap_px: int = 32

    def __post_init__(self) -> None:
        if self.tile_size_px < 1:
            raise InputError(f"Tile size must be at least 1 pixel; got {self.tile_size_px}.")
        if self.overlap_px < 0:
            raise InputError(f"Overlap must be 0 or more pixels; got {self.overlap_px}.")
        if 2 * self.overlap_px >= self.tile_size_px:
            raise InputError(
                f"Overlap ({self.overlap_px} px) must be less than half the tile size "
                f"({self.tile_size_px} px); lower the overlap or raise the tile size."
            )

    @property
    def stride_px(self) -> int:
        """Distance between the starts of neighbouring windows."""
        return self.tile_size_px - self.overlap_px


@dataclass(frozen=True)
class PixelWindow:
    """A rectangle of pixels: offsets of its top-left pixel and its size (rasterio order)."""

    col_off: int
    row_off: int
    width: int
    height: int

    @property
    def row_slice(self) -> slice:
        return slice(self.row_off, self.row_off + self.height)

    @property
    def col_slice(self) -> slice:
        return slice(self.col_off, self.col_off + self.width)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices into a whole-raster array."""
        return self.row_slice, self.col_slice

    def to_rasterio(self):  # -> rasterio.windows.Window (imported lazily: keep this module light)
        from rasterio.windows import Window

        return Window(self.col_off, self.row_off, self.width, self.height)

    def relative_to(self, outer: "PixelWindow") -> tuple[slice, slice]:
        """Slices that select this window inside an array covering ``outer``."""
        r0 = self.row_off - outer.row_off
        c0 = self.col_off - outer.col_off
        return slice(r0, r0 + self.height), slice(c0, c0 + self.width)


@dataclass(frozen=True)
class TileTask:
    """One step of a stitch plan.

    Attributes:
        index: position in the plan (row-major).
        read: the window to read and run the model on (includes the overlap).
        write: the output region this window alone writes (a sub-rectangle of ``read``).
    """

    index: int
    read: PixelWindow
    write: PixelWindow

    @property
    def crop(self) -> tuple[slice, slice]:
        """Slices that cut ``write`` out of the model output for ``read``."""
        return self.write.relative_to(self.read)


def window_count(length_px: int, tile_size_px: int, overlap_px: int) -> int:
    """Number of windows along one axis (the formula in the module docstring)."""
    if length_px < 1:
        raise InputError(f"Cannot tile an empty raster axis (length {length_px} px).")
    if length_px <= tile_size_px:
        return 1
    stride = tile_size_px - overlap_px
    return math.ceil((length_px - tile_size_px) / stride) + 1


def axis_starts(length_px: int, tile_size_px: int, overlap_px: int) -> list[int]:
    """Start offsets of the windows along one axis; the last one is shifted inside the raster."""
    n = window_count(length_px, tile_size_px, overlap_px)
    if n == 1:
        return [0]
    stride = tile_size_px - overlap_px
    return [i * stride for i in range(n - 1)] + [length_px - tile_size_px]


def _axis_cuts(starts: list[int], size: int, length_px: int) -> list[tuple[int, int]]:
    """Output range ``[a, b)`` of each window along one axis: cuts in the middle of overlaps."""
    bounds = [0]
    for left, right in zip(starts[:-1], starts[1:]):
        overlap = left + size - right
        bounds.append(right + overlap // 2)
    bounds.append(length_px)
    return list(zip(bounds[:-1], bounds[1:]))


@dataclass(frozen=True)
class StitchPlan:
    """Windows to read and regions to write for a ``width_px`` x ``height_px`` raster."""

    width_px: int
    height_px: int
    config: TilingConfig

    def __post_init__(self) -> None:
        if self.width_px < 1 or self.height_px < 1:
            raise InputError(
                f"Cannot tile an empty area ({self.width_px} x {self.height_px} px): "
                "check the processing extent."
            )

    @property
    def row_starts(self) -> list[int]:
        return axis_starts(self.height_px, self.config.tile_size_px, self.config.overlap_px)

    @property
    def col_starts(self) -> list[int]:
        return axis_starts(self.width_px, self.config.tile_size_px, self.config.overlap_px)

    def __len__(self) -> int:
        c = self.config
        return window_count(self.height_px, c.tile_size_px, c.overlap_px) * window_count(
            self.width_px, c.tile_size_px, c.overlap_px
        )

    def __iter__(self) -> Iterator[TileTask]:
        size = self.config.tile_size_px
        rows, cols = self.row_starts, self.col_starts
        row_cuts = _axis_cuts(rows, size, self.height_px)
        col_cuts = _axis_cuts(cols, size, self.width_px)
        tile_h = min(size, self.height_px)
        tile_w = min(size, self.width_px)
        index = 0
        for r0, (wr0, wr1) in zip(rows, row_cuts):
            for c0, (wc0, wc1) in zip(cols, col_cuts):
                yield TileTask(
                    index=index,
                    read=PixelWindow(c0, r0, tile_w, tile_h),
                    write=PixelWindow(wc0, wr0, wc1 - wc0, wr1 - wr0),
                )
                index += 1

    def tasks(self) -> list[TileTask]:
        return list(self)


def pad_to_tile(array: np.ndarray, tile_size_px: int, mode: str = "reflect") -> np.ndarray:
    """Pad the last two axes of ``array`` on the bottom/right up to ``tile_size_px``.

    Used for the single clipped window of a raster smaller than a tile when a model needs a
    fixed input size; crop the model output back with ``[..., :h, :w]``. ``reflect`` falls back
    to ``edge`` for axes too short to reflect.
    """
    h, w = array.shape[-2:]
    pad_h, pad_w = max(tile_size_px - h, 0), max(tile_size_px - w, 0)
    if pad_h == 0 and pad_w == 0:
        return array
    pads = [(0, 0)] * (array.ndim - 2) + [(0, pad_h), (0, pad_w)]
    if mode == "reflect" and (pad_h >= h or pad_w >= w):
        mode = "edge"
    if mode == "constant":
        return np.pad(array, pads, mode="constant")
    return np.pad(array, pads, mode=mode)


def stitch_centre_crop(
    plan: StitchPlan, outputs: Iterator[tuple[TileTask, np.ndarray]], channels: int,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Assemble per-window outputs ``(C, h, w)`` into one in-memory ``(C, H, W)`` array.

    For small rasters and tests; large outputs are written region by region with
    ``task.write`` and ``task.crop`` instead.
    """
    out = np.zeros((channels, plan.height_px, plan.width_px), dtype=dtype)
    for task, result in outputs:
        out[(slice(None),) + task.write.slices] = result[(slice(None),) + task.crop]
    return out


def blend_weights(
    read: PixelWindow, overlap_px: int, width_px: int, height_px: int
) -> np.ndarray:
    """Raised-cosine weights ``(h, w)`` for one window: ramps over the overlap at interior edges.

    The ramp goes from a small positive value (never zero, so every pixel has weight) to one over
    ``overlap_px`` pixels; sides lying on the raster edge keep weight one.
    """

    def axis(start: int, size: int, length: int) -> np.ndarray:
        w = np.ones(size, dtype=np.float64)
        if overlap_px > 0:
            ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(overlap_px) + 0.5) / overlap_px)
            n = min(overlap_px, size)
            if start > 0:
                w[:n] = np.minimum(w[:n], ramp[:n])
            if start + size < length:
                w[size - n:] = np.minimum(w[size - n:], ramp[:n][::-1])
        return w

    wy = axis(read.row_off, read.height, height_px)
    wx = axis(read.col_off, read.width, width_px)
    return (wy[:, None] * wx[None, :]).astype(np.float32)


class StripBlender:
    """Weighted blending of overlapping windows with memory bounded by one strip of rows.

    Feed windows in plan order (row-major) with :meth:`add`; it returns the output blocks that
    became final (no later window touches them) as ``(PixelWindow, array (C, h, W))``; call
    :meth:`flush` at the end for the rest. Peak memory is ``C x tile_size_px x W`` floats (two
    accumulators), independent of the raster height.
    """

    def __init__(self, plan: StitchPlan, channels: int) -> None:
        self.plan = plan
        self.channels = channels
        self._row_starts = plan.row_starts
        self._strip_top = 0
        self._acc = np.zeros((channels, 0, plan.width_px), dtype=np.float64)
        self._wsum = np.zeros((0, plan.width_px), dtype=np.float64)

    def _ensure_rows(self, bottom: int) -> None:
        have = self._strip_top + self._acc.shape[1]
        if bottom > have:
            extra = bottom - have
            self._acc = np.concatenate(
                [self._acc, np.zeros((self.channels, extra, self.plan.width_px))], axis=1
            )
            self._wsum = np.concatenate([self._wsum, np.zeros((extra, self.plan.width_px))], axis=0)

    def _emit_until(self, row: int) -> list[tuple[PixelWindow, np.ndarray]]:
        n = row - self._strip_top
        if n <= 0:
            return []
        block = (self._acc[:, :n] / self._wsum[None, :n]).astype(np.float32)
        window = PixelWindow(0, self._strip_top, self.plan.width_px, n)
        self._acc = self._acc[:, n:]
        self._wsum = self._wsum[n:]
        self._strip_top = row
        return [(window, block)]

    def add(self, task: TileTask, result: np.ndarray) -> list[tuple[PixelWindow, np.ndarray]]:
        """Accumulate one window's output ``(C, h, w)``; return blocks that are now final."""
        read = task.read
        done: list[tuple[PixelWindow, np.ndarray]] = []
        # Rows above this window's top are touched by no later window (row-major order).
        if read.row_off > self._strip_top:
            done = self._emit_until(read.row_off)
        self._ensure_rows(read.row_off + read.height)
        w = blend_weights(read, self.plan.config.overlap_px, self.plan.width_px,
                          self.plan.height_px).astype(np.float64)
        r0 = read.row_off - self._strip_top
        rows = slice(r0, r0 + read.height)
        self._acc[:, rows, read.col_slice] += result.astype(np.float64) * w[None]
        self._wsum[rows, read.col_slice] += w
        return done

    def flush(self) -> list[tuple[PixelWindow, np.ndarray]]:
        """Return the remaining rows (call once after the last window)."""
        return self._emit_until(self.plan.height_px)
