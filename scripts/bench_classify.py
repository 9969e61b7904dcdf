#!/usr/bin/env python3
"""Benchmark of tiled classification (issue 5 acceptance figures).

* Memory: the student classifies generated W x W RGB rasters (default 4096 and 16384) in child
  processes; each child's peak RSS comes from ``os.wait4`` (ru_maxrss), so nothing of this parent
  is counted. Growth between the smallest and the largest size should stay below 10 %.
* Speed: student end-to-end throughput (read, infer, stitch, write) against the bare forward
  pass of the same model on in-memory tensors of the same tile and batch size; student against
  teacher end-to-end on the same RGB + HSI + DEM scene, all on one grid (the teacher runs on
  every RGB pixel), and again with HSI and DEM 8 times coarser than the RGB, where the
  teacher runs on its own grid (``TEACHER_GRID`` ``own``, the default) and its map is upsampled
  and refined by the RGB.

Models are untrained instances of the real architectures (throughput does not depend on the
weights). Rasters are written window by window (noise) and deleted afterwards.

Usage::

    PROJ_DATA=/usr/share/proj .venv/bin/python scripts/bench_classify.py \
        [--sizes 4096,16384] [--teacher-size 384] [--workdir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_CLASSES = 6
TILE_PX = 256
OVERLAP_PX = 32
BATCH = 4
ORIGIN = (500_000.0, 4_100_000.0)
#: Pixel size of the generated RGB (and of the one-grid scene's HSI and DEM), metres.
PIXEL_M = 0.1
#: How many RGB pixels one HSI / DEM pixel spans per side in the coarse scene.
COARSE_FACTOR = 8


def _card(kind: str, config):
    from cmkd_plugin.engine.models.card import ClassCard, ModalityCard, ModelCard, Provenance
    from cmkd_plugin.engine.models.config import DEM_CHANNELS

    mods = []
    for m in config.modalities:
        if m.name == "rgb":
            mods.append(ModalityCard("rgb", ("red", "green", "blue"), (0.5,) * 3, (0.25,) * 3))
        elif m.name == "hsi":
            wl = tuple(float(v) for v in np.linspace(400, 2500, m.bands))
            mods.append(ModalityCard("hsi", tuple(f"{w:.1f} nm" for w in wl), (0.3,) * m.bands,
                                     (0.2,) * m.bands, wl, (10.0,) * m.bands))
        else:
            mods.append(ModalityCard("dem", DEM_CHANNELS, (300.0, 10.0, 0.6), (30.0, 5.0, 0.2)))
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
    return ModelCard(kind=kind, architecture=config, modalities=tuple(mods),
                     classes=tuple(ClassCard(f"class {i}", palette[i]) for i in range(N_CLASSES)),
                     tile_size_px=TILE_PX, tile_overlap_px=OVERLAP_PX,
                     provenance=Provenance.now({"benchmark": "untrained"}))


def make_models(folder: Path) -> tuple[Path, Path, Path]:
    """The student, the teacher, and the same teacher trained (per its card) on a grid
    ``COARSE_FACTOR`` times coarser than the ``PIXEL_M`` RGB of :func:`write_noise`."""
    from dataclasses import replace

    import torch

    from cmkd_plugin.engine.models.config import StudentConfig, TeacherConfig
    from cmkd_plugin.engine.models.modelfile import save_model
    from cmkd_plugin.engine.models.student import Student
    from cmkd_plugin.engine.models.teacher import Teacher

    torch.manual_seed(0)
    student = Student(StudentConfig(n_classes=N_CLASSES))
    teacher = Teacher(TeacherConfig(n_classes=N_CLASSES))
    s = save_model(folder / "student.safetensors", student, _card("student", student.config))
    card = _card("teacher", teacher.config)
    t = save_model(folder / "teacher.safetensors", teacher, card)
    coarse = save_model(folder / "teacher_coarse.safetensors", teacher,
                        replace(card, pixel_size_m=PIXEL_M * COARSE_FACTOR))
    return s, t, coarse


def write_noise(path: Path, size_px: int, bands: int, dtype: str, *, pixel_m: float = PIXEL_M,
                wavelengths: bool = False, dem: bool = False) -> Path:
    """A size x size raster written block row by block row (bounded memory, fast)."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    rng = np.random.default_rng(size_px)
    profile = dict(driver="GTiff", width=size_px, height=size_px, count=bands, dtype=dtype,
                   crs="EPSG:32633", tiled=True, blockxsize=256, blockysize=256,
                   transform=Affine(pixel_m, 0, ORIGIN[0], 0, -pixel_m, ORIGIN[1]),
                   bigtiff="IF_SAFER")
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size_px, 256):
            h = min(256, size_px - r0)
            if dem:
                data = (300 + rng.random((1, h, size_px)) * 2).astype(dtype)
            elif dtype == "uint8":
                data = rng.integers(1, 255, (bands, h, size_px), dtype=np.uint8)
            else:
                data = (rng.random((bands, h, size_px)) * 0.6).astype(dtype)
            dst.write(data, window=Window(0, r0, size_px, h))
        if wavelengths:
            for i, wl in enumerate(np.linspace(400, 2500, bands), start=1):
                dst.update_tags(i, wavelength=f"{wl:.1f}", fwhm="10.00",
                                wavelength_units="Nanometers")
    return path


