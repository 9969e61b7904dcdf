"""A tiny three-class scene (RGB 0.5 m, HSI 2 m with 12 bands, DEM 2 m, point labels) written
with rasterio/geopandas, shared by the training and tuning tests: the classes differ clearly in the
HSI and only slightly in the RGB (the student's hard case), every validation block holds all three.
Also an untrained tiny RGB student model file and a random RGB raster, for the tests that only
need a model to run (classification, export, distribution).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point

CRS = "EPSG:32633"
X0, Y0 = 500_000.0, 5_000_000.0
RGB_RES, HSI_RES = 0.5, 2.0
SIZE = 64  # RGB pixels; the HSI/DEM have SIZE // 4
CLASSES = ("basalt", "calcite", "olivine")
WAVELENGTHS = np.linspace(450.0, 2400.0, 12)


def class_map(n: int) -> np.ndarray:
    """Classes 0, 1, 2 in diagonal bands of 2 x 2 HSI pixels (every block holds all three)."""
    rows, cols = np.indices((n, n))
    cell = n // 8
    return (rows // cell + cols // cell) % 3


# The same scene on a geographic grid (WGS 84) near 45° N: pixels of the same ground size.
LON0, LAT0 = 15.0, 45.0
M_PER_DEGREE = 111_320.0


def write_scene(folder: Path, *, hsi_wavelengths: bool = True, hsi_origin: tuple[float, float] = (X0, Y0),
                rng_seed: int = 0, geographic: bool = False) -> dict[str, Path]:
    """RGB (0.5 m), HSI (2 m, 12 bands) and DEM (2 m) of three classes; labels as points.
    ``geographic``: every file in WGS 84 degrees instead of UTM metres, same ground pixels."""
    rng = np.random.default_rng(rng_seed)
    crs, x0, y0 = CRS, X0, Y0
    sx, sy = 1.0, 1.0  # CRS units per metre along x and y
    if geographic:
        crs, x0, y0 = "EPSG:4326", LON0, LAT0
        sx, sy = 1.0 / (M_PER_DEGREE * np.cos(np.radians(LAT0))), 1.0 / M_PER_DEGREE
        hsi_origin = (x0 + (hsi_origin[0] - X0) * sx, y0 + (hsi_origin[1] - Y0) * sy)
    folder.mkdir(parents=True, exist_ok=True)
    fine = class_map(SIZE)
    # RGB: classes differ only slightly (the student's hard case); HSI: clear spectral shapes.
    rgb_means = np.array([[0.30, 0.30, 0.30], [0.34, 0.33, 0.31], [0.31, 0.33, 0.29]])
    rgb = rgb_means[fine].transpose(2, 0, 1) + rng.normal(0, 0.02, (3, SIZE, SIZE))
    n = SIZE // 4
    coarse = class_map(n)
    spectra = np.stack([np.full(WAVELENGTHS.size, 0.1),
                        0.5 - 0.2 * (WAVELENGTHS > 2300),
                        0.3 - 0.15 * np.exp(-((WAVELENGTHS - 1050) / 150) ** 2)])
    hsi = spectra[coarse].transpose(2, 0, 1) + rng.normal(0, 0.01, (WAVELENGTHS.size, n, n))
    dem = 100.0 + np.add.outer(np.arange(n), np.arange(n)) * 0.5
    paths = {"rgb": folder / "rgb.tif", "hsi": folder / "hsi.tif", "dem": folder / "dem.tif"}
    profile = dict(driver="GTiff", crs=crs, dtype="float32")
    with rasterio.open(paths["rgb"], "w", width=SIZE, height=SIZE, count=3,
                       transform=from_origin(x0, y0, RGB_RES * sx, RGB_RES * sy), **profile) as ds:
        ds.write(rgb.astype(np.float32))
    with rasterio.open(paths["hsi"], "w", width=n, height=n, count=WAVELENGTHS.size, nodata=np.nan,
                       transform=from_origin(*hsi_origin, HSI_RES * sx, HSI_RES * sy), **profile) as ds:
        ds.write(hsi.astype(np.float32))
        if hsi_wavelengths:
            for b, wl in enumerate(WAVELENGTHS, start=1):
                ds.update_tags(b, wavelength=f"{wl:.1f}", fwhm="20.0", wavelength_units="Nanometers")
                ds.set_band_description(b, f"{wl:.1f} nm")
    with rasterio.open(paths["dem"], "w", width=n, height=n, count=1, nodata=-9999.0,
                       transform=from_origin(x0, y0, HSI_RES * sx, HSI_RES * sy), **profile) as ds:
        ds.write(dem[None].astype(np.float32))
    # Labels: points on a regular lattice of RGB pixel centres, class from the map.
    pts, names = [], []
    for r in range(2, SIZE, 5):
        for c in range(2, SIZE, 5):
            pts.append(Point(x0 + (c + 0.5) * RGB_RES * sx, y0 - (r + 0.5) * RGB_RES * sy))
            names.append(CLASSES[fine[r, c]])
    gdf = gpd.GeoDataFrame({"mineral": names}, geometry=pts, crs=crs)
    paths["labels"] = folder / "labels.gpkg"
    gdf.to_file(paths["labels"], driver="GPKG")
    return paths


def train_tiny_teacher(paths: dict[str, Path], out: Path, epochs: int = 8) -> Path:
    """A narrow teacher (embed 32, 4 heads) trained briefly on the tiny scene, with validation
    blocks of 16 px so that the scene has several; returns its model file."""
    from cmkd_plugin.engine.training.config import DataConfig, TeacherTrainConfig
    from cmkd_plugin.engine.training.pipeline import run_teacher_training

    run_teacher_training(str(paths["rgb"]), str(paths["hsi"]), str(paths["dem"]),
                         str(paths["labels"]), str(out / "teacher.cmkd"), str(out / "teacher.html"),
                         DataConfig(block_size_px=16),
                         TeacherTrainConfig(epochs=epochs, patches_per_epoch=64, encoder_width=8,
                                            embed_dim=32, n_heads=4, learning_rate=1e-2, seed=3,
                                            members=1))
    return out / "teacher.cmkd"


def save_tiny_student(path: Path, classes: tuple[tuple[str, str], ...], *, seed: int = 0,
                      encoder_depth: int = 1, pixel_size_m: float | None = None):
    """An untrained tiny RGB student (width 8, 16-d features) with a card naming ``classes``
    (``(name, colour)`` pairs); returns ``(model file, card)``."""
    import torch

    from cmkd_plugin.engine.models.card import ClassCard, ModalityCard, ModelCard, Provenance
    from cmkd_plugin.engine.models.config import StudentConfig
    from cmkd_plugin.engine.models.modelfile import save_model
    from cmkd_plugin.engine.models.student import Student

    torch.manual_seed(seed)
    model = Student(StudentConfig(n_classes=len(classes), encoder_width=8,
                                  encoder_depth=encoder_depth, embed_dim=16, classifier_hidden=8))
    card = ModelCard(kind="student", architecture=model.config,
                     modalities=(ModalityCard("rgb", ("red", "green", "blue"), (0.5,) * 3,
                                              (0.25,) * 3),),
                     classes=tuple(ClassCard(n, c) for n, c in classes),
                     tile_size_px=64, tile_overlap_px=16, provenance=Provenance.now(),
                     pixel_size_m=pixel_size_m)
    return save_model(path, model, card), card


def write_random_rgb(path: Path, width: int = 80, height: int = 60) -> Path:
    """A uint8 RGB raster of uniform noise, 1 m pixels in UTM 33N (seed 0)."""
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3,
                       dtype="uint8", crs=CRS, transform=from_origin(500000, 4100000 + height, 1, 1)) as dst:
        dst.write(rng.integers(0, 255, (3, height, width), dtype="uint8"))
    return path
