"""The inputs a model card asks for, opened once and read window by window on one grid.

Every modality is read onto the processing grid (the RGB grid, or the part of it inside the
extent) whatever its CRS, resolution or extent (:class:`~..geo.read.AlignedReader`); HSI is
resampled to the card's band wavelengths (:class:`~..geo.spectral.HsiReader`); the DEM becomes
the card's DEM channels (elevation, slope, hillshade) computed on a window one pixel larger than
the tile, so tile edges equal the untiled result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import Grid, display_name
from ..geo.read import DEM_CONFIG, RGB_CONFIG, AlignedReader, combine_valid
from ..geo.scaling import Scaling
from ..geo.spectral import HsiReader, SpectralBands
from ..geo.tiling import PixelWindow
from ..models.card import ModelCard
from ..models.config import DEM, HSI, MS, RGB
from ..models.preprocess import dem_features

_ARGUMENT = {RGB: "--rgb / RGB", HSI: "--hsi / HSI", DEM: "--dem / DEM"}


#: Key prefix of a teacher's inputs on its own grid in a tile's data, and the key of the
#: window they cover: fine row, column, height, width; teacher-grid row and column of the
#: crop; the factor between the grids.
COARSE = "coarse:"
COARSE_WINDOW = "coarse:window"
#: Key of the validity of those inputs (every one read) on the teacher's grid.
COARSE_VALID = "coarse:valid"


def coarse_factor(coarse_m: float, fine_m: float) -> int:
    """How many fine pixels one coarse pixel spans (rounded), when it is at least twice as
    large; 1 otherwise (the grids then count as one)."""
    ratio = coarse_m / fine_m
    return int(round(ratio)) if ratio >= 2.0 else 1


def under_window(coarse: np.ndarray, row: int, col: int, height: int, width: int, factor: int,
                 crop_row: int, crop_col: int) -> np.ndarray:
    """The values of a (..., h, w) teacher-grid crop starting at ``crop_row``/``crop_col``
    under each pixel of a fine window (nearest: the teacher pixel a fine pixel lies in)."""
    rows = np.arange(row, row + height) // factor - crop_row
    cols = np.arange(col, col + width) // factor - crop_col
    return coarse[..., rows[:, None], cols[None, :]]


def teacher_grid_factor(card: ModelCard, grid: Grid, teacher_grid: str = "rgb") -> int:
    """How many pixels of ``grid`` one pixel of the grid a teacher was trained on spans, when
    that is at least 2 (its card's ``pixel_size_m`` against ``grid``'s) and ``teacher_grid``
    is ``own`` (:class:`~.config.ClassifyConfig`); 1 otherwise, and for students. Such a
    teacher runs on its own grid: training saw it there, and it is as many times cheaper as
    the factor squared."""
    if teacher_grid != "own" or card.kind != "teacher" or card.pixel_size_m is None:
        return 1
    return coarse_factor(card.pixel_size_m, grid.pixel_size_m)


def tolerates_missing_modalities(card: ModelCard) -> bool:
    """Whether a teacher was trained to cope with absent inputs (modality dropout > 0).

    A card may also say so explicitly with ``training["tolerates_missing_modalities"]``.
    """
    if card.kind != "teacher":
        return False
    explicit = card.training.get("tolerates_missing_modalities")
    if isinstance(explicit, bool):
        return explicit
    dropout = card.training.get("modality_dropout", 0.0)
    return isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and dropout > 0.0


@dataclass
class ModelInputs:
    """The readers of the modalities a run uses.

    Attributes:
        grid: the processing grid every modality is read onto.
        used: modality names fed to the model, in model order.
        skipped: modalities the model knows but that were not given (tolerant teacher only).
    """

    grid: Grid
    used: tuple[str, ...]
    skipped: tuple[str, ...]
    _rgb: AlignedReader | None = None
    _hsi: HsiReader | None = None
    _dem: AlignedReader | None = None
    _dem_pixel_m: float = 1.0
    _rgb_only_for_grid: bool = field(default=False)
    _coarse: "ModelInputs | None" = None
    _factor: int = 1
    _margin: int = 0

    @classmethod
    def open(cls, card: ModelCard, grid: Grid, rgb: str | os.PathLike[str],
             hsi: str | os.PathLike[str] | None = None, dem: str | os.PathLike[str] | None = None,
             feedback: Feedback | None = None, rgb_scaling: str = "auto",
             hsi_scaling: str = "auto", teacher_grid: str = "rgb") -> "ModelInputs":
        """Check the given inputs against the card and open them on ``grid``.

        With ``teacher_grid`` ``own``, a teacher whose own grid is at least twice as coarse
        (:func:`teacher_grid_factor`) gets its inputs on that grid, as in training (the RGB averaged over each of its
        pixels), under ``coarse:<modality>`` keys with the window they cover
        (``coarse:window``, for :class:`~.inference.CoarseTeacher`); the RGB on ``grid`` is
        still read, for the validity and as the guide of the refinement. ``teacher_grid``
        ``rgb`` (the default) reads everything on ``grid``; ``coarse`` says that ``grid`` is the
        teacher's own grid (the RGB is then averaged over each pixel).

        Raises:
            InputError: a required input is missing (naming it), an input cannot be read, has
                no CRS, the wrong band count, no wavelengths, too little spectral overlap, or
                does not overlap the grid.
        """
        feedback = feedback or Feedback()
        factor = teacher_grid_factor(card, grid, teacher_grid)
        if factor > 1:
            coarse = cls.open(card, grid.coarsened(factor, partial=True), rgb, hsi, dem, feedback,
                              rgb_scaling, hsi_scaling, teacher_grid="coarse")
            self = cls(grid, coarse.used, coarse.skipped, _coarse=coarse, _factor=factor,
                       _margin=int(card.architecture.encoder_depth) + 1)
            try:
                self._rgb = AlignedReader(rgb, grid, replace(RGB_CONFIG,
                                                             scaling=Scaling.parse(rgb_scaling)))
                self._rgb_only_for_grid = RGB not in coarse.used
            except BaseException:
                self.close()
                raise
            return self
        names = card.architecture.modality_names
        given = {RGB: rgb, HSI: hsi, DEM: dem}
        if MS in names:
            raise InputError(
                "This model takes simulated multispectral ('ms') input, an intermediate step of "
                "distillation; classify with the RGB student or the teacher instead."
            )
        missing = [n for n in names if given.get(n) is None]
        skipped: tuple[str, ...] = ()
        if missing:
            what = ", ".join(n.upper() for n in missing)
            how = "; ".join(f"give {_ARGUMENT[n]}" for n in missing)
            if card.kind == "student":
                raise InputError(
                    f"This student model needs {', '.join(n.upper() for n in names)}; "
                    f"{what} is missing: {how}."
                )
            if not tolerates_missing_modalities(card):
                raise InputError(
                    f"This teacher model needs {', '.join(n.upper() for n in names)} and was not "
                    f"trained to run without {what}: {how}, or classify RGB-only rasters with "
                    "the student model."
                )
            if len(missing) == len(names):
                raise InputError(f"No input this teacher uses was given: {how}.")
            feedback.warning(
                f"{what} not given: the teacher runs without it (its card says it was trained "
                "with missing modalities); expect a less accurate map."
            )
            skipped = tuple(missing)
        used = tuple(n for n in names if n not in skipped)
        self = cls(grid, used, skipped)
        try:
            # RGB defines the grid, so it is always opened and checked (3 bands, CRS, overlap).
            # On a teacher's own grid (the coarse branch above) it is the mean of the RGB
            # pixels under each of its pixels, as in training.
            self._rgb = AlignedReader(rgb, grid, replace(
                RGB_CONFIG, scaling=Scaling.parse(rgb_scaling),
                resampling="average" if teacher_grid == "coarse" else RGB_CONFIG.resampling))
            self._rgb_only_for_grid = RGB not in used
            if HSI in used:
                m = card.modality(HSI)
                target = SpectralBands(tuple(m.wavelengths_nm or ()), m.fwhm_nm,
                                       source=f"model card ({len(m.wavelengths_nm or ())} bands)")
                self._hsi = HsiReader(hsi, grid, target,  # type: ignore[arg-type]
                                      scaling=Scaling.parse(hsi_scaling))
                feedback.info(
                    f"HSI '{display_name(hsi)}': {len(self._hsi.bands)} bands "
                    f"({self._hsi.bands.source}) resampled to the model's {len(target)} bands.")
            if DEM in used:
                self._dem = AlignedReader(dem, grid, DEM_CONFIG)  # type: ignore[arg-type]
                self._dem_pixel_m = grid.pixel_size_m
        except BaseException:
            self.close()
            raise
        return self

    @property
    def scaling_reasons(self) -> dict[str, str]:
        """How each input's values were scaled (for the log)."""
        if self._coarse is not None:
            return self._coarse.scaling_reasons
        out = {}
        if self._rgb is not None:
            out[RGB] = self._rgb.scaling.reason
        if self._hsi is not None:
            out[HSI] = self._hsi.reader.scaling.reason
        return out

    def _read_dem(self, window: PixelWindow) -> tuple[np.ndarray, np.ndarray]:
        assert self._dem is not None
        g = self.grid
        c0, r0 = max(window.col_off - 1, 0), max(window.row_off - 1, 0)
        c1 = min(window.col_off + window.width + 1, g.width)
        r1 = min(window.row_off + window.height + 1, g.height)
        big = PixelWindow(c0, r0, c1 - c0, r1 - r0)
        elev = self._dem.read(big).data[0]
        feats = dem_features(elev, self._dem_pixel_m)
        rs, cs = window.relative_to(big)
        feats = feats[:, rs, cs]
        return feats, np.isfinite(feats).all(axis=0)

    def read(self, window: PixelWindow) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Raw (scaled, not normalised) arrays ``(C, h, w)`` per used modality and validity.

        A pixel is valid only where every input read is valid (nodata in any of them is
        nodata in every output).
        """
        if self._coarse is not None:
            return self._read_coarse(window)
        data: dict[str, np.ndarray] = {}
        masks: list[np.ndarray] = []
        if self._rgb is not None:
            win = self._rgb.read(window)
            masks.append(win.valid)
            if not self._rgb_only_for_grid:
                data[RGB] = win.data
        if self._hsi is not None:
            win = self._hsi.read(window)
            data[HSI] = win.data
            masks.append(win.valid)
        if self._dem is not None:
            feats, valid = self._read_dem(window)
            data[DEM] = feats
            masks.append(valid)
        return data, combine_valid(masks)

    def _read_coarse(self, window: PixelWindow) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The RGB of ``window`` and the teacher's inputs on its own grid under it: the
        teacher pixels that bilinear upsampling to the window reads (one beyond each side)
        plus the teacher's receptive field, clipped to its grid."""
        assert self._coarse is not None and self._rgb is not None
        f, m, cg = self._factor, self._margin, self._coarse.grid
        r0 = max(0, window.row_off // f - m)
        c0 = max(0, window.col_off // f - m)
        r1 = min(cg.height, -(-(window.row_off + window.height) // f) + m)
        c1 = min(cg.width, -(-(window.col_off + window.width) // f) + m)
        coarse_data, coarse_valid = self._coarse.read(PixelWindow(c0, r0, c1 - c0, r1 - r0))
        win = self._rgb.read(window)
        data = {f"{COARSE}{k}": v for k, v in coarse_data.items()}
        data[COARSE_WINDOW] = np.array([window.row_off, window.col_off, window.height,
                                        window.width, r0, c0, f])
        data[COARSE_VALID] = coarse_valid
        if not self._rgb_only_for_grid:
            data[RGB] = win.data
        # A pixel is valid where its RGB is and its teacher pixel has every input.
        return data, win.valid & under_window(coarse_valid, window.row_off, window.col_off,
                                              window.height, window.width, f, r0, c0)

    def close(self) -> None:
        for reader in (self._rgb, self._hsi, self._dem):
            if reader is not None:
                reader.close()
        if self._coarse is not None:
            self._coarse.close()

    def __enter__(self) -> "ModelInputs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