def write_figures(output_dir: str | os.PathLike[str] | None, name: str, figures: dict,
                  json_path: str | os.PathLike[str] | None = None) -> None:
    """Write ``figures`` as ``<output_dir>/<name>.json`` and to ``json_path`` (each when given)."""
    paths = ([Path(output_dir) / f"{name}.json"] if output_dir else []) + (
        [Path(json_path)] if json_path else [])
    for out in paths:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def child_classify(args: argparse.Namespace) -> None:
    """Runs in a child process: one classification, timings printed as JSON on stdout."""
    from cmkd_plugin.engine.classify.config import ClassifyConfig
    from cmkd_plugin.engine.classify.pipeline import classify

    out = Path(args.out)
    t0 = time.perf_counter()
    result = classify(args.model, args.rgb, hsi=args.hsi, dem=args.dem,
                      output_classes=out / "classes.tif", output_confidence=out / "conf.tif",
                      config=ClassifyConfig(TILE_PX, OVERLAP_PX, BATCH, "cpu"))
    print(json.dumps({"pixels": result.pixels, "seconds": time.perf_counter() - t0,
                      "tiles": result.tiles_run}))


def run_child(model: Path, rgb: Path, out: Path, hsi: Path | None = None,
              dem: Path | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", "--model", str(model), "--rgb", str(rgb),
           "--out", str(out)]
    if hsi:
        cmd += ["--hsi", str(hsi)]
    if dem:
        cmd += ["--dem", str(dem)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env={**os.environ, "PROJ_DATA": "/usr/share/proj"})
    _pid, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    if status != 0:
        raise RuntimeError(f"child failed ({status}): {' '.join(cmd)}")
    info = json.loads(stdout.strip().splitlines()[-1])
    info["peak_rss_mb"] = usage.ru_maxrss / 1024.0  # Linux: kilobytes
    info["mpx_per_s"] = info["pixels"] / info["seconds"] / 1e6
    return info


