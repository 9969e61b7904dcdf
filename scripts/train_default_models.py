#!/usr/bin/env python3
"""Train the bundled default models: one teacher and one RGB student per simulator preset.

Reproducible: a fixed simulator seed per preset, fixed training seeds, CPU. The training scene
carries ``--labels-per-class`` labels per class in its labelled zone (100 by default: the shipped
models should be as good as a scene allows; ``scripts/bench_distillation.py`` measures what 20
labels per class give a user). Writes
``resources/models/<preset>_teacher.cmkd`` and ``<preset>_student.cmkd`` with their HTML and JSON
reports (the models are small: a few hundred kB to ~2 MB). Scenes are simulated into a work folder.

Then it scores the models in ``--out-dir`` like ``scripts/bench_distillation.py`` does: overall
accuracy of teacher and student against the full-resolution truth of simulator scenes never used in
training (``--test-seeds``), over the pixels where the teacher has inputs (``--evaluate-only``
scores the shipped models without training).

Usage::

    python scripts/train_default_models.py [--presets earth_carbonation mars_analogue]
        [--work-dir /tmp/cmkd-default-models] [--out-dir resources/models] [--evaluate-only]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))  # bench_distillation (which puts the repository on the path)

from bench_distillation import ROOT, class_table, load_test_scene, simulate, with_weights  # noqa: E402
from cmkd_plugin.engine.feedback import Feedback  # noqa: E402
from cmkd_plugin.engine.models.modelfile import load_model  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes, preset_names  # noqa: E402
from cmkd_plugin.engine.training.config import DataConfig, DistillConfig, TeacherTrainConfig  # noqa: E402
from cmkd_plugin.engine.training.metrics import evaluate  # noqa: E402
from cmkd_plugin.engine.training.pipeline import run_distillation, run_teacher_training  # noqa: E402

SCENE_SEED = 7       # simulator seed of the training scene (benchmark test scenes use others)
TRAIN_SEED = 0
SIZE_PX = 512
LABELS_PER_CLASS = 100
TEST_SEEDS = (101, 102, 201, 202)  # the benchmark's never-seen scenes


def score_models(out_dir: Path, preset: str, work_dir: Path, test_seeds,
                 other_state=None) -> list[tuple[float, ...]]:
    """``(scene seed, teacher OA, student OA)`` of the preset's models in ``out_dir``, and the
    OA of the student with the weights ``other_state`` when given."""
    names = tuple(c.name for c in preset_classes(preset))
    t_model, t_card = load_model(out_dir / f"{preset}_teacher.cmkd", "teacher")
    s_model, s_card = load_model(out_dir / f"{preset}_student.cmkd", "student")
    s_cards = {"rgb": s_card.modality("rgb")}
    students = [s_model] + ([with_weights(s_model, other_state)] if other_state is not None else [])
    rows = []
    for seed in test_seeds:
        test = load_test_scene(simulate(preset, seed, SIZE_PX, work_dir / f"{preset}-test-{seed}", 20),
                               t_model, t_card, names)
        rows.append((seed, evaluate(test.truth, test.teacher_pred, names, test.mask)["oa"],
                     *(evaluate(test.truth, test.rgb_classes(m, s_cards), names, test.mask)["oa"]
                       for m in students)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=preset_names())
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cmkd-default-models"))
    parser.add_argument("--out-dir", type=Path, default=ROOT / "resources" / "models")
    parser.add_argument("--labels-per-class", type=int, default=LABELS_PER_CLASS)
    parser.add_argument("--teacher-epochs", type=int, default=TeacherTrainConfig().epochs)
    parser.add_argument("--student-epochs", type=int, default=DistillConfig().epochs)
    parser.add_argument("--students-only", action="store_true",
                        help="keep the teachers in --out-dir and distil the students again (after a "
                             "change of the distillation defaults)")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="only score the models in --out-dir on the test scenes")
    parser.add_argument("--test-seeds", type=int, nargs="+", default=list(TEST_SEEDS))
    args = parser.parse_args()
    missing = [str(args.out_dir / f"{p}_teacher.cmkd") for p in args.presets
               if not (args.out_dir / f"{p}_teacher.cmkd").exists()]
    if args.students_only and missing:
        parser.error(f"--students-only needs the teachers; missing: {', '.join(missing)}")
    if args.evaluate_only:
        missing += [str(args.out_dir / f"{p}_student.cmkd") for p in args.presets
                    if not (args.out_dir / f"{p}_student.cmkd").exists()]
        if missing:
            parser.error(f"--evaluate-only needs the models; missing: {', '.join(missing)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fb = Feedback(on_info=lambda m: print(f"[{time.perf_counter() - start:6.0f} s] {m}", file=sys.stderr, flush=True),
                  on_warning=lambda m: print("warning: " + m, file=sys.stderr, flush=True))
    # preset: the weights of the student's epoch with the highest validation score, scored beside
    # the kept ones (the model selection until 2026-12-02).
    best_score_states = {}
    for preset in [] if args.evaluate_only else args.presets:
        scene = args.work_dir / f"{preset}-{args.labels_per_class}-labels"
        simulate(preset, SCENE_SEED, SIZE_PX, scene, args.labels_per_class)
        table = class_table(preset, scene / "classes.csv")
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
        if "best_score" in student.alternatives["student"]:
            best_score_states[preset] = student.alternatives["student"]["best_score"]
        for suffix in ("teacher.cmkd", "teacher.html", "teacher.json", "student.cmkd", "student.html",
                       "student.json"):
            target = args.out_dir / f"{preset}_{suffix}"
            if target.exists():
                target.chmod(0o644)  # atomic writes create 0600 temporaries; the files ship
        print(f"{preset}: {time.perf_counter() - t0:.0f} s; teacher {student.outputs['TEACHER_OA']:.3f}, "
              f"student {student.outputs['STUDENT_OA']:.3f}, baseline {student.outputs['BASELINE_OA']:.3f} "
              f"(validation blocks); student kept epoch {student.report['training']['best_epoch']}, "
              f"best validation score at epoch {student.report['training']['best_score_epoch']}")
    print("| preset | " + " | ".join(f"scene {s}: teacher / student OA" for s in args.test_seeds) + " |")
    print("|---|" + "---|" * len(args.test_seeds))
    for preset in args.presets:
        rows = score_models(args.out_dir, preset, args.work_dir, args.test_seeds, best_score_states.get(preset))
        print(f"| {preset} | " + " | ".join(f"{r[1]:.3f} / {r[2]:.3f}" for r in rows) + " |", flush=True)
        if preset in best_score_states:
            print(f"| {preset}, student of the best validation score | "
                  + " | ".join(f"– / {r[3]:.3f}" for r in rows) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
