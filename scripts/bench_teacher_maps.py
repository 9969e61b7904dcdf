#!/usr/bin/env python3
"""How close the teacher's own maps come to the truth through ``cmkd:classify``, with and
without the refinement by the RGB (``REFINE`` ``teacher`` / ``none``; ``--refine``).

Uses the teacher and the test scenes of ``scripts/bench_distillation.py`` (run it first with the
same ``--work-dir``; ``--teacher-only`` is enough). Each test scene is classified twice with the
product's tiled classifier (default tiling), once as the teacher gives it and once refined,
and both class maps are scored against the simulator's full-resolution truth over the pixels
where the teacher has inputs (where both maps have a class).

Also scored on the same pixels, without any model: a *perfect 2 m teacher* — the majority true
class of every teacher pixel. Upsampled by nearest neighbour its OA is the scene's purity (the
bound of a teacher that gives one class per HSI pixel); refined by the RGB exactly as
``classify`` refines a teacher (same radius, same guide), it shows how far the refinement
moves that bound.

Usage::

    .venv/bin/python scripts/bench_teacher_maps.py --work-dir /tmp/cmkd-bench \\
        [--presets mars_analogue] [--test-seeds 101 102 201 202] [--teacher-grid rgb] [--reuse]

``--reuse`` scores the maps of an earlier run instead of classifying again (no timings).

One JSON line per scene goes to ``teacher_maps.jsonl`` in the work folder; a Markdown table is
printed at the end. About 5–15 s per classification of a 512 px scene with the default
three-member teacher on its own grid, on 2 shared cores; 3–7 minutes with ``--teacher-grid rgb``
(the teacher on every RGB pixel).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))  # bench_distillation (which puts the repository on the path)

from bench_distillation import simulate  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402

from bench_distillation import bench_teacher, read_scene  # noqa: E402
from cmkd_plugin.engine.classify.config import TEACHER_GRIDS, ClassifyConfig  # noqa: E402
from cmkd_plugin.engine.classify.inference import refinement_radius  # noqa: E402
from cmkd_plugin.engine.classify.pipeline import classify  # noqa: E402
from cmkd_plugin.engine.models.guided import refine_probabilities  # noqa: E402
from cmkd_plugin.engine.models.modelfile import load_model  # noqa: E402
from cmkd_plugin.engine.models.preprocess import normalise  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes  # noqa: E402
from cmkd_plugin.engine.models.resample import upsample_area  # noqa: E402
from cmkd_plugin.engine.training.data import coarse_labels  # noqa: E402


def read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def perfect_teacher_maps(scene_dir: Path, t_card, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The majority true class of every teacher pixel on the RGB grid: as is (nearest) and
    refined by the RGB like ``classify`` refines a teacher."""
    import torch

    scene, truth = read_scene(scene_dir, t_card, names)
    f, k = scene.factor, len(names)
    majority = coarse_labels(truth, f, k)
    shape = truth.shape
    nearest = np.full(shape, 255, dtype=np.uint8)
    up = np.repeat(np.repeat(majority, f, axis=0), f, axis=1)
    nearest[: up.shape[0], : up.shape[1]] = up[: shape[0], : shape[1]]
    onehot = (majority[None] == np.arange(k)[:, None, None]).astype(np.float32)
    probs = upsample_area(onehot, f, shape)
    rgb = t_card.modality("rgb")
    guide = np.nan_to_num(normalise(scene.rgb, rgb.mean, rgb.std), nan=0.0)
    radius = refinement_radius(t_card, scene.grid.pixel_size_m, ClassifyConfig().overlap_px)
    refined = refine_probabilities(torch.from_numpy(guide)[None], torch.from_numpy(probs)[None],
                                   radius)[0].numpy().argmax(axis=0)
    return {"perfect_2m": nearest, "perfect_2m_refined": refined}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", "--output-dir", dest="work_dir", type=Path,
                        default=Path("/tmp/cmkd-bench"),
                        help="the work folder of bench_distillation.py (teacher.cmkd, scenes)")
    parser.add_argument("--presets", nargs="+", default=["earth_carbonation", "mars_analogue"])
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    parser.add_argument("--size-px", type=int, default=512)
    parser.add_argument("--teacher-grid", choices=TEACHER_GRIDS, default=ClassifyConfig.teacher_grid,
                        help="where the teacher runs (cmkd:classify TEACHER_GRID): own (its 2 m "
                             "grid, the default) or rgb (every RGB pixel)")
    parser.add_argument("--reuse", action="store_true",
                        help="score the class maps of an earlier run instead of classifying again")
    args = parser.parse_args()
    rows = []
    for preset in args.presets:
        work = args.work_dir / preset
        teacher = bench_teacher(parser, args.work_dir, preset)
        names = tuple(c.name for c in preset_classes(preset))
        k = len(names)
        _, t_card = load_model(teacher, expect_kind="teacher")
        for seed in args.test_seeds:
            scene = simulate(preset, seed, args.size_px, work / f"scene_{seed}", 20)
            out = args.work_dir / "teacher_maps" / args.teacher_grid / preset / f"scene_{seed}"
            maps, seconds = {}, {}
            for name, refine in (("raw", False), ("refined", True)):
                if not (args.reuse and (out / f"{name}.tif").exists()):
                    start = time.perf_counter()
                    classify(teacher, scene / "rgb.tif", hsi=scene / "hsi.tif", dem=scene / "dem.tif",
                             output_classes=out / f"{name}.tif",
                             config=replace(ClassifyConfig(), refine="teacher" if refine else "none",
                                            teacher_grid=args.teacher_grid))
                    seconds[name] = time.perf_counter() - start
                maps[name] = read_band(out / f"{name}.tif")
            maps.update(perfect_teacher_maps(scene, t_card, names))
            truth = read_band(scene / "truth.tif")
            mask = (maps["raw"] != 255) & (maps["refined"] != 255) & (truth < k)
            row = {"preset": preset, "scene": seed, "teacher_grid": args.teacher_grid,
                   "pixels": int(mask.sum()),
                   **{f"{n}_oa": float((m == truth)[mask].mean()) for n, m in maps.items()},
                   **{f"{n}_s": round(t, 1) for n, t in seconds.items()}}
            print(json.dumps(row), file=sys.stderr, flush=True)
            with open(args.work_dir / "teacher_maps.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
    print("| preset | test scene | teacher OA as given | refined by the RGB | difference (pts) | "
          "perfect 2 m teacher (purity) | refined by the RGB | seconds (given / refined) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        timing = (f"{r['raw_s']:.0f} / {r['refined_s']:.0f}" if "raw_s" in r and "refined_s" in r else "–")
        print(f"| {r['preset']} | {r['scene']} | {r['raw_oa']:.3f} | {r['refined_oa']:.3f} | "
              f"{100 * (r['refined_oa'] - r['raw_oa']):+.1f} | {r['perfect_2m_oa']:.3f} | "
              f"{r['perfect_2m_refined_oa']:.3f} | {timing} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
