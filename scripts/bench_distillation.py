#!/usr/bin/env python3
"""Acceptance benchmark of cross-modal distillation on simulator scenes.

For each preset: simulate a training scene (labels only in its labelled zone) and test scenes
with seeds never used in training; train the teacher (RGB + HSI + DEM; the engine's default
ensemble of three, ``--teacher-members``) on the training scene,
distil the RGB student on it (transfer set = every pixel where the teacher's inputs exist) and
train the RGB-only baseline with the same budget; then map the *test* scenes and compare every
model with the simulator's truth on the RGB grid, over the pixels where the teacher has inputs
(the same pixels for all three models). The training scene itself is also scored **outside its
labelled zone** (``site``): the user's own site mapped beyond the field traverse, on the flight
lines (where the student learnt from the teacher without labels) and off them (RGB only).

Also printed, to show what the physics of the scene allows (``--ceilings``, on by default):

* the purity ceiling: the share of RGB pixels whose class equals the majority class of their HSI
  pixel, the best a teacher giving one class per HSI pixel can do (the teacher's logits are
  upsampled bilinearly, which can place a boundary inside an HSI pixel and beat it slightly);
* the dense-truth teacher: the teacher architecture trained on the *complete* truth of the
  training scene (every pixel labelled, ``--oracle-teacher-epochs``) instead of the sparse labels:
  what the teacher could reach with unlimited labels;
* the dense-truth RGB model: the student architecture trained on the complete truth of the training
  scene from RGB alone (``--oracle-student-epochs``, one per ``--oracle-student-seeds``): what any
  RGB student of this size can reach, however good its teacher; divided by the teacher's OA it
  bounds the reachable retention, and its margin over the baseline bounds the reachable gain.
  ``--ceilings-only`` adds these to an earlier run's ``bench.json`` (e.g. with more seeds or epochs).

Every distillation and its same-budget baseline are trained once per student seed
(``--student-seeds``, three by default; the README's headline uses five, ``0 1 2 3 4``, with
``--no-ceilings``): on these scenes a single run's gain moves by several points with the seed
alone, so the tables give the mean and standard deviation over the seeds and every seed x scene
gain.

Usage::

    python scripts/bench_distillation.py --work-dir /tmp/cmkd-bench [--presets earth_carbonation]
        [--variants direct progressive] [--student-seeds 0 1 2] [--test-seeds 101 102 201 202]

Prints a Markdown table ready for the README and writes ``bench.json`` in the work folder.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

import numpy as np  # noqa: E402
import rasterio  # noqa: E402

from cmkd_plugin.engine.feedback import Feedback  # noqa: E402
from cmkd_plugin.engine.geo.grid import Grid  # noqa: E402
from cmkd_plugin.engine.geo.mask import VectorMask  # noqa: E402
from cmkd_plugin.engine.geo.spectral import SpectralBands  # noqa: E402
from cmkd_plugin.engine.models.modelfile import load_model  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes  # noqa: E402
from cmkd_plugin.engine.simulator.writer import ZONE_LAYER  # noqa: E402
from cmkd_plugin.engine.models.resample import upsample_area, upsample_mask  # noqa: E402
from cmkd_plugin.engine.training.common import modality_card, predict_area  # noqa: E402
from cmkd_plugin.engine.training.config import DataConfig, DistillConfig, TeacherTrainConfig  # noqa: E402
from cmkd_plugin.engine.training.data import coarse_labels, load_scene  # noqa: E402
from cmkd_plugin.engine.training.metrics import evaluate  # noqa: E402
from cmkd_plugin.engine.training.pipeline import run_distillation, run_teacher_training  # noqa: E402
from cmkd_plugin.engine.training.baseline import train_baseline  # noqa: E402
from cmkd_plugin.engine.training.teacher import train_teacher  # noqa: E402


def simulate(preset: str, seed: int, size_px: int, folder: Path, labels_per_class: int) -> Path:
    """Run the engine's simulator (skipped when the scene exists)."""
    if not (folder / "truth.tif").exists():
        subprocess.run([sys.executable, "-m", "cmkd_plugin.engine", "simulate", "--preset", preset,
                        "--seed", str(seed), "--size-px", str(size_px), "--labels-per-class",
                        str(labels_per_class), "--output-dir", str(folder)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return folder


def class_table(preset: str, path: Path) -> Path:
    """The preset's classes in truth-raster order, so class indices match the truth."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "colour"])
        for c in preset_classes(preset):
            w.writerow([c.name, c.colour])
    return path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_scene(scene_dir: Path, t_card, names: tuple[str, ...], labels: bool = False,
               data: DataConfig = DataConfig()):
    """A simulator scene on the teacher's bands, and its full-resolution truth."""
    hc = t_card.modality("hsi")
    scene = load_scene(scene_dir / "rgb.tif", scene_dir / "hsi.tif", scene_dir / "dem.tif",
                       scene_dir / "labels.gpkg" if labels else None, data, class_names=names,
                       hsi_target=SpectralBands(hc.wavelengths_nm or (), hc.fwhm_nm, None, "card"))
    with rasterio.open(scene_dir / "truth.tif") as ds:
        truth = ds.read(1)
    return scene, truth


def bench_teacher(parser: argparse.ArgumentParser, work_dir: Path, preset: str) -> Path:
    """The teacher this benchmark trained for ``preset`` in ``work_dir`` (the ablation and
    map scripts' input), or a usage error saying how to make it."""
    teacher = work_dir / preset / "teacher.cmkd"
    if not teacher.exists():
        parser.error(f"{teacher} is missing: run scripts/bench_distillation.py --work-dir "
                     f"{work_dir} --presets {preset} --teacher-only first")
    return teacher


def softmax(logits: np.ndarray) -> np.ndarray:
    """Class probabilities of (K, ...) logits (the ablation scripts' one copy)."""
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def teacher_logits(model, cards, scene) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's (K, h, w) logits on its grid, and the pixels where it has inputs."""
    t_in = {k: np.where(scene.valid_coarse[None], v, np.nan) for k, v in scene.teacher_inputs().items()}
    t_logits, _, t_valid = predict_area(model, t_in, cards)
    return t_logits, t_valid


def teacher_prediction(model, cards, scene) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's classes upsampled to the RGB grid, and the pixels where it has inputs."""
    t_logits, t_valid = teacher_logits(model, cards, scene)
    mask = upsample_mask(t_valid, scene.factor, scene.grid.shape) & scene.valid
    return upsample_area(t_logits, scene.factor, scene.grid.shape).argmax(axis=0), mask


@dataclass
class TestScene:
    """A test scene prepared once for every model scored on it: the student's RGB input, the
    truth, the teacher's classes and the pixels where the teacher has inputs (``mask``)."""

    name: str
    valid: np.ndarray
    rgb: dict[str, np.ndarray]
    truth: np.ndarray
    mask: np.ndarray
    teacher_pred: np.ndarray
    purity: float

    def rgb_classes(self, model, cards) -> np.ndarray:
        """Class map of an RGB-only model (student or baseline; ``cards`` its modality cards)."""
        return predict_area(model, self.rgb, cards)[0].argmax(axis=0)


def load_test_scene(scene_dir: Path, t_model, t_card, names: tuple[str, ...]) -> TestScene:
    """Read ``scene_dir`` on the teacher's bands and run the teacher over it once."""
    scene, truth = read_scene(scene_dir, t_card, names)
    t_pred, mask = teacher_prediction(t_model, {m.name: m for m in t_card.modalities}, scene)
    # Purity: RGB pixels whose class is the majority class of their HSI pixel.
    majority = coarse_labels(truth, scene.factor, len(names))
    up = np.repeat(np.repeat(majority, scene.factor, 0), scene.factor, 1)
    hh, ww = up.shape
    purity = float((up == truth[:hh, :ww])[mask[:hh, :ww]].mean())
    return TestScene(scene_dir.name, scene.valid, {"rgb": np.where(scene.valid[None], scene.rgb, np.nan)},
                     truth, mask, t_pred, purity)


def site_holdout(scene_dir: Path, t_model, t_card, names: tuple[str, ...]) -> TestScene:
    """The training scene itself, scored only **outside its labelled zone**: the user's own
    site, mapped beyond where the field team labelled it (the labels and the validation blocks
    all lie inside the zone). ``mask`` keeps the flight-line pixels there (the teacher has
    inputs; the student was distilled on them without their labels), ``valid`` every RGB pixel
    there, so that ``valid & ~mask`` is where only an RGB model can map."""
    test = load_test_scene(scene_dir, t_model, t_card, names)
    grid = Grid.from_raster(scene_dir / "truth.tif", "Truth")
    with VectorMask(scene_dir / "labels.gpkg", grid, all_touched=True, layer=ZONE_LAYER) as zone:
        inside = zone.read(grid.full_window)
    h, w = test.mask.shape
    outside = ~inside[:h, :w]
    return replace(test, name=f"{scene_dir.name}_outside_zone", mask=test.mask & outside,
                   valid=test.valid & outside)


def with_weights(model, state):
    """A copy of ``model`` holding the weights ``state``, ready to predict."""
    other = copy.deepcopy(model)
    other.load_state_dict(state)
    return other.eval()


def alternative_models(student_path: Path, run) -> dict[str, object]:
    """The student and the baseline of ``run`` (a ``StudentRun``) with the weights of the other
    model-selection choices (``StudentResult.alternatives``), whichever epoch was kept:
    ``student_last``, ``student_best_score``, ``baseline_last``, ``baseline_best_score``."""
    models = {"student": load_model(student_path, "student")[0], "baseline": run.baseline}
    return {f"{role}_{choice}": with_weights(models[role], state)
            for role, states in run.alternatives.items() for choice, state in states.items()}


def evaluate_scene(test: TestScene, student_path: Path, baseline: object, names: tuple[str, ...],
                   extra: dict[str, object] | None = None) -> dict:
    """Teacher, student (from its model file) and baseline against the truth of ``test``: over
    the pixels where the teacher has inputs, over every RGB pixel (``*_all_rgb``) and over those
    where it has none (``*_off_lines``, outside the HSI flight lines). ``extra`` RGB models
    (name: model, e.g. :func:`alternative_models`) are scored over the teacher's pixels too."""
    s_model, s_card = load_model(student_path, "student")
    s_cards = {"rgb": s_card.modality("rgb")}
    s_pred = test.rgb_classes(s_model, s_cards)
    b_pred = test.rgb_classes(baseline, s_cards)
    truth, mask = test.truth, test.mask
    off = test.valid & ~mask
    return {
        **{k: evaluate(truth, test.rgb_classes(m, s_cards), names, mask)
           for k, m in (extra or {}).items()},
        "teacher": evaluate(truth, test.teacher_pred, names, mask),
        "student": evaluate(truth, s_pred, names, mask),
        "baseline": evaluate(truth, b_pred, names, mask),
        "student_all_rgb": evaluate(truth, s_pred, names, test.valid),
        "baseline_all_rgb": evaluate(truth, b_pred, names, test.valid),
        "student_off_lines": evaluate(truth, s_pred, names, off),
        "baseline_off_lines": evaluate(truth, b_pred, names, off),
        "purity_ceiling": test.purity,
        "evaluated_pixels": int(mask.sum()),
    }


def train_ceiling_models(train_dir: Path, teacher_path: Path, names: tuple[str, ...],
                         teacher_epochs: int, student_epochs: int, seed: int,
                         rgb_seeds: list[int]) -> tuple:
    """The dense-truth teacher and RGB models of the training scene (see the module docstring).

    Returns:
        ``(teacher, teacher modality cards, [(RGB model, its modality cards) per seed in rgb_seeds])``.
    """
    _, t_card = load_model(teacher_path, "teacher")
    scene, truth = read_scene(train_dir, t_card, names, labels=True, data=DataConfig(seed=seed))
    dense = replace(scene, labels=truth.astype(np.uint8),
                    labels_coarse=coarse_labels(truth, scene.factor, len(names)))
    # One teacher, as the README's ceilings were measured (the ensemble default came later).
    teacher = train_teacher(dense, TeacherTrainConfig(epochs=teacher_epochs, patience_epochs=teacher_epochs,
                                                      seed=seed, members=1))
    cards = {"rgb": modality_card("rgb", scene.rgb, scene.valid)}
    rgb = {"rgb": np.where(scene.valid[None], scene.rgb, np.nan)}
    labels = np.where(scene.valid, truth, 255).astype(np.uint8)
    students = [train_baseline(rgb, cards, labels, names, DistillConfig(epochs=student_epochs, seed=s)).model
                for s in rgb_seeds]
    return teacher.model, teacher.cards, [(m, cards) for m in students]


def evaluate_ceilings(scene_dir: Path, teacher_path: Path, models: tuple, names: tuple[str, ...]) -> dict:
    """OA of the dense-truth teacher and RGB models on a test scene (same pixels as the others):
    ``dense_truth_rgb`` is the mean over the RGB models' seeds, ``dense_truth_rgb_runs`` each one."""
    teacher, t_cards, rgb_models = models
    _, t_card = load_model(teacher_path, "teacher")
    scene, truth = read_scene(scene_dir, t_card, names)
    t_pred, mask = teacher_prediction(teacher, t_cards, scene)
    rgb = {"rgb": np.where(scene.valid[None], scene.rgb, np.nan)}
    runs = [evaluate(truth, predict_area(m, rgb, c)[0].argmax(axis=0), names, mask)["oa"]
            for m, c in rgb_models]
    return {"dense_truth_teacher": evaluate(truth, t_pred, names, mask)["oa"],
            "dense_truth_rgb": float(np.mean(runs)), "dense_truth_rgb_runs": runs}


# Distillation settings the benchmark can compare (all on the same data and budget).
VARIANTS: dict[str, dict] = {
    "direct": {},
    "progressive": {"progressive": True},
    # The teacher's probabilities refined by the RGB's edges inside each of its pixels
    # (cmkd:distillstudent TEACHER_TARGETS guided, the default since 2026-12-02, last), or its
    # logits interpolated (the default before; with --student-epochs 60 --student-depth 2 the
    # student settings until then).
    "guided": {"target_interpolation": "guided"},
    "logits": {"target_interpolation": "logits"},
    # Pure distillation: the teacher's probabilities at T = 1, no feature term, no label term.
    "pure_kd": {"ce_weight": 0.0, "feature_weight": 0.0, "temperature_start": 1.0,
                "temperature_end": 1.0},
}


def seed_summary(runs: dict, scenes: str = "tests", student_key: str = "student",
                 baseline_key: str = "baseline", teacher_key: str | None = "teacher") -> dict:
    """Mean and spread over student seeds of one variant's test figures.

    ``runs`` maps a student seed to its run (``tests``, or another ``scenes`` key such as
    ``site``: per scene the teacher, student and baseline metrics, under the given keys). Per
    seed the scene figures are averaged; the mean and the sample standard deviation are taken
    over the seeds. ``gains_pts`` lists every seed x scene gain (points). Without
    ``teacher_key`` (pixels the teacher does not cover) teacher OA and retention are None.
    """
    def per_seed(key: str) -> list[float]:
        return [float(np.mean([m[key]["oa"] for m in r[scenes].values()])) for r in runs.values()]

    student, baseline = per_seed(student_key), per_seed(baseline_key)
    teacher = per_seed(teacher_key) if teacher_key else None
    gains = [100 * (m[student_key]["oa"] - m[baseline_key]["oa"])
             for r in runs.values() for m in r[scenes].values()]
    seed_gains = [100 * (s - b) for s, b in zip(student, baseline)]
    retention = [s / t for s, t in zip(student, teacher)] if teacher else None

    def ms(values: list[float]) -> tuple[float, float]:
        return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    return {"seeds": len(runs), "teacher_oa": float(np.mean(teacher)) if teacher else None,
            "student_oa": ms(student), "baseline_oa": ms(baseline), "gain_pts": ms(seed_gains),
            "retention": ms(retention) if retention else None,
            "gains_pts": gains, "pairs_at_least_5": sum(g >= 5.0 for g in gains)}


def run_variants(args: argparse.Namespace, preset: str, work: Path, train_dir: Path,
                 test_dirs: list[Path], names: tuple[str, ...], fb: Feedback, checkpoint) -> dict:
    """Train the teacher, then distil every variant once per student seed (each with its
    baseline) and score them on the test scenes; ``checkpoint(result)`` after each variant."""
    table = class_table(preset, work / "classes.csv")
    t0 = time.perf_counter()
    teacher = run_teacher_training(
        str(train_dir / "rgb.tif"), str(train_dir / "hsi.tif"), str(train_dir / "dem.tif"),
        str(train_dir / "labels.gpkg"), str(work / "teacher.cmkd"), str(work / "teacher.html"),
        DataConfig(seed=args.seed), TeacherTrainConfig(epochs=args.teacher_epochs, seed=args.seed,
                                                      members=args.teacher_members,
                                                      mixing=args.teacher_mixing),
        str(table), fb)
    t1 = time.perf_counter()
    log(f"{preset}: teacher trained in {t1 - t0:.0f} s, validation OA {teacher.outputs['TEACHER_OA']:.3f}")
    variants = [] if args.teacher_only else (
        args.variants or (["direct"] + (["progressive"] if args.progressive else [])))
    t_model, t_card = load_model(work / "teacher.cmkd", "teacher")
    tests_ready = [load_test_scene(d, t_model, t_card, names) for d in test_dirs]
    site = site_holdout(train_dir, t_model, t_card, names)
    result = {"teacher_train_s": t1 - t0, "teacher_members": args.teacher_members,
              "teacher_mixing": args.teacher_mixing,
              "teacher_validation": teacher.outputs,
              "student_depth": args.student_depth, "student_patches_per_epoch": args.student_patches}
    for name in variants:
        runs = {}
        for seed in args.student_seeds:
            stem = f"student_{name}_seed{seed}"
            t2 = time.perf_counter()
            student = run_distillation(
                str(work / "teacher.cmkd"), str(train_dir / "rgb.tif"), str(train_dir / "hsi.tif"),
                str(train_dir / "dem.tif"), str(train_dir / "labels.gpkg"),
                str(work / f"{stem}.cmkd"), str(work / f"{stem}.html"),
                DistillConfig(epochs=args.student_epochs, seed=seed, encoder_depth=args.student_depth,
                              patches_per_epoch=args.student_patches, **VARIANTS[name]),
                feedback=fb)
            t3 = time.perf_counter()
            alternatives = alternative_models(work / f"{stem}.cmkd", student)
            tests = {t.name: evaluate_scene(t, work / f"{stem}.cmkd", student.baseline, names,
                                            alternatives)
                     for t in tests_ready}
            training = student.report.get("training", {})
            runs[seed] = {"distill_s": t3 - t2, "validation": student.outputs, "tests": tests,
                          "site": {site.name: evaluate_scene(site, work / f"{stem}.cmkd",
                                                             student.baseline, names,
                                                             alternatives)},
                          "cost": student.report["cost"],
                          "best_epoch": training.get("best_epoch"),
                          "baseline_best_epoch": training.get("baseline_best_epoch"),
                          "best_score_epoch": training.get("best_score_epoch"),
                          "baseline_best_score_epoch": training.get("baseline_best_score_epoch"),
                          "val_scores": [r.get("val_score") for r in training.get("history", [])
                                         if "val_score" in r]}
            log(f"{preset}/{name}/seed {seed}: distillation + baseline in {t3 - t2:.0f} s; test "
                + json.dumps({k: (round(m['student']['oa'], 3), round(m['baseline']['oa'], 3))
                              for k, m in tests.items()}))
        result[name] = {"runs": runs, "summary": seed_summary(runs),
                        # The other model-selection choices (see alternative_models).
                        **{f"{choice}_summary": seed_summary(runs, student_key=f"student_{choice}",
                                                             baseline_key=f"baseline_{choice}")
                           for choice in ("last", "best_score")
                           if all(f"student_{choice}" in m and f"baseline_{choice}" in m
                                  for r in runs.values() for m in r["tests"].values())},
                        "site_summary": seed_summary(runs, "site"),
                        "site_off_lines_summary": seed_summary(
                            runs, "site", "student_off_lines", "baseline_off_lines", None)}
        checkpoint(result)
    if not variants:
        return result
    result["selected_by_validation"] = max(variants, key=lambda v: np.mean(
        [r["validation"].get("STUDENT_OA") or 0.0 for r in result[v]["runs"].values()]))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", "--output-dir", dest="work_dir", type=Path,
                        default=Path("/tmp/cmkd-bench"),
                        help="scenes, models and bench.json (make bench passes --output-dir)")
    parser.add_argument("--presets", nargs="+", default=["earth_carbonation", "mars_analogue"])
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    parser.add_argument("--size-px", type=int, default=512)
    parser.add_argument("--labels-per-class", type=int, default=20)
    parser.add_argument("--teacher-epochs", type=int, default=TeacherTrainConfig().epochs)
    parser.add_argument("--teacher-members", type=int, default=TeacherTrainConfig().members,
                        help="teachers in the ensemble (default: the engine's)")
    parser.add_argument("--teacher-mixing", type=float, default=TeacherTrainConfig().mixing,
                        help="share of the teacher's training samples made areal mixtures "
                             "(cmkd:trainteacher MIXING; default: the engine's)")
    parser.add_argument("--student-epochs", type=int, default=DistillConfig().epochs)
    parser.add_argument("--student-depth", type=int, default=DistillConfig().encoder_depth,
                        help="3x3 conv layers of the student (receptive field 2 x depth + 1 px)")
    parser.add_argument("--student-patches", type=int, default=DistillConfig().patches_per_epoch,
                        help="patches per student epoch (same budget for the baseline)")
    parser.add_argument("--progressive", action="store_true",
                        help="also distil through the multispectral chain and compare")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS),
                        help="distillation settings to compare (default: direct, and progressive "
                             "with --progressive); the one with the best mean validation OA is "
                             "reported as 'selected'")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the validation split and of the teacher")
    parser.add_argument("--student-seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="one distillation and one baseline per seed; the tables give the mean "
                             "and standard deviation over them (a single run moves by several points)")
    parser.add_argument("--ceilings", action=argparse.BooleanOptionalAction, default=True,
                        help="also train the dense-truth teacher and RGB model (what the scene allows)")
    parser.add_argument("--oracle-teacher-epochs", type=int, default=120)
    parser.add_argument("--oracle-student-epochs", type=int, default=40)
    parser.add_argument("--oracle-student-seeds", type=int, nargs="+",
                        help="seeds of the dense-truth RGB model (default: --student-seeds)")
    parser.add_argument("--ceilings-only", action="store_true",
                        help="train only the ceiling models and add them to the work folder's "
                             "bench.json from an earlier run (same teacher and scenes)")
    parser.add_argument("--teacher-only", action="store_true",
                        help="simulate the scenes and train the teacher, nothing else (what "
                             "scripts/ablate_distillation.py needs)")
    args = parser.parse_args()
    fb = Feedback(on_info=lambda m: None, on_warning=lambda m: log("warning: " + m))
    bench_json = args.work_dir / "bench.json"
    if args.ceilings_only and not bench_json.exists():
        parser.error(f"--ceilings-only needs an earlier run's {bench_json}")
    results = json.loads(bench_json.read_text()) if args.ceilings_only else {}
    for preset in args.presets:
        work = args.work_dir / preset
        work.mkdir(parents=True, exist_ok=True)
        names = tuple(c.name for c in preset_classes(preset))
        train_dir = simulate(preset, args.train_seed, args.size_px, work / f"scene_{args.train_seed}",
                             args.labels_per_class)
        test_dirs = [simulate(preset, s, args.size_px, work / f"scene_{s}", args.labels_per_class)
                     for s in args.test_seeds]
        if args.ceilings_only:
            if preset not in results:
                parser.error(f"{bench_json} has no results for {preset}")
            preset_result = results[preset]
        else:
            preset_result = run_variants(args, preset, work, train_dir, test_dirs, names, fb,
                                         lambda r: bench_json.write_text(json.dumps(
                                             {**results, preset: r}, indent=2, default=str)))
        if (args.ceilings or args.ceilings_only) and not args.teacher_only:
            t4 = time.perf_counter()
            models = train_ceiling_models(train_dir, work / "teacher.cmkd", names,
                                          args.oracle_teacher_epochs, args.oracle_student_epochs,
                                          args.seed, args.oracle_student_seeds or args.student_seeds)
            preset_result["ceilings"] = {d.name: evaluate_ceilings(d, work / "teacher.cmkd", models, names)
                                         for d in test_dirs}
            log(f"{preset}: ceilings in {time.perf_counter() - t4:.0f} s: "
                f"{json.dumps(preset_result['ceilings'])}")
        results[preset] = preset_result
        bench_json.write_text(json.dumps(results, indent=2, default=str))
    if not args.teacher_only:
        print_tables(results)
    return 0


