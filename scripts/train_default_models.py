#!/usr/bin/env python3
"""Train the bundled default models: one teacher and one RGB student per simulator preset.

Reproducible: a fixed simulator seed per preset, fixed training seeds, CPU. Writes
``resources/models/<preset>_teacher.cmkd`` and ``<preset>_student.cmkd`` with their HTML and JSON
reports (the models are small: a few hundred kB to ~2 MB). Scenes are simulated into a work folder.

Usage::

    python scripts/train_default_models.py [--presets earth_carbonation mars_analogue]
        [--work-dir /tmp/cmkd-default-models] [--out-dir resources/models]
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

from cmkd_plugin.engine.feedback import Feedback  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes, preset_names  # noqa: E402
from cmkd_plugin.engine.training.config import DataConfig, DistillConfig, TeacherTrainConfig  # noqa: E402
from cmkd_plugin.engine.training.pipeline import run_distillation, run_teacher_training  # noqa: E402

SCENE_SEED = 7       # simulator seed of the training scene (benchmark test scenes use others)
TRAIN_SEED = 0
SIZE_PX = 512


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=preset_names())
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cmkd-default-models"))
    parser.add_argument("--out-dir", type=Path, default=ROOT / "resources" / "models")
    parser.add_argument("--teacher-epochs", type=int, default=30)
    parser.add_argument("--student-epochs", type=int, default=30)
    parser.add_argument("--students-only", action="store_true",
                        help="keep the teachers in --out-dir and distil the students again (after a "
                             "change of the distillation defaults)")
    args = parser.parse_args()
    missing = [str(args.out_dir / f"{p}_teacher.cmkd") for p in args.presets
               if not (args.out_dir / f"{p}_teacher.cmkd").exists()]
    if args.students_only and missing:
        parser.error(f"--students-only needs the teachers; missing: {', '.join(missing)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fb = Feedback(on_info=lambda m: print(f"[{time.perf_counter() - start:6.0f} s] {m}", file=sys.stderr, flush=True),
                  on_warning=lambda m: print("warning: " + m, file=sys.stderr, flush=True))
    for preset in args.presets:
        scene = args.work_dir / preset
        if not (scene / "truth.tif").exists():
            subprocess.run([sys.executable, "-m", "cmkd_plugin.engine", "simulate", "--preset", preset,
                            "--seed", str(SCENE_SEED), "--size-px", str(SIZE_PX),
                            "--output-dir", str(scene)], check=True, cwd=ROOT,
                           stdout=subprocess.DEVNULL)
        table = scene / "classes.csv"
        with open(table, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "colour"])
            for c in preset_classes(preset):
                w.writerow([c.name, c.colour])
        files = {k: str(scene / f"{k}.{ext}") for k, ext in
                 (("rgb", "tif"), ("hsi", "tif"), ("dem", "tif"), ("labels", "gpkg"))}
        t0 = time.perf_counter()
        if not args.students_only:
            run_teacher_training(
                files["rgb"], files["hsi"], files["dem"], files["labels"],
                str(args.out_dir / f"{preset}_teacher.cmkd"), str(args.out_dir / f"{preset}_teacher.html"),
                DataConfig(seed=TRAIN_SEED), TeacherTrainConfig(epochs=args.teacher_epochs, seed=TRAIN_SEED),
                str(table), fb)
        student = run_distillation(
            str(args.out_dir / f"{preset}_teacher.cmkd"), files["rgb"], files["hsi"], files["dem"],
            files["labels"], str(args.out_dir / f"{preset}_student.cmkd"),
            str(args.out_dir / f"{preset}_student.html"),
            DistillConfig(epochs=args.student_epochs, seed=TRAIN_SEED), feedback=fb)
        for suffix in ("teacher.cmkd", "teacher.html", "teacher.json", "student.cmkd", "student.html",
                       "student.json"):
            target = args.out_dir / f"{preset}_{suffix}"
            if target.exists():
                target.chmod(0o644)  # atomic writes create 0600 temporaries; the files ship
        print(f"{preset}: {time.perf_counter() - t0:.0f} s; teacher {student.outputs['TEACHER_OA']:.3f}, "
              f"student {student.outputs['STUDENT_OA']:.3f}, baseline {student.outputs['BASELINE_OA']:.3f} "
              "(validation blocks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
