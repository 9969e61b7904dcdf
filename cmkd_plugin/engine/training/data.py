"""Training data from geodata: RGB + HSI + DEM + labels aligned on two nested grids.

Grid choice. The student must run on full-resolution RGB, the teacher's key input (HSI, and the
DEM) is coarse (2 m vs 0.25 m in the default scene). Upsampling 224 HSI bands to the RGB grid
would multiply the teacher's cost and memory by 64 for no new information, so:

* the **reference grid** is the RGB raster's own grid (the student's grid at inference);
* the **teacher grid** shares its CRS and origin with pixels ``factor`` times larger, ``factor``
  being the HSI pixel size over the RGB pixel size, rounded (1 when they match). HSI and DEM are
  read onto it (warped if needed) and the RGB is area-averaged onto it, which is what a coarser
  camera would see;
* the student is trained on the reference grid at native RGB resolution, with the teacher's
  logits and fused features bilinearly upsampled from the teacher grid (see :mod:`.distill`).

Because the two grids nest exactly (integer factor, same origin), a teacher pixel is exactly a
``factor x factor`` block of reference pixels and no resampling ambiguity arises between them.
Nodata in any required modality is NaN in the arrays and False in the validity masks.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import Grid, bounds_in_crs, display_name, open_raster, require_crs
from ..geo.labels import UNLABELLED, LabelConfig, LabelPixels, read_labels
from ..geo.read import DEM_CONFIG, RGB_CONFIG, AlignedReader, ReaderConfig, WindowData
from ..geo.scaling import InputKind
from ..geo.spectral import SpectralBands, SpectralResampler, read_band_wavelengths
from ..models.preprocess import dem_features
from .config import DataConfig
from .split import BlockSplit, block_split

# Reading a whole scene into memory is the simple, fast path for training areas; refuse areas
# that would not fit rather than swapping for an hour.
MAX_SCENE_BYTES = 3 * 1024 ** 3
# Matplotlib's "tab20" colours, for classes without a colour in a class table.
DEFAULT_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)


@dataclass(frozen=True)
class ClassTable:
    """Class names in index order, their colours and optional extra columns (e.g. carbonation
    coefficients), from a CSV with a header ``name,colour[,...]``."""

    names: tuple[str, ...]
    colours: tuple[str, ...]
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)


def read_class_table(path: str | os.PathLike[str]) -> ClassTable:
    """Read a class table CSV (columns ``name`` and ``colour``/``color``; others are kept).

    Raises:
        InputError: missing file or columns, duplicate names, bad colours.
    """
    import re

    if not os.path.exists(str(path)):
        raise InputError(f"Class table '{path}' does not exist; choose an existing CSV file.")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InputError(f"Class table '{display_name(path)}' has no rows; list one class per row.")
    cols = {c.strip().lower(): c for c in rows[0].keys() if c}
    if "name" not in cols:
        raise InputError(f"Class table '{display_name(path)}' needs a 'name' column; it has "
                         f"{', '.join(cols) or 'none'}.")
    colour_col = cols.get("colour") or cols.get("color")
    names, colours = [], []
    for i, row in enumerate(rows):
        name = (row.get(cols["name"]) or "").strip()
        if not name:
            raise InputError(f"Class table '{display_name(path)}' row {i + 2} has no name.")
        colour = (row.get(colour_col) or "").strip() if colour_col else ""
        if colour and not re.match(r"^#[0-9a-fA-F]{6}$", colour):
            raise InputError(f"Class table '{display_name(path)}' row {i + 2}: colour '{colour}' "
                             "must look like '#1f77b4'.")
        names.append(name)
        colours.append(colour or DEFAULT_COLOURS[i % len(DEFAULT_COLOURS)])
    if len(set(names)) != len(names):
        raise InputError(f"Class table '{display_name(path)}' lists a class twice; names must be unique.")
    extra = {key: tuple((r.get(col) or "").strip() for r in rows)
             for key, col in cols.items() if key not in ("name", "colour", "color")}
    return ClassTable(tuple(names), tuple(colours), extra)


def default_colours(n: int) -> tuple[str, ...]:
    """``n`` distinct display colours."""
    return tuple(DEFAULT_COLOURS[i % len(DEFAULT_COLOURS)] for i in range(n))


@dataclass
class SceneData:
    """One training scene on the reference (RGB) grid and the nested teacher grid.

    Attributes:
        grid: reference grid (RGB).
        teacher_grid: coarse grid of the teacher (``factor`` reference pixels per side).
        factor: reference pixels per teacher pixel along each axis.
        rgb: (3, H, W) float32 0-1 on the reference grid, NaN nodata.
        rgb_coarse: (3, h, w) area-averaged RGB on the teacher grid.
        hsi: (B, h, w) reflectance on the teacher grid (None if not given).
        hsi_bands: wavelengths of ``hsi``'s bands.
        dem: (3, h, w) DEM channels (elevation, slope, hillshade) on the teacher grid.
        valid: (H, W) RGB valid on the reference grid.
        valid_coarse: (h, w) every given modality valid on the teacher grid.
        labels: (H, W) uint8 class index on the reference grid, 255 unlabelled.
        labels_coarse: (h, w) uint8 on the teacher grid (majority of the reference labels).
        split: validation blocks (None without labels).
        class_names, colours: class list in index order.
        sources: input paths and label statistics for the model card's provenance.
    """

    grid: Grid
    teacher_grid: Grid
    factor: int
    rgb: np.ndarray
    rgb_coarse: np.ndarray
    hsi: np.ndarray | None
    hsi_bands: SpectralBands | None
    dem: np.ndarray | None
    valid: np.ndarray
    valid_coarse: np.ndarray
    labels: np.ndarray | None
    labels_coarse: np.ndarray | None
    split: BlockSplit | None
    class_names: tuple[str, ...]
    colours: tuple[str, ...]
    sources: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def train_labels(self, coarse: bool) -> np.ndarray:
        """Labels with validation blocks (and their buffer) removed."""
        assert self.labels is not None and self.split is not None
        lab = (self.labels_coarse if coarse else self.labels).copy()
        lab[~(self.split.train_coarse if coarse else self.split.train)] = UNLABELLED
        return lab

    def val_labels(self, coarse: bool) -> np.ndarray:
        """Labels inside validation blocks only."""
        assert self.labels is not None and self.split is not None
        lab = (self.labels_coarse if coarse else self.labels).copy()
        lab[~(self.split.val_coarse if coarse else self.split.val)] = UNLABELLED
        return lab

    def teacher_inputs(self) -> dict[str, np.ndarray]:
        """Raw (unnormalised) teacher inputs on the teacher grid."""
        out = {"rgb": self.rgb_coarse}
        if self.hsi is not None:
            out["hsi"] = self.hsi
        if self.dem is not None:
            out["dem"] = self.dem
        return out


def read_hsi(path: str | os.PathLike[str], grid: Grid, target: SpectralBands) -> WindowData:
    """The whole HSI on ``grid`` resampled to ``target`` bands (usable source bands only)."""
    source = read_band_wavelengths(path, "HSI")
    resampler = SpectralResampler(source, target, name=display_name(path), role="HSI")
    with AlignedReader(path, grid, ReaderConfig(role="HSI", kind=InputKind.REFLECTANCE,
                                                bands=resampler.band_indexes,
                                                min_valid_band_fraction=1e-9)) as reader:
        raw = reader.read(grid.full_window)
    data = resampler(raw.data)
    return WindowData(data, np.isfinite(data).all(axis=0))


def resolution_factor(grid: Grid, path: str | os.PathLike[str], role: str) -> int:
    """Reference pixels per pixel of raster ``path`` (rounded, at least 1)."""
    with open_raster(path, role) as ds:
        require_crs(ds, role)
        if ds.crs == grid.crs:
            size = min(abs(ds.transform.a), abs(ds.transform.e))
        else:
            b = bounds_in_crs(ds, grid.crs)
            if b is None:
                return 1
            size = min((b.right - b.left) / ds.width, (b.top - b.bottom) / ds.height)
    return max(1, int(round(size / min(grid.res))))


def coarse_grid(grid: Grid, factor: int) -> Grid:
    """The grid with ``factor`` times larger pixels, same origin, covering whole blocks only."""
    if grid.width < factor or grid.height < factor:
        raise InputError(
            f"The RGB raster '{grid.name}' ({grid.width} x {grid.height} px) is smaller than one "
            f"HSI pixel ({factor} RGB pixels); give a larger area."
        )
    return grid.coarsened(factor)


def block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    """Area average of ``factor x factor`` blocks of a (C, H, W) array; NaN where less than half
    of a block is valid."""
    c, h, w = array.shape
    hh, ww = h // factor, w // factor
    a = array[:, : hh * factor, : ww * factor].reshape(c, hh, factor, ww, factor)
    finite = np.isfinite(a)
    count = finite.sum(axis=(2, 4))
    total = np.where(finite, a, 0.0).sum(axis=(2, 4), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (total / count).astype(np.float32)
    out[count < (factor * factor) / 2.0] = np.nan
    return out


def coarse_labels(labels: np.ndarray, factor: int, n_classes: int) -> np.ndarray:
    """Majority class of the labelled reference pixels of each teacher pixel (255 if none)."""
    h, w = labels.shape[0] // factor, labels.shape[1] // factor
    if factor == 1:
        return labels[:h, :w].copy()
    rows, cols = np.nonzero(labels[: h * factor, : w * factor] != UNLABELLED)
    out = np.full((h, w), UNLABELLED, dtype=np.uint8)
    if rows.size == 0:
        return out
    cell = (rows // factor) * w + cols // factor
    votes = np.zeros((h * w, n_classes), dtype=np.int64)
    np.add.at(votes, (cell, labels[rows, cols].astype(np.int64)), 1)
    has = votes.sum(axis=1) > 0
    out.reshape(-1)[has] = votes[has].argmax(axis=1).astype(np.uint8)
    return out


def _check_size(grid: Grid, bands: int, role: str) -> None:
    nbytes = 4 * bands * grid.width * grid.height
    if nbytes > MAX_SCENE_BYTES:
        raise InputError(
            f"The {role} of the training area needs {nbytes / 1024 ** 3:.1f} GB in memory "
            f"({grid.width} x {grid.height} px, {bands} bands); clip the rasters to the labelled "
            "site and the flight lines you want to learn from."
        )


def load_scene(
    rgb: str | os.PathLike[str],
    hsi: str | os.PathLike[str] | None,
    dem: str | os.PathLike[str] | None,
    labels: str | os.PathLike[str] | None,
    config: DataConfig = DataConfig(),
    class_table: ClassTable | None = None,
    class_names: Sequence[str] | None = None,
    hsi_target: SpectralBands | None = None,
    feedback: Feedback | None = None,
) -> SceneData:
    """Read and align every input of a training (or distillation) scene.

    Args:
        rgb: RGB raster; defines the reference grid.
        hsi: hyperspectral raster with band wavelengths (None: teacher without HSI).
        dem: elevation raster in metres (None: teacher without DEM).
        labels: point/polygon layer with a class field (None: no labels, distillation only).
        config: label field and validation split.
        class_table: fixed class list and colours (else classes come from the labels).
        class_names: fixed class list (e.g. the teacher's), overrides ``class_table``'s names.
        hsi_target: resample the HSI to these bands (the teacher's); None keeps its own bands.
        feedback: progress and messages.

    Raises:
        InputError: unreadable inputs, no overlap, HSI without wavelengths, labels outside the
            rasters, class field missing, fewer than two classes, no valid pixel.
    """
    feedback = feedback or Feedback()
    grid = Grid.from_raster(rgb, "RGB")
    _check_size(grid, 3, "RGB")
    hsi_bands = None
    factor = 1
    if hsi is not None:
        # Before any pixel is read: a cube without wavelengths cannot be matched to a model.
        source_bands = read_band_wavelengths(hsi, "HSI")
        hsi_bands = hsi_target or SpectralBands(
            tuple(np.asarray(source_bands.wavelengths_nm)[source_bands.good_mask].tolist()),
            None if source_bands.fwhm_nm is None
            else tuple(np.asarray(source_bands.fwhm_nm)[source_bands.good_mask].tolist()),
            None, source_bands.source)
        factor = resolution_factor(grid, hsi, "HSI")
    elif dem is not None:
        factor = resolution_factor(grid, dem, "DEM")
    tgrid = coarse_grid(grid, factor)
    feedback.info(f"Reference grid {grid.width} x {grid.height} px at {grid.pixel_size_m:.3g} m; teacher "
                  f"grid {tgrid.width} x {tgrid.height} px ({factor} x {factor} RGB pixels each).")

    with AlignedReader(rgb, grid, RGB_CONFIG) as reader:
        win = reader.read(grid.full_window)
    rgb_arr, valid = win.data, win.valid
    feedback.progress(20)
    feedback.check_cancelled()
    rgb_coarse = block_mean(rgb_arr, factor)
    valid_coarse = np.isfinite(rgb_coarse).all(axis=0)
    hsi_arr = None
    if hsi is not None:
        assert hsi_bands is not None
        _check_size(tgrid, len(hsi_bands), "HSI")
        hwin = read_hsi(hsi, tgrid, hsi_bands)
        hsi_arr = hwin.data
        valid_coarse &= hwin.valid
    feedback.progress(60)
    feedback.check_cancelled()
    dem_arr = None
    if dem is not None:
        with AlignedReader(dem, tgrid, DEM_CONFIG) as reader:
            dwin = reader.read(tgrid.full_window)
        dem_arr = dem_features(dwin.data[0], tgrid.pixel_size_m)
        valid_coarse &= np.isfinite(dem_arr).all(axis=0)
    if not valid_coarse.any():
        raise InputError(
            "No pixel has valid values in every input (RGB, HSI, DEM) at once; check that the "
            "rasters overlap the same area and that their nodata values are right."
        )
    feedback.progress(80)

    names: tuple[str, ...] | None = tuple(class_names) if class_names is not None else (
        class_table.names if class_table is not None else None)
    lab = lab_c = None
    split = None
    sources: dict[str, Any] = {"rgb": display_name(rgb), "hsi": display_name(hsi) if hsi else None,
                               "dem": display_name(dem) if dem else None, "factor": factor}
    if labels is not None:
        pixels: LabelPixels = read_labels(
            labels, grid, LabelConfig(field=config.label_field, class_names=names), feedback)
        names = pixels.class_names
        lab = pixels.to_array()
        # A label on nodata teaches nothing and would be counted in validation.
        lab[~valid] = UNLABELLED
        lab_c = coarse_labels(lab, factor, len(names))
        lab_c[~valid_coarse] = UNLABELLED
        present = np.unique(lab_c[lab_c != UNLABELLED])
        if present.size < 2:
            raise InputError(
                f"Only {present.size} class has labels where every input is valid; label at "
                "least two different classes inside the area covered by RGB, HSI and DEM."
            )
        split = block_split(lab, lab_c, factor, config, len(names), feedback, names)
        sources["labels"] = display_name(labels)
        sources["label_counts"] = pixels.counts()
        sources["label_field"] = config.label_field
    if names is None:
        raise InputError("Give labels or a class list so the classes are known.")
    colours = default_colours(len(names))
    if class_table is not None:
        lookup = dict(zip(class_table.names, class_table.colours))
        colours = tuple(lookup.get(n, c) for n, c in zip(names, colours))
    feedback.progress(100)
    return SceneData(grid, tgrid, factor, rgb_arr, rgb_coarse, hsi_arr, hsi_bands, dem_arr, valid,
                     valid_coarse, lab, lab_c, split, tuple(names), colours, sources)
