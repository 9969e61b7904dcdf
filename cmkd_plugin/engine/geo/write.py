"""Raster writing helpers shared by every engine command (the one place for output formats).

- :func:`gtiff_profile`: tiled (256), DEFLATE-compressed, BIGTIFF=IF_SAFER GeoTIFF profile.
- :func:`write_float_raster`: float32 bands with names, declared nodata (NaN by default).
- :func:`write_class_raster`: uint8 classes 0..K-1, nodata 255, colour table, category names,
  band description ``class`` and a QGIS paletted-style ``.qml`` sidecar.
- :func:`write_rgb_raster`: 3-band uint8 RGB.
- :func:`write_hyperspectral`: float32 cube with per-band ``wavelength``/``fwhm``/
  ``wavelength_units`` metadata, as GeoTIFF or ENVI (``.hdr`` with ``wavelength = {...}``).
- :func:`set_wavelength_metadata`, :func:`read_wavelengths`.

QGIS style sidecars (``.qml``) come from :mod:`.qml`.

Files are written deterministically: no timestamps, fixed creation options, so the same data
give byte-identical files. Callers pass the (partial) path from :class:`AtomicOutputs`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, Resampling

from .qml import class_qml

CLASS_NODATA = 255
BLOCK_PX = 256
WAVELENGTH_UNITS = "Nanometers"

#: GeoTIFF tag naming which CMKD product a raster is (classes, probabilities, confidence,
#: carbonation_rate, ...): consumers check it instead of guessing from band names.
PRODUCT_TAG = "CMKD_PRODUCT"


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` -> (r, g, b)."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def gtiff_profile(*, width: int, height: int, count: int, dtype: str, crs, transform,
                  nodata: float | int | None = None, interleave: str = "pixel") -> dict:
    """The GeoTIFF creation profile every engine output uses."""
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
        "crs": crs, "transform": transform, "nodata": nodata,
        "compress": "deflate", "predictor": 3 if np.dtype(dtype).kind == "f" else 2,
        "bigtiff": "IF_SAFER", "interleave": interleave,
    }
    # GDAL requires tiles to be multiples of 16; tiny rasters stay striped.
    if width >= BLOCK_PX and height >= BLOCK_PX:
        profile.update(tiled=True, blockxsize=BLOCK_PX, blockysize=BLOCK_PX)
    return profile


def _overview_levels(width: int, height: int) -> list[int]:
    levels, f = [], 2
    while max(width, height) / f >= BLOCK_PX:
        levels.append(f)
        f *= 2
    return levels


def build_overviews(dataset, resampling: Resampling) -> None:
    """Internal overviews down to about one tile (none for small rasters)."""
    levels = _overview_levels(dataset.width, dataset.height)
    if levels:
        dataset.build_overviews(levels, resampling)
        dataset.update_tags(ns="rio_overview", resampling=resampling.name)


def write_float_raster(path: str | os.PathLike[str], data: np.ndarray, *, crs, transform,
                       band_names: Sequence[str], nodata: float = float("nan"),
                       units: str | None = None, overviews: bool = True,
                       tags: dict[str, str] | None = None) -> None:
    """Write ``data`` (bands, rows, cols) or (rows, cols) as float32 GeoTIFF with band names."""
    data = np.asarray(data, np.float32)
    if data.ndim == 2:
        data = data[None]
    if len(band_names) != data.shape[0]:
        raise ValueError("one band name per band is required")
    profile = gtiff_profile(width=data.shape[2], height=data.shape[1], count=data.shape[0],
                            dtype="float32", crs=crs, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(band_names, start=1):
            dst.set_band_description(i, name)
            if units:
                dst.set_band_unit(i, units)
        if tags:
            dst.update_tags(**tags)
        if overviews:
            build_overviews(dst, Resampling.average)


def write_class_raster(path: str | os.PathLike[str], classes: np.ndarray, *, crs, transform,
                       class_names: Sequence[str], colours: Sequence[str],
                       qml: bool = True, overviews: bool = True) -> None:
    """Write a uint8 class raster (0..K-1, nodata 255) with colour table, names and style.

    The ``.qml`` sidecar (same stem as ``path``) makes QGIS show the legend even when the layer
    is opened outside Processing.
    """
    classes = np.asarray(classes)
    if classes.dtype != np.uint8:
        raise ValueError("class rasters are uint8")
    if len(class_names) >= CLASS_NODATA:
        raise ValueError("at most 254 classes")
    profile = gtiff_profile(width=classes.shape[1], height=classes.shape[0], count=1,
                            dtype="uint8", crs=crs, transform=transform, nodata=CLASS_NODATA)
    profile["photometric"] = "palette"
    colormap = {i: hex_to_rgb(c) + (255,) for i, c in enumerate(colours)}
    colormap[CLASS_NODATA] = (0, 0, 0, 0)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes, 1)
        dst.write_colormap(1, colormap)
        dst.set_band_description(1, "class")
        dst.update_tags(1, CLASS_NAMES=",".join(class_names))
        if overviews:
            build_overviews(dst, Resampling.mode)
    set_category_names(path, class_names)
    if qml:
        Path(path).with_suffix(".qml").write_text(class_qml(class_names, colours),
                                                  encoding="utf-8")


def set_category_names(path: str | os.PathLike[str], class_names: Sequence[str]) -> None:
    """Store class names as GDAL category names (GeoTIFF keeps them in the PAM ``.aux.xml``).

    Raises:
        OSError: the file cannot be reopened, with ENOSPC when the disk is full.
    """
    from osgeo import gdal  # noqa: PLC0415 - only here: rasterio has no category-name setter

    ds = gdal.Open(str(path), gdal.GA_Update)
    if ds is None:
        # Without gdal.UseExceptions() a failed open returns None. The usual cause is a file
        # that GDAL could not write completely without raising: a full disk.
        reason = gdal.GetLastErrorMsg() or "unknown GDAL error"
        folder = os.statvfs(Path(path).parent)
        if folder.f_bavail * folder.f_frsize < 1 << 20:
            raise OSError(errno.ENOSPC, f"No space left on device writing '{path}' ({reason})")
        raise OSError(f"Cannot reopen the class raster '{path}' just written ({reason}).")
    try:
        names = list(class_names) + [""] * (CLASS_NODATA - len(class_names))
        ds.GetRasterBand(1).SetCategoryNames(names[:CLASS_NODATA] + ["nodata"])
        ds.FlushCache()
    finally:
        ds = None


def write_rgb_raster(path: str | os.PathLike[str], rgb: np.ndarray, *, crs, transform,
                     overviews: bool = True, tags: dict[str, str] | None = None) -> None:
    """Write a (3, rows, cols) uint8 RGB GeoTIFF with colour interpretation set."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[0] != 3:
        raise ValueError("RGB rasters are (3, rows, cols) uint8")
    profile = gtiff_profile(width=rgb.shape[2], height=rgb.shape[1], count=3, dtype="uint8",
                            crs=crs, transform=transform)
    profile["photometric"] = "rgb"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rgb)
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
        for i, name in enumerate(("red", "green", "blue"), start=1):
            dst.set_band_description(i, name)
        if tags:
            dst.update_tags(**tags)
        if overviews:
            build_overviews(dst, Resampling.average)