def bare_forward(model_path: Path, iterations: int = 6) -> float:
    """Mpx/s of the model alone on in-memory (B, 3, T, T) tensors (tile pixels counted)."""
    import torch

    from cmkd_plugin.engine.models.modelfile import load_model

    model, _card = load_model(model_path)
    x = {"rgb": torch.randn(BATCH, 3, TILE_PX, TILE_PX)}
    with torch.inference_mode():
        model(x)
        t0 = time.perf_counter()
        for _ in range(iterations):
            torch.softmax(model(x).logits, dim=1)
        dt = time.perf_counter() - t0
    return BATCH * TILE_PX * TILE_PX * iterations / dt / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,16384", help="RGB sides in pixels for memory")
    parser.add_argument("--teacher-size", type=int, default=384, help="side of the teacher scene")
    parser.add_argument("--workdir", help="folder for generated rasters (default: a temp folder)")
    parser.add_argument("--json", help="write the figures to this JSON file too")
    parser.add_argument("--output-dir", help="write the figures to bench_classify.json in this folder")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("model", "rgb", "hsi", "dem", "out"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_classify(args)
        return 0

    work = Path(args.workdir or tempfile.mkdtemp(prefix="cmkd-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    figures: dict = {"tile_px": TILE_PX, "overlap_px": OVERLAP_PX, "batch": BATCH,
                     "cpu_count": os.cpu_count()}
    try:
        student, teacher, teacher_coarse = make_models(work)
        figures["student_forward_mpx_per_s"] = bare_forward(student)
        print(f"student bare forward: {figures['student_forward_mpx_per_s']:.3f} Mpx/s", flush=True)

        # Student vs teacher on the same scene (RGB + 224-band HSI + DEM, one grid).
        n = args.teacher_size
        rgb = write_noise(work / "scene_rgb.tif", n, 3, "uint8")
        hsi = write_noise(work / "scene_hsi.tif", n, 224, "float32", wavelengths=True)
        dem = write_noise(work / "scene_dem.tif", n, 1, "float32", dem=True)
        s_run = run_child(student, rgb, work / "out_scene_s")
        t_run = run_child(teacher, rgb, work / "out_scene_t", hsi=hsi, dem=dem)
        figures["scene_px"] = n
        figures["student_scene_mpx_per_s"] = s_run["mpx_per_s"]
        figures["teacher_scene_mpx_per_s"] = t_run["mpx_per_s"]
        figures["student_over_teacher"] = s_run["mpx_per_s"] / t_run["mpx_per_s"]
        print(f"scene {n}^2: student {s_run['mpx_per_s']:.3f} Mpx/s, teacher "
              f"{t_run['mpx_per_s']:.4f} Mpx/s, ratio {figures['student_over_teacher']:.1f}x",
              flush=True)
        # The same with HSI and DEM COARSE_FACTOR times coarser (e.g. 2 m over 0.25 m RGB).
        m = n // COARSE_FACTOR
        hsi_c = write_noise(work / "scene_hsi_coarse.tif", m, 224, "float32", wavelengths=True,
                            pixel_m=PIXEL_M * COARSE_FACTOR)
        dem_c = write_noise(work / "scene_dem_coarse.tif", m, 1, "float32", dem=True,
                            pixel_m=PIXEL_M * COARSE_FACTOR)
        c_run = run_child(teacher_coarse, rgb, work / "out_scene_tc", hsi=hsi_c, dem=dem_c)
        figures["teacher_own_grid_scene_mpx_per_s"] = c_run["mpx_per_s"]
        figures["student_over_teacher_own_grid"] = s_run["mpx_per_s"] / c_run["mpx_per_s"]
        print(f"scene {n}^2 with HSI/DEM {COARSE_FACTOR}x coarser: teacher on its own grid "
              f"{c_run['mpx_per_s']:.4f} Mpx/s, student/teacher "
              f"{figures['student_over_teacher_own_grid']:.1f}x", flush=True)
        for p in (rgb, hsi, dem, hsi_c, dem_c):
            p.unlink()

        runs = {}
        for size in (int(s) for s in args.sizes.split(",")):
            big = write_noise(work / f"rgb_{size}.tif", size, 3, "uint8")
            info = run_child(student, big, work / f"out_{size}")
            big.unlink()
            shutil.rmtree(work / f"out_{size}")
            runs[size] = info
            print(f"student {size}^2: {info['seconds']:.1f} s, {info['mpx_per_s']:.3f} Mpx/s, "
                  f"peak RSS {info['peak_rss_mb']:.0f} MB", flush=True)
        figures["memory_runs"] = {str(k): v for k, v in runs.items()}
        sizes = sorted(runs)
        if len(sizes) >= 2:
            small, large = runs[sizes[0]], runs[sizes[-1]]
            figures["rss_growth_pct"] = 100.0 * (large["peak_rss_mb"] / small["peak_rss_mb"] - 1)
            print(f"peak RSS growth {sizes[0]} -> {sizes[-1]}: {figures['rss_growth_pct']:.1f} %")
        best = max(r["mpx_per_s"] for r in runs.values())
        figures["student_end_to_end_mpx_per_s"] = best
        figures["end_to_end_over_forward"] = best / figures["student_forward_mpx_per_s"]
        print(f"student end-to-end / bare forward: {100 * figures['end_to_end_over_forward']:.0f} %")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    write_figures(args.output_dir, "bench_classify", figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
