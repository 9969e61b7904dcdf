#!/usr/bin/env python3
"""How close the teacher's own maps come to the truth through ``cmkd:classify``, with and
without the refinement by the RGB (``REFINE_TEACHER`` / ``--no-teacher-refinement``).

Uses the teacher and the test scenes of ``scripts/bench_distillation.py`` (run it first with the
same ``--work-dir``; ``--teacher-only`` is enough). Each test scene is classified twice with the
product's tiled classifier (default tiling), once as the teacher gives it and once refined,
and both class maps are scored against the simulator's full-resolution truth over the pixels
where the teacher has inputs (where both maps have a class).

Usage::

    .venv/bin/python scripts/bench_teacher_maps.py --work-dir /tmp/cmkd-bench \\
        [--presets mars_analogue] [--test-seeds 101 102 201 202]

One JSON line per scene goes to ``teacher_maps.jsonl`` in the work folder; a Markdown table is
printed at the end. About 3–7 minutes per classification of a 512 px scene with the default
three-member teacher on 2 shared cores.
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

from cmkd_plugin.engine.classify.config import ClassifyConfig  # noqa: E402
from cmkd_plugin.engine.classify.pipeline import classify  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes  # noqa: E402


def read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cmkd-bench"))
    parser.add_argument("--presets", nargs="+", default=["earth_carbonation", "mars_analogue"])
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    parser.add_argument("--size-px", type=int, default=512)
    args = parser.parse_args()
    rows = []
    for preset in args.presets:
        work = args.work_dir / preset
        teacher = work / "teacher.cmkd"
        if not teacher.exists():
            parser.error(f"{teacher} is missing: run scripts/bench_distillation.py --work-dir "
                         f"{args.work_dir} --presets {preset} --teacher-only first")
        k = len(preset_classes(preset))
        for seed in args.test_seeds:
            scene = simulate(preset, seed, args.size_px, work / f"scene_{seed}", 20)
            out = args.work_dir / "teacher_maps" / preset / f"scene_{seed}"
            maps, seconds = {}, {}
            for name, refine in (("raw", False), ("refined", True)):
                start = time.perf_counter()
                classify(teacher, scene / "rgb.tif", hsi=scene / "hsi.tif", dem=scene / "dem.tif",
                         output_classes=out / f"{name}.tif",
                         config=replace(ClassifyConfig(), refine_teacher=refine))
                seconds[name] = time.perf_counter() - start
                maps[name] = read_band(out / f"{name}.tif")
            truth = read_band(scene / "truth.tif")
            mask = (maps["raw"] != 255) & (maps["refined"] != 255) & (truth < k)
            row = {"preset": preset, "scene": seed, "pixels": int(mask.sum()),
                   **{f"{n}_oa": float((m == truth)[mask].mean()) for n, m in maps.items()},
                   **{f"{n}_s": round(s, 1) for n, s in seconds.items()}}
            print(json.dumps(row), file=sys.stderr, flush=True)
            with open(args.work_dir / "teacher_maps.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
    print("| preset | test scene | teacher OA as given | refined by the RGB | difference (pts) | seconds (given / refined) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['scene']} | {r['raw_oa']:.3f} | {r['refined_oa']:.3f} | "
              f"{100 * (r['refined_oa'] - r['raw_oa']):+.1f} | {r['raw_s']:.0f} / {r['refined_s']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