def set_wavelength_metadata(dataset, wavelengths_nm: Sequence[float],
                            fwhm_nm: Sequence[float]) -> None:
    """Per-band ``wavelength``, ``fwhm``, ``wavelength_units`` items and ``"550.0 nm"`` names."""
    for i, (wl, fw) in enumerate(zip(wavelengths_nm, fwhm_nm), start=1):
        dataset.set_band_description(i, f"{float(wl):.1f} nm")
        dataset.update_tags(i, wavelength=f"{float(wl):.1f}", fwhm=f"{float(fw):.2f}",
                            wavelength_units=WAVELENGTH_UNITS)


def _envi_list(values: Sequence[float], fmt: str) -> str:
    return "{" + ", ".join(fmt.format(float(v)) for v in values) + "}"


def write_hyperspectral(path: str | os.PathLike[str], cube: np.ndarray, *, crs, transform,
                        wavelengths_nm: Sequence[float], fwhm_nm: Sequence[float],
                        fmt: str = "gtiff", nodata: float = float("nan"),
                        good_bands: Sequence[bool] | None = None,
                        tags: dict[str, str] | None = None) -> None:
    """Write a float32 reflectance cube (bands, rows, cols) with wavelength metadata.

    Args:
        path: output path (``.tif`` for GeoTIFF; the data file, e.g. ``.img``, for ENVI, whose
            header is written beside it with the same stem and ``.hdr``).
        cube: reflectance, NaN (or ``nodata``) outside the footprint.
        crs: CRS of the grid.
        transform: affine transform of the grid.
        wavelengths_nm: band centres.
        fwhm_nm: band widths.
        fmt: ``"gtiff"`` or ``"envi"``.
        nodata: declared nodata value.
        good_bands: optional usable-band flags (ENVI ``bbl``; GeoTIFF band item ``bad_band``).
        tags: extra dataset metadata (acquisition geometry...).
    """
    cube = np.asarray(cube, np.float32)
    bands, rows, cols = cube.shape
    if fmt == "gtiff":
        profile = gtiff_profile(width=cols, height=rows, count=bands, dtype="float32", crs=crs,
                                transform=transform, nodata=nodata)
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(cube)
            set_wavelength_metadata(dst, wavelengths_nm, fwhm_nm)
            if good_bands is not None:
                for i, ok in enumerate(good_bands, start=1):
                    dst.update_tags(i, bad_band="0" if ok else "1")
            dst.update_tags(wavelength_units=WAVELENGTH_UNITS, **(tags or {}))
    elif fmt == "envi":
        profile = {"driver": "ENVI", "width": cols, "height": rows, "count": bands,
                   "dtype": "float32", "crs": crs, "transform": transform, "nodata": nodata,
                   "interleave": "bil"}
        envi = {"wavelength": _envi_list(wavelengths_nm, "{:.1f}"),
                "fwhm": _envi_list(fwhm_nm, "{:.2f}"),
                "wavelength_units": WAVELENGTH_UNITS}
        if good_bands is not None:
            envi["bbl"] = "{" + ", ".join("1" if ok else "0" for ok in good_bands) + "}"
        with rasterio.Env(GDAL_PAM_ENABLED="NO"):
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(cube)
                for i, wl in enumerate(wavelengths_nm, start=1):
                    dst.set_band_description(i, f"{float(wl):.1f} nm")
                dst.update_tags(ns="ENVI", **envi)
                if tags:
                    dst.update_tags(**tags)
        _fix_envi_description(Path(path).with_suffix(".hdr"))
    else:
        raise ValueError(f"unknown hyperspectral format {fmt!r}")


