"""Hostile inputs for the hardening tests: broken files, odd rasters, unusable folders.

Everything is written for real (rasterio, geopandas, safetensors) into a test's ``tmp_path``;
nothing here mocks the engine. :func:`run_cli` runs an engine command through its real command
line (``python -m cmkd_plugin.engine --protocol jsonl ...``) in this process, because a fresh
interpreter per case (torch import ~2 s) would make the matrix too slow for CI; the launcher and
fault tests cover the out-of-process path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

import geopandas as gpd  # noqa: E402
import rasterio  # noqa: E402
from affine import Affine  # noqa: E402
from shapely.geometry import Point, Polygon, box  # noqa: E402

from cmkd_plugin.engine import cli, protocol  # noqa: E402
from cmkd_plugin.engine.atomic import PARTIAL_MARK  # noqa: E402

UTM = "EPSG:32633"
ORIGIN = (500_000.0, 4_100_000.0)
CLASSES = ("calcite", "serpentine", "olivine")
COLOURS = ("#1f77b4", "#2ca02c", "#d62728")
HSI_WL = tuple(450.0 + 150.0 * i for i in range(12))  # 450..2100 nm
JAPANESE_FOLDER = "調査データ"


# ------------------------------------------------------------------ rasters


def write_raster(path: Path, data: np.ndarray, *, crs: str | None = UTM, pixel_m: float = 1.0,
                 origin: tuple[float, float] = ORIGIN, nodata: float | None = None,
                 descriptions: Sequence[str] | None = None, tags: dict | None = None) -> Path:
    """Write ``data`` (bands, rows, cols) as a GeoTIFF with a north-up grid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bands, h, w = data.shape
    profile = dict(driver="GTiff", width=w, height=h, count=bands, dtype=data.dtype.name,
                   transform=Affine(pixel_m, 0, origin[0], 0, -pixel_m, origin[1]))
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    if bands == 4:  # four bands of bytes would be RGB + alpha by GDAL's default: four data bands
        profile["photometric"] = "MINISBLACK"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or (), start=1):
            dst.set_band_description(i, d)
        if tags:
            dst.update_tags(**tags)
    return path


