"""Configuration of a classification run (torch-free)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

DEVICES = ("auto", "cpu", "cuda")
#: Which maps are refined by the RGB inside each HSI pixel (:class:`ClassifyConfig` ``refine``).
REFINE_MODES = ("teacher", "all", "none")
#: Where a teacher coarser than the RGB runs (:class:`ClassifyConfig` ``teacher_grid``).
TEACHER_GRIDS = ("own", "rgb")


@dataclass(frozen=True)
class Extent:
    """A processing rectangle ``(xmin, xmax, ymin, ymax)`` in ``crs`` (None: the RGB's CRS)."""

    xmin: float
    xmax: float
    ymin: float
    ymax: float
    crs: str | None = None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)``."""
        return self.xmin, self.ymin, self.xmax, self.ymax

    @classmethod
    def parse(cls, text: str) -> "Extent":
        """Parse ``"xmin,xmax,ymin,ymax"`` with an optional CRS: ``",EPSG:32633"`` or
        ``" [EPSG:32633]"`` (the QGIS extent parameter's text form)."""
        raw = text.strip()
        crs = None
        m = re.match(r"^(.*?)\s*\[(.+)\]\s*$", raw)
        if m:
            raw, crs = m.group(1), m.group(2).strip()
        parts = [p.strip() for p in raw.split(",")]
        if len(parts) == 5:
            crs, parts = parts[4] or None, parts[:4]
        if len(parts) != 4:
            raise InputError(
                f"Extent '{text}' must be 'xmin,xmax,ymin,ymax' optionally followed by ',CRS' "
                "(e.g. '500000,501000,4100000,4101000,EPSG:32633')."
            )
        try:
            xmin, xmax, ymin, ymax = (float(p) for p in parts)
        except ValueError:
            raise InputError(f"Extent '{text}' has a value that is not a number.") from None
        if not (xmax > xmin and ymax > ymin):
            raise InputError(
                f"Extent '{text}' is empty (xmax must exceed xmin and ymax exceed ymin); "
                "draw a larger area."
            )
        return cls(xmin, xmax, ymin, ymax, crs)


@dataclass(frozen=True)
class ClassifyConfig:
    """How a raster is classified.

    Attributes:
        tile_size_px: side of the square window the model sees.
        overlap_px: pixels shared by neighbouring windows; centre-crop stitching is exact when
            the model's receptive-field radius is at most ``overlap_px // 2``.
        batch_size: windows per forward pass (memory grows with it, not with the raster).
        device: ``auto`` (CUDA if available), ``cpu`` or ``cuda``.
        extent: optional processing rectangle.
        mask_path: optional polygon layer; pixels outside are nodata, windows outside skipped.
        gdal_cache_mb: GDAL block cache for reads and writes; fixed so that peak memory does not
            grow with the raster size (GDAL's default is a share of the machine's RAM).
        rgb_scaling: how RGB values become 0-1 (``auto`` detects; see
            :class:`~..geo.scaling.Scaling` for the forced modes, e.g. ``12bit``).
        hsi_scaling: same for the HSI (``auto``: integer reflectance x 10000, float as is).
        dask_scheduler: address of a Dask scheduler (``tcp://host:8786``) whose workers run
            the tiles (see ``docs/DISTRIBUTED.md``); None runs in this process.
        refine: which models' class probabilities are refined by the RGB inside each HSI
            pixel (:class:`~.inference.RefinedMap`): ``teacher`` (default: teachers, whose map
            is blurred at 2 m), ``all`` (students too: a spatial smoothing over one teacher
            pixel that made the simulator's students 2–5 points better,
            docs/DISTILLATION.md *Sharper teacher maps*; off by default until the speed
            benchmarks are re-run with it) or ``none``.
        teacher_grid: where a teacher trained on a grid at least twice as coarse as the RGB
            runs: ``own`` (default: on its own grid, as in training, its probabilities
            upsampled to the RGB's: 10–40 times faster on the simulator's 2 m teachers over
            0.25 m RGB, refined maps 0.8 points better on mars and 0.1 worse on earth;
            docs/DISTILLATION.md *Sharper teacher maps*) or ``rgb`` (on every RGB pixel, from
            inputs resampled to it).
    """

    tile_size_px: int = 256
    overlap_px: int = 32
    batch_size: int = 4
    device: str = "auto"
    extent: Extent | None = None
    mask_path: str | None = None
    gdal_cache_mb: int = 64
    rgb_scaling: str = "auto"
    hsi_scaling: str = "auto"
    dask_scheduler: str | None = None
    refine: str = "teacher"
    teacher_grid: str = "own"

    def __post_init__(self) -> None:
        if not 16 <= self.tile_size_px <= 8192:
            raise InputError(f"Tile size must be between 16 and 8192 pixels (got {self.tile_size_px}).")
        if self.batch_size < 1 or self.batch_size > 1024:
            raise InputError(f"Batch size must be between 1 and 1024 (got {self.batch_size}).")
        if self.refine not in REFINE_MODES:
            raise InputError(f"Refine must be one of {', '.join(REFINE_MODES)} (got '{self.refine}').")
        if self.teacher_grid not in TEACHER_GRIDS:
            raise InputError(f"Teacher grid must be one of {', '.join(TEACHER_GRIDS)} "
                             f"(got '{self.teacher_grid}').")
        if self.device not in DEVICES:
            raise InputError(f"Device must be one of {', '.join(DEVICES)} (got '{self.device}').")
        from ..geo.scaling import Scaling

        Scaling.parse(self.rgb_scaling)  # InputError listing the valid names
        Scaling.parse(self.hsi_scaling)
        if self.dask_scheduler is not None and not re.match(r"^[a-z]+://\S+$",
                                                             self.dask_scheduler):
            raise InputError(
                f"Dask scheduler '{self.dask_scheduler}' must be an address such as "
                "'tcp://192.168.1.10:8786' (as printed by 'dask scheduler').")
        if self.gdal_cache_mb < 8:
            raise InputError(f"GDAL cache must be at least 8 MB (got {self.gdal_cache_mb}).")
