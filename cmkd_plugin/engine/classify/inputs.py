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

    @classmethod
    def open(cls, card: ModelCard, grid: Grid, rgb: str | os.PathLike[str],
             hsi: str | os.PathLike[str] | None = None, dem: str | os.PathLike[str] | None = None,
             feedback: Feedback | None = None, rgb_scaling: str = "auto",
             hsi_scaling: str = "auto") -> "ModelInputs":
        """Check the given inputs against the card and open them on ``grid``.

        Raises:
            InputError: a required input is missing (naming it), an input cannot be read, has
                no CRS, the wrong band count, no wavelengths, too little spectral overlap, or
                does not overlap the grid.
        """
        feedback = feedback or Feedback()
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
            self._rgb = AlignedReader(rgb, grid, replace(RGB_CONFIG,
                                                         scaling=Scaling.parse(rgb_scaling)))
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

    def close(self) -> None:
        for reader in (self._rgb, self._hsi, self._dem):
            if reader is not None:
                reader.close()

    def __enter__(self) -> "ModelInputs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