def rgb_array(h: int, w: int, *, dtype: str = "uint8", bands: int = 3, seed: int = 0) -> np.ndarray:
    """Patchy values spanning the dtype's usual range (uint8 0-255, uint16 0-4095, float 0-1)."""
    rng = np.random.default_rng(seed)
    small = rng.random((bands, h // 8 + 2, w // 8 + 2))
    field_ = np.kron(small, np.ones((8, 8)))[:, :h, :w]
    top = {"uint8": 250, "uint16": 4000, "int16": 4000, "int32": 250}.get(dtype, 1.0)
    return (field_ * top + (1 if top != 1.0 else 0)).astype(dtype)


def write_rgb(path: Path, h: int = 48, w: int = 48, **kw) -> Path:
    """A 3-band RGB GeoTIFF (``dtype``/``bands``/``seed`` to ``rgb_array``, rest to ``write_raster``)."""
    arr_kw = {k: kw.pop(k) for k in ("dtype", "bands", "seed") if k in kw}
    return write_raster(path, rgb_array(h, w, **arr_kw), **kw)


def write_hsi(path: Path, h: int = 24, w: int = 24, *, origin: tuple[float, float] = ORIGIN,
              wavelengths: bool = True) -> Path:
    """A 12-band float32 reflectance cube at 2 m with per-band wavelength/fwhm tags."""
    rng = np.random.default_rng(5)
    cube = (rng.random((len(HSI_WL), h, w)) * 0.5 + 0.05).astype("float32")
    write_raster(path, cube, pixel_m=2.0, origin=origin, nodata=float("nan"))
    if wavelengths:
        with rasterio.open(path, "r+") as ds:
            for b, wl in enumerate(HSI_WL, start=1):
                ds.update_tags(b, wavelength=f"{wl:.1f}", fwhm="20.0", wavelength_units="Nanometers")
                ds.set_band_description(b, f"{wl:.1f} nm")
    return path


def write_dem(path: Path, h: int = 24, w: int = 24) -> Path:
    yy, xx = np.mgrid[0:h, 0:w]
    z = (300 + 0.3 * xx + 5 * np.sin(yy / 9.0)).astype("float32")[None]
    return write_raster(path, z, pixel_m=2.0, nodata=-9999.0)


def class_array(h: int, w: int) -> np.ndarray:
    rows, cols = np.indices((h, w))
    return ((rows // 8 + cols // 8) % len(CLASSES)).astype("uint8")[None]


def write_classes(path: Path, h: int = 48, w: int = 48, **kw) -> Path:
    """A class raster as classify writes it: uint8 codes, class names in the band metadata."""
    write_raster(path, class_array(h, w), nodata=255, **kw)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(1, **{"CLASS_NAMES": ",".join(CLASSES)})
    return path


def probabilities_array(h: int, w: int, k: int = len(CLASSES), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(k, 0.7), size=(h, w)).transpose(2, 0, 1).astype("float32")


def write_probabilities(path: Path, data: np.ndarray | None = None, *, names=CLASSES, **kw) -> Path:
    data = probabilities_array(40, 30) if data is None else data
    return write_raster(path, data, nodata=float("nan"), descriptions=names,
                        tags={"CMKD_PRODUCT": "probabilities"}, pixel_m=kw.pop("pixel_m", 10.0), **kw)


# ------------------------------------------------------------------ vectors


def write_vector(path: Path, geoms: list, values: dict | None = None, crs: str | None = UTM,
                 layer: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf = gpd.GeoDataFrame(values or {}, geometry=geoms, crs=crs)
    gdf.to_file(path, driver="GPKG", **({"layer": layer} if layer else {}))
    return path


def label_points(h: int = 48, w: int = 48, pixel_m: float = 1.0, step: int = 4,
                 names: Sequence[str] = CLASSES) -> tuple[list, list]:
    """Points on pixel centres with the class of :func:`class_array` under them."""
    codes = class_array(h, w)[0]
    pts, labels = [], []
    for r in range(1, h, step):
        for c in range(1, w, step):
            pts.append(Point(ORIGIN[0] + (c + 0.5) * pixel_m, ORIGIN[1] - (r + 0.5) * pixel_m))
            labels.append(names[codes[r, c]])
    return pts, labels


def write_labels(path: Path, h: int = 48, w: int = 48, *, names: Sequence[str] = CLASSES,
                 crs: str | None = UTM, pixel_m: float = 1.0, field_name: str = "mineral") -> Path:
    pts, labels = label_points(h, w, pixel_m, names=names)
    return write_vector(path, pts, {field_name: labels}, crs=crs)


def bowtie(x0: float, y0: float, size: float) -> Polygon:
    """A self-intersecting (invalid) polygon."""
    return Polygon([(x0, y0), (x0 + size, y0 - size), (x0 + size, y0), (x0, y0 - size)])


def site_box(x_off: float, y_off: float, size: float) -> Polygon:
    return box(ORIGIN[0] + x_off, ORIGIN[1] - y_off - size, ORIGIN[0] + x_off + size, ORIGIN[1] - y_off)


# ------------------------------------------------------------------ broken files


def zero_byte(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def truncated_copy(src: Path, dst: Path, keep: float | int = 0.3) -> Path:
    """The first bytes of ``src`` (a fraction or a count) under ``dst``."""
    raw = src.read_bytes()
    n = int(len(raw) * keep) if isinstance(keep, float) else keep
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(raw[:n])
    return dst


def garbage(path: Path, n: int = 4096, seed: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).bytes(n))
    return path


def corrupted_gpkg(src: Path, dst: Path) -> Path:
    """A GeoPackage whose SQLite header survives but whose pages are overwritten with noise."""
    raw = bytearray(src.read_bytes())
    noise = np.random.default_rng(7).bytes(len(raw) - 4096)
    raw[4096:] = noise  # page 1 (schema) intact-ish, every other page garbage
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(raw))
    return dst


# ------------------------------------------------------------------ folders


@contextlib.contextmanager
def tiny_filesystem(folder: Path, size: str = "64k", read_only: bool = False,
                    fill: bool = False) -> Iterator[Path]:
    """Mount a size-limited tmpfs on ``folder`` (read-only, or ``fill``-ed to the last block);
    skip if mounting is not permitted.

    Tests run as root, so permission bits cannot make a folder unwritable; a read-only mount can.
    """
    import pytest

    folder.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    if not shutil.which("mount") or os.name != "posix":
        pytest.skip("needs mount(8) to make a size-limited or read-only folder")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); run as root to test this")
    try:
        if fill:
            # Leave no free block, so even a tiny output (a report, a JSON) hits ENOSPC.
            with open(folder / "filler.bin", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError:
                    pass
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# ------------------------------------------------------------------ running and checking


def file_hashes(paths: Sequence[Path]) -> dict[str, str]:
    """SHA-256 of every file at or under ``paths`` (folders recursively)."""
    out: dict[str, str] = {}
    for p in paths:
        p = Path(p)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@dataclass
class Outcome:
    code: int
    messages: list[protocol.Message] = field(default_factory=list)

    @property
    def error(self) -> protocol.Message | None:
        return next((m for m in self.messages if m.type == "error"), None)

    @property
    def result(self) -> dict | None:
        return next((m.outputs for m in self.messages if m.type == "result"), None)

    def describe(self) -> str:
        return f"exit {self.code}: " + " | ".join(
            f"{m.type}:{m.kind}:{m.message}" if m.type != "result" else f"result:{m.outputs}"
            for m in self.messages if m.type in ("error", "result", "warning"))


def run_cli(argv: Sequence[str]) -> Outcome:
    """Run ``python -m cmkd_plugin.engine --protocol jsonl <argv>`` in this process."""
    stream = io.StringIO()
    saved_stdout, saved_handler = sys.stdout, signal.getsignal(signal.SIGTERM)
    sys.stdout = stream
    try:
        code = cli.main(["--protocol", "jsonl", *map(str, argv)])
    finally:
        sys.stdout = saved_stdout
        signal.signal(signal.SIGTERM, saved_handler)
    lines = stream.getvalue().splitlines()
    messages = [protocol.decode(line) for line in lines if line.strip()]
    # Nothing but protocol objects may reach stdout in jsonl mode.
    stray = [m.message for m in messages if m.type == "log"]
    assert not stray, f"non-protocol lines on stdout: {stray[:3]}"
    return Outcome(code, messages)


def leftovers(folders: Sequence[Path]) -> list[str]:
    """Every file in ``folders`` (recursively): after a refused run there must be none."""
    found: list[str] = []
    for folder in folders:
        if Path(folder).is_dir():
            found += [str(p) for p in Path(folder).rglob("*") if p.is_file() or PARTIAL_MARK in p.name]
    return sorted(found)


def assert_refused(outcome: Outcome, pattern: str, *, out_dirs: Sequence[Path],
                   before: dict[str, str], kinds: Sequence[str] = ("input", "model")) -> None:
    """A clean refusal: non-zero exit, one specific error of a user-facing kind, nothing written,
    inputs unchanged."""
    err = outcome.error
    assert outcome.code != 0, outcome.describe()
    assert err is not None, outcome.describe()
    assert err.kind in kinds, f"error kind {err.kind!r} (a crash?): {err.message}"
    assert re.search(pattern, err.message, re.IGNORECASE), (
        f"message does not match {pattern!r}: {err.message}")
    assert outcome.result is None
    assert leftovers(out_dirs) == []
    assert file_hashes([Path(p) for p in before]) == before, "an input file was changed"


# ------------------------------------------------------------------ model files


def _cards(kind: str, config):
    from cmkd_plugin.engine.models.card import ClassCard, ModalityCard, ModelCard, Provenance
    from cmkd_plugin.engine.models.config import DEM_CHANNELS

    n = len(HSI_WL)
    mods = {
        "rgb": ModalityCard("rgb", ("red", "green", "blue"), (0.5,) * 3, (0.25,) * 3),
        "hsi": ModalityCard("hsi", tuple(f"{w:.1f} nm" for w in HSI_WL), (0.35,) * n, (0.2,) * n,
                            HSI_WL, (20.0,) * n),
        "dem": ModalityCard("dem", DEM_CHANNELS, (320.0, 10.0, 0.6), (30.0, 5.0, 0.2)),
    }
    return ModelCard(kind=kind, architecture=config,
                     modalities=tuple(mods[m] for m in config.modality_names),
                     classes=tuple(ClassCard(c, col) for c, col in zip(CLASSES, COLOURS)),
                     tile_size_px=32, tile_overlap_px=8, provenance=Provenance.now(), training={})


def write_student(path: Path) -> Path:
    """A real, tiny, untrained RGB student model file."""
    import torch

    from cmkd_plugin.engine.models.config import StudentConfig
    from cmkd_plugin.engine.models.modelfile import save_model
    from cmkd_plugin.engine.models.student import Student

    torch.manual_seed(1)
    model = Student(StudentConfig(n_classes=len(CLASSES), encoder_width=8, encoder_depth=2,
                                  embed_dim=16, classifier_hidden=8))
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(path, model, _cards("student", model.config))


def write_teacher(path: Path) -> Path:
    """A real, tiny, untrained RGB + HSI (12 bands) + DEM teacher model file."""
    import torch

    from cmkd_plugin.engine.models.config import ModalitySpec, TeacherConfig
    from cmkd_plugin.engine.models.modelfile import save_model
    from cmkd_plugin.engine.models.teacher import Teacher

    torch.manual_seed(2)
    config = TeacherConfig(n_classes=len(CLASSES),
                           modalities=(ModalitySpec("rgb", 3), ModalitySpec("hsi", len(HSI_WL)),
                                       ModalitySpec("dem", 3)),
                           encoder_width=8, encoder_depth=1, embed_dim=16, n_heads=2,
                           classifier_hidden=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_model(path, Teacher(config), _cards("teacher", config))


def pickle_bomb(path: Path, marker: Path) -> Path:
    """A torch-style pickle whose unpickling would create ``marker`` (it must never run)."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch '{marker}'",))

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    return path