def measured_variants(results: dict):
    """``(preset, variant name, the variant's result)`` for every variant measured, in
    :data:`VARIANTS` order."""
    for preset, r in results.items():
        for name in VARIANTS:
            if name in r:
                yield preset, name, r[name]


def print_tables(results: dict) -> None:
    """The Markdown tables of the README from ``bench.json``'s content."""
    def pm(v: list[float]) -> str:
        return f"{v[0]:.3f} ± {v[1]:.3f}"

    print("| preset | distillation | student seeds | teacher OA | student OA | baseline OA | retention "
          "| gain (pts) | gain, every seed x scene (pts) | seed x scene pairs with gain >= +5 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset, name, v in measured_variants(results):
        s = v["summary"]
        chosen = " (selected)" if results[preset].get("selected_by_validation") == name else ""
        print(f"| {preset} | {name}{chosen} | {s['seeds']} | {s['teacher_oa']:.3f} | "
              f"{pm(s['student_oa'])} | {pm(s['baseline_oa'])} | {pm(s['retention'])} | "
              f"{s['gain_pts'][0]:+.1f} ± {s['gain_pts'][1]:.1f} | "
              f"{min(s['gains_pts']):+.1f} … {max(s['gains_pts']):+.1f} | "
              f"{s['pairs_at_least_5']} of {len(s['gains_pts'])} |")
    if any("site_summary" in v for *_, v in measured_variants(results)):
        print()
        print("Same site, outside its labelled zone (the training scene, every pixel beyond the "
              "field traverse):")
        print()
        print("| preset | distillation | pixels | teacher OA | student OA | baseline OA | retention "
              "| gain (pts) | seeds with gain >= +5 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for preset, name, v in measured_variants(results):
            for label, key in (("HSI flight lines", "site_summary"),
                               ("off the flight lines (RGB only)", "site_off_lines_summary")):
                if key not in v:
                    continue
                s = v[key]
                teacher = f"{s['teacher_oa']:.3f}" if s["teacher_oa"] is not None else "–"
                retention = pm(s["retention"]) if s["retention"] is not None else "–"
                print(f"| {preset} | {name} | {label} | {teacher} | {pm(s['student_oa'])} | "
                      f"{pm(s['baseline_oa'])} | {retention} | "
                      f"{s['gain_pts'][0]:+.1f} ± {s['gain_pts'][1]:.1f} | "
                      f"{s['pairs_at_least_5']} of {len(s['gains_pts'])} |")
    print()
    print("| preset | distillation | test scene | teacher OA | student OA (per seed) | baseline OA (per seed) "
          "| purity ceiling |")
    print("|---|---|---|---|---|---|---|")
    for preset, name, v in measured_variants(results):
        runs = v["runs"]
        for scene in next(iter(runs.values()))["tests"]:
            ms = [run["tests"][scene] for run in runs.values()]
            print(f"| {preset} | {name} | {scene} | {ms[0]['teacher']['oa']:.3f} | "
                  + " / ".join(f"{m['student']['oa']:.3f}" for m in ms) + " | "
                  + " / ".join(f"{m['baseline']['oa']:.3f}" for m in ms)
                  + f" | {ms[0]['purity_ceiling']:.3f} |")
    if any("ceilings" in r for r in results.values()):
        print()
        print("| preset | test scene | purity ceiling | dense-truth teacher OA | teacher OA (sparse labels) | "
              "dense-truth RGB model OA (seed mean; best) | student OA | baseline OA | reachable retention "
              "(best RGB model / teacher) | student / mean RGB model | room above the baseline (pts, "
              "best RGB model) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for preset, r in results.items():
            name = "direct" if "direct" in r else r["selected_by_validation"]
            runs = r[name]["runs"]
            for scene, c in r.get("ceilings", {}).items():
                ms = [run["tests"][scene] for run in runs.values()]
                t = ms[0]["teacher"]["oa"]
                s = float(np.mean([m["student"]["oa"] for m in ms]))
                b = float(np.mean([m["baseline"]["oa"] for m in ms]))
                rgb, best = c["dense_truth_rgb"], max(c.get("dense_truth_rgb_runs", [c["dense_truth_rgb"]]))
                print(f"| {preset} | {scene} | {ms[0]['purity_ceiling']:.3f} | {c['dense_truth_teacher']:.3f} | "
                      f"{t:.3f} | {rgb:.3f}; {best:.3f} | {s:.3f} | {b:.3f} | {best / t:.3f} | {s / rgb:.3f} | "
                      f"{100 * (best - b):+.1f} |")
    print()
    print("| preset | teacher training (s) | distillation + baseline (s, mean) | teacher params | "
          "student params | teacher FLOPs/px | student FLOPs/px | student Mpx/s |")
    print("|---|---|---|---|---|---|---|---|")
    for preset, r in results.items():
        runs = r[next(v for v in VARIANTS if v in r)]["runs"]
        c = next(iter(runs.values()))["cost"]
        print(f"| {preset} | {r['teacher_train_s']:.0f} | "
              f"{np.mean([run['distill_s'] for run in runs.values()]):.0f} | "
              f"{c['teacher']['parameters']:,} | {c['student']['parameters']:,} | "
              f"{c['teacher']['flops_per_pixel']:,} | {c['student']['flops_per_pixel']:,} | "
              f"{c['student']['throughput_mpx_per_s']:.2f} |")


if __name__ == "__main__":
    raise SystemExit(main())