def _fix_envi_description(header: Path) -> None:
    # GDAL puts the file name (here the hidden partial name) into the description: replace it
    # so the header is the same for every run and names no temporary file.
    text = header.read_text(encoding="utf-8")
    start = text.find("description = {")
    if start >= 0:
        end = text.find("}", start)
        text = (text[:start] + "description = {CMKD Survey hyperspectral reflectance}"
                + text[end + 1:])
        header.write_text(text, encoding="utf-8")


def _parse_envi_list(text: str) -> list[float]:
    return [float(v) for v in text.strip().strip("{}").split(",") if v.strip()]


def read_wavelengths(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Band centres and FWHM (nm) of a raster written with the shared wavelength conventions.

    Works for the GeoTIFF band items and for ENVI headers (GDAL exposes ``wavelength`` and
    ``fwhm`` per band).
    """
    with rasterio.open(path) as src:
        wl, fw = [], []
        for i in range(1, src.count + 1):
            t = src.tags(i)
            wl.append(float(t["wavelength"]))
            fw.append(float(t.get("fwhm", "nan")))
        envi = src.tags(ns="ENVI") if src.driver == "ENVI" else {}
    # GDAL 3.6 exposes an ENVI header's wavelengths per band but its fwhm only in the ENVI domain.
    if np.isnan(fw).any() and "fwhm" in envi:
        fw = _parse_envi_list(envi["fwhm"])
    return np.array(wl, dtype=np.float64), np.array(fw, dtype=np.float64)
