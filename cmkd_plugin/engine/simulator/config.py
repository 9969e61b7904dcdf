"""Configuration of a simulated survey, its output paths, and their validation."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from ..atomic import check_writable
from ..errors import InputError
from .presets import get_preset

MIN_SIZE_PX = 64
MAX_SIZE_PX = 8192
MIN_PIXELS_ACROSS = 16
HSI_EXTENSIONS = {"gtiff": (".tif", ".tiff"), "envi": (".img", ".dat", ".bsq", ".bil", ".raw", ".envi")}


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Sizes in pixels, ground sampling distances in metres."""

    preset: str
    seed: int = 0
    size_px: int = 512
    rgb_gsd_m: float = 0.25
    dem_gsd_m: float = 1.0
    hsi_gsd_m: float = 2.0
    hsi_bands: int = 224
    hsi_crs: str | None = None
    labels_per_class: int = 20
    hsi_format: str = "gtiff"
    # Acquisition conditions (a site flown another day, with another camera). The defaults keep
    # the preset's conditions and the files byte-identical to earlier versions.
    sun_elevation_deg: float | None = None  # both acquisitions; None: the preset's
    rgb_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # R, G, B white-balance error
    noise_scale: float = 1.0  # multiplies the RGB and HSI sensor noise

    @property
    def extent_m(self) -> float:
        """Side of the (square) scene in metres."""
        return self.size_px * self.rgb_gsd_m


@dataclass(frozen=True)
class OutputPaths:
    """Where each output goes."""

    rgb: Path
    hsi: Path
    dem: Path
    truth: Path
    labels: Path
    sites: Path
    footprint: Path
    preview: Path

    @classmethod
    def in_folder(cls, folder: str | os.PathLike[str], hsi_format: str = "gtiff",
                  **overrides: str | os.PathLike[str] | None) -> "OutputPaths":
        """Default names in ``folder``, with any non-empty ``overrides`` (keyword per output)."""
        folder = Path(folder).expanduser()
        defaults = {
            "rgb": "rgb.tif", "hsi": "hsi.img" if hsi_format == "envi" else "hsi.tif",
            "dem": "dem.tif", "truth": "truth.tif", "labels": "labels.gpkg",
            "sites": "sites.gpkg", "footprint": "hsi_footprint.gpkg", "preview": "preview.png",
        }
        unknown = set(overrides) - set(defaults)
        if unknown:
            raise ValueError(f"unknown outputs {sorted(unknown)}")
        return cls(**{k: Path(overrides[k]).expanduser() if overrides.get(k) else folder / v
                      for k, v in defaults.items()})

    def as_result(self) -> dict[str, str]:
        """``OUTPUT_RGB`` ... ``OUTPUT_PREVIEW`` -> path, as the engine returns them."""
        return {f"OUTPUT_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


def validate(config: SimulationConfig) -> None:
    """Raise :class:`InputError` with a fix-it message for any unusable parameter."""
    preset = get_preset(config.preset)
    if config.size_px <= 0:
        raise InputError(f"Size must be a positive number of pixels (got {config.size_px}); "
                         f"use e.g. 512.")
    if not MIN_SIZE_PX <= config.size_px <= MAX_SIZE_PX:
        raise InputError(f"Size must be between {MIN_SIZE_PX} and {MAX_SIZE_PX} pixels "
                         f"(got {config.size_px}): {MIN_SIZE_PX} px is the least that holds "
                         f"all 12 classes.")
    for name, value in (("RGB", config.rgb_gsd_m), ("DEM", config.dem_gsd_m),
                        ("HSI", config.hsi_gsd_m)):
        if not value > 0:
            raise InputError(f"The {name} GSD must be a positive number of metres (got {value}).")
    extent = config.extent_m
    for name, value in (("DEM", config.dem_gsd_m), ("HSI", config.hsi_gsd_m)):
        across = extent / value
        if across < MIN_PIXELS_ACROSS:
            raise InputError(
                f"The {name} GSD of {value:g} m is too coarse for a {extent:g} m scene "
                f"({config.size_px} px x {config.rgb_gsd_m:g} m): it gives {across:.1f} pixels "
                f"across. Use a GSD of at most {extent / MIN_PIXELS_ACROSS:g} m, or a larger "
                f"size or RGB GSD.")
    if not 8 <= config.hsi_bands <= 1000:
        raise InputError(f"The number of HSI bands must be between 8 and 1000 "
                         f"(got {config.hsi_bands}); 224 is AVIRIS-like.")
    if not 1 <= config.labels_per_class <= 100000:
        raise InputError(f"Labels per class must be between 1 and 100000 "
                         f"(got {config.labels_per_class}).")
    if config.seed < 0:
        raise InputError(f"The seed must be zero or positive (got {config.seed}).")
    if config.hsi_format not in HSI_EXTENSIONS:
        raise InputError(f"Unknown HSI format '{config.hsi_format}'; choose gtiff or envi.")
    if config.sun_elevation_deg is not None and not 5.0 <= config.sun_elevation_deg <= 90.0:
        raise InputError(f"The sun elevation must be between 5 and 90 degrees "
                         f"(got {config.sun_elevation_deg:g}).")
    if len(config.rgb_gain) != 3 or not all(0.2 <= g <= 5.0 for g in config.rgb_gain):
        raise InputError(f"The RGB gain needs three factors between 0.2 and 5 "
                         f"(got {', '.join(f'{g:g}' for g in config.rgb_gain)}).")
    if not 0.0 <= config.noise_scale <= 100.0:
        raise InputError(f"The noise scale must be between 0 and 100 (got {config.noise_scale:g}).")
    if config.hsi_crs:
        _check_hsi_crs(config.hsi_crs, preset.crs)


def _check_hsi_crs(text: str, scene_crs: str) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(text)
    except CRSError:
        raise InputError(f"The HSI CRS '{text}' is not a CRS GDAL/PROJ knows; give e.g. "
                         "EPSG:32641 or a WKT/PROJ string.") from None
    if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        raise InputError(f"The HSI CRS '{text}' must be projected in metres (the GSD is in "
                         "metres); choose a UTM zone or another projected CRS.")
    scene = CRS.from_user_input(scene_crs)
    a1, a2 = crs.ellipsoid.semi_major_metre, scene.ellipsoid.semi_major_metre
    if abs(a1 - a2) / a2 > 0.01:
        raise InputError(f"The HSI CRS '{text}' is for another planetary body than the scene "
                         f"CRS {scene_crs}; choose a CRS on the same body.")


def check_outputs(outputs: OutputPaths, hsi_format: str) -> None:
    """Fail before any work if an output cannot be written or two outputs share a path."""
    paths = [getattr(outputs, f.name) for f in fields(outputs)]
    resolved = [p.resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise InputError("Two outputs have the same path; give each output its own file name.")
    suffix = outputs.hsi.suffix.lower()
    if suffix not in HSI_EXTENSIONS[hsi_format]:
        raise InputError(f"The HSI output '{outputs.hsi}' must end in "
                         f"{' or '.join(HSI_EXTENSIONS[hsi_format])} for format {hsi_format}.")
    for name, suffixes in (("rgb", (".tif", ".tiff")), ("dem", (".tif", ".tiff")),
                           ("truth", (".tif", ".tiff")), ("labels", (".gpkg",)),
                           ("sites", (".gpkg",)), ("footprint", (".gpkg",)),
                           ("preview", (".png",))):
        path = getattr(outputs, name)
        if path.suffix.lower() not in suffixes:
            raise InputError(f"The {name} output '{path}' must end in {' or '.join(suffixes)}.")
    for p in paths:
        check_writable(p)
