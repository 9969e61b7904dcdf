#!/usr/bin/env python3
"""Ablation of the distillation settings (issue 4): which term of the loss earns the gain.

Uses the teacher and scenes of ``scripts/bench_distillation.py`` (run it first with the same
``--work-dir``, ``--teacher-only`` being enough; the teacher is trained there on scene seed 1 with
20 labels per class). The
scene and the teacher's targets are prepared once per preset; each variant is then one
distillation with the default settings except the ones it names (same seed, same budget), scored
like the benchmark: OA against the full-resolution truth of test scenes never used in training,
over the pixels where the teacher has inputs. Variants marked with a baseline also train the
RGB-only baseline with their budget (the baseline depends only on the budget, architecture and
seed, not on the distillation terms).

Transfer variants change what the student learns from (confidence filter, pseudo-labels, the
epoch kept, an ensemble of teachers trained here on the same scene); the ``truth_*`` ones are
diagnostics that replace the teacher by the training scene's truth (majority class or class
proportions per teacher pixel, or every reference pixel) to measure what a perfect teacher would
give through the same recipe and budget.

Usage::

    .venv/bin/python scripts/ablate_distillation.py --work-dir /tmp/cmkd-bench \\
        [--presets mars_analogue] [--variants t4_to_1 t1 ce0] [--test-seeds 101 102 201 202]
        [--seeds 0 1 2]

One JSON line per variant goes to ``ablation.jsonl`` in the work folder; a Markdown table is
printed at the end. About 7 minutes per variant on 2 shared cores (twice that with a baseline).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import rasterio

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))  # bench_distillation (which puts the repository on the path)

from bench_distillation import bench_teacher, load_test_scene, simulate, softmax  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes  # noqa: E402
from cmkd_plugin.engine.training.baseline import train_baseline  # noqa: E402
from cmkd_plugin.engine.training.config import DistillConfig, TeacherTrainConfig  # noqa: E402
from cmkd_plugin.engine.training.data import coarse_labels  # noqa: E402
from cmkd_plugin.engine.models.resample import upsample_area, upsample_mask  # noqa: E402
from cmkd_plugin.engine.training.distill import (Targets, compute_targets, distil,  # noqa: E402
                                                  validation_metrics)
from cmkd_plugin.engine.training.metrics import evaluate  # noqa: E402
from cmkd_plugin.engine.training.pipeline import prepare_distillation  # noqa: E402
from cmkd_plugin.engine.training.teacher import train_teacher  # noqa: E402

T1 = {"temperature_start": 1.0, "temperature_end": 1.0}
T4 = {"temperature_start": 4.0, "temperature_end": 1.0}  # the default before T = 1 (session 3)
W0 = {"weight_average_decay": 0.0}  # no weight averaging (the default before 2026-12-01)
#: The student settings every row was recorded with until 2026-12-02 (last), when the defaults
#: became 3 layers and guided targets: a variant's own settings override them.
RECORDED = {"encoder_depth": 2, "target_interpolation": "logits"}
#: name -> (settings passed to DistillConfig over RECORDED, the rest being its defaults; train
#: the baseline too). The temperatures are always spelt out, so a variant means the same
#: whatever the defaults are.
VARIANTS: dict[str, tuple[dict, bool]] = {
    "t4_to_1": (T4, True),
    "ce0": ({"ce_weight": 0.0, **T4}, False),
    "fw0": ({"feature_weight": 0.0, **T4}, False),
    "t1": (T1, False),
    "ce0_t1": ({"ce_weight": 0.0, **T1}, False),
    "t1_no_balance": ({**T1, "class_balanced": False}, False),
    "pure_kd": ({"ce_weight": 0.0, "feature_weight": 0.0, **T1}, False),
    "pure_kd_t2": ({"ce_weight": 0.0, "feature_weight": 0.0, "temperature_start": 2.0,
                    "temperature_end": 2.0}, False),
    "depth4_t1": ({"encoder_depth": 4, **T1}, True),
    "t1_60_epochs": ({"epochs": 60, **T1}, True),
    "t1_seed1": ({"seed": 1, **T1}, True),
    "t4_to_1_seed1": ({"seed": 1, **T4}, False),
    "t1_seed2": ({"seed": 2, **T1}, True),
    "t4_to_1_seed2": ({"seed": 2, **T4}, False),
    "block": ({"target_match": "block", **T1}, False),
    # Without / with the moving average of the weights (the default since 2026-12-01; `ema99`
    # trains its baseline with it too).
    "t1_no_average": ({**T1, **W0}, False),
    "ema99": ({"weight_average_decay": 0.99, **T1}, True),
    # The teacher's class probabilities interpolated onto the student's pixels instead of its
    # logits (`interp_logits`, the default, i.e. `ema99` without its baseline).
    "interp_logits": ({**T1, "target_interpolation": "logits"}, False),
    "interp_probs": ({**T1, "target_interpolation": "probabilities"}, False),
    # Those probabilities refined by the student's RGB with a guided filter (edges inside each
    # teacher pixel).
    "guided": ({**T1, "target_interpolation": "guided"}, False),
    # Students (and their baselines) twice as wide / half as wide as the default 32 channels.
    "width64": ({**T1, "encoder_width": 64}, True),
    "width16": ({**T1, "encoder_width": 16}, True),
    # Sharper targets than the teacher's own probabilities (T < 1, between them and its
    # arg-max, which `hard` / `pseudo_ce` use).
    "t05": ({"temperature_start": 0.5, "temperature_end": 0.5}, False),
    # A stronger feature-alignment term (default 0.5; measured with colour jitter).
    "fw1": ({**T1, "feature_weight": 1.0, "augment": True}, False),
    "fw2": ({**T1, "feature_weight": 2.0, "augment": True}, False),
    # Without / with colour jitter on the student's RGB (the default until 2026-12-02, when it
    # was turned off; every row recorded before then had it).
    "no_augment": ({**T1, "augment": False}, False),
    "no_augment_with_baseline": ({**T1, "augment": False}, True),
    "augment_with_baseline": ({**T1, "augment": True}, True),
    # Without jitter (2026-12-02): 60 epochs, twice the default of then and the default since
    # (and its baseline), or labels weighing more.
    "e60_with_baseline": ({**T1, "epochs": 60}, True),
    "ce1": ({**T1, "ce_weight": 1.0}, False),
    # 120 epochs, twice today's default (the student was still improving at epoch 42-60 of 60).
    "e120_with_baseline": ({**T1, "epochs": 120}, True),
    # With 60 epochs: the guided targets, or a third conv layer (receptive field 7 x 7).
    "e60_guided": ({**T1, "epochs": 60, "target_interpolation": "guided"}, False),
    "e60_depth3_with_baseline": ({**T1, "epochs": 60, "encoder_depth": 3}, True),
    # Both levers at once: 120 epochs and a third conv layer.
    "e120_depth3_with_baseline": ({**T1, "epochs": 120, "encoder_depth": 3}, True),
    # Beyond it (2026-12-02, later): a fourth conv layer (receptive field 9 x 9), or the third
    # layer with 48 channels instead of 32.
    "e120_depth4_with_baseline": ({**T1, "epochs": 120, "encoder_depth": 4}, True),
    "e120_depth3_width48_with_baseline": ({**T1, "epochs": 120, "encoder_depth": 3,
                                           "encoder_width": 48}, True),
    # With the guided targets (the teacher's probabilities refined by the RGB's edges).
    "e120_depth3_guided": ({**T1, "epochs": 120, "encoder_depth": 3,
                            "target_interpolation": "guided"}, False),
}

#: Variants that change what the student learns from rather than a DistillConfig setting:
#: name -> (DistillConfig settings, transfer options). ``min_confidence``: leave out of the
#: transfer set the pixels whose teacher top probability is below it; ``hard``: one-hot targets
#: at the teacher's arg-max class (pseudo-labels) instead of its probabilities; ``select``: False
#: keeps the last epoch instead of the best on the validation labels; ``truth``: one-hot targets
#: from the training scene's truth instead of the teacher's classes; ``baseline``: train the
#: baseline too, with the same selection.
TRANSFER_VARIANTS: dict[str, tuple[dict, dict]] = {
    "conf_0.6": (T1, {"min_confidence": 0.6}),
    "conf_0.8": (T1, {"min_confidence": 0.8}),
    "hard": (T1, {"hard": True}),
    "hard_conf_0.8": (T1, {"hard": True, "min_confidence": 0.8}),
    "last_epoch": (T1, {"select": False}),
    # The same with its baseline, which then keeps its last epoch too.
    "last_epoch_with_baseline": (T1, {"select": False, "baseline": True}),
    "hard_last_epoch": (T1, {"hard": True, "select": False}),
    "epochs45_last_epoch": ({**T1, "epochs": 45}, {"select": False}),
    # Another share of each batch drawn around the 20-per-class labels (default: half), the rest
    # around transfer-set pixels.
    "lab25_last_epoch": ({**T1, **W0, "label_patch_fraction": 0.25}, {"select": False}),
    "lab0_last_epoch": ({**T1, **W0, "label_patch_fraction": 0.0}, {"select": False}),
    "lab12_last_epoch": ({**T1, **W0, "label_patch_fraction": 0.125}, {"select": False}),
    "lab25": ({**T1, **W0, "label_patch_fraction": 0.25}, {}),
    "lab0": ({**T1, **W0, "label_patch_fraction": 0.0}, {}),
    "lab75": ({**T1, **W0, "label_patch_fraction": 0.75}, {}),
    "lab375": ({**T1, **W0, "label_patch_fraction": 0.375}, {}),
    "lab25_avg": ({**T1, "weight_average_decay": 0.99, "label_patch_fraction": 0.25}, {}),
    "lab25_avg_last_epoch": ({**T1, "weight_average_decay": 0.99, "label_patch_fraction": 0.25},
                             {"select": False}),
    # The epoch kept is the one whose student best agrees with the teacher's class at 4096
    # transfer-set pixels (not training labels) instead of the best on the ~58 validation labels.
    "select_teacher": ({**T1, "augment": True}, {"select_teacher": True}),
    # Not distillation: the student trained like the dense-truth RGB model (plain class-weighted
    # cross-entropy, last epoch) on the teacher's arg-max class at every flight-line pixel.
    "pseudo_ce": (T1, {"pseudo_ce": True, "select": False}),
    "pseudo_ce_e40": ({**T1, "epochs": 40}, {"pseudo_ce": True, "select": False}),
    # The product's teacher ensemble (trainteacher MEMBERS) of three / five teachers (seeds 0 / 1
    # / 2 ..., same scene and labels): mean of their class probabilities, mean of their fused
    # features. Rows before 2026-12-01 name it "teachers": [0, 1, 2] (the same ensemble, then
    # assembled by this script).
    "teachers3": (T1, {"members": 3}),
    "teachers3_lab25": ({**T1, "label_patch_fraction": 0.25}, {"members": 3}),
    "teachers5": (T1, {"members": 5}),
    "teachers3_probs": ({**T1, "target_interpolation": "probabilities"}, {"members": 3}),
    # Diagnostic: the perfect 2 m teacher's targets refined by the RGB (guided filter).
    "truth_targets_guided": ({**T1, "target_interpolation": "guided"}, {"truth": True}),
    # Diagnostic, not a user setting: one-hot targets from the training scene's *truth* (majority
    # class of each teacher pixel) — the distillation recipe with a perfect teacher.
    "truth_targets": (T1, {"truth": True}),
    "truth_targets_last_epoch": (T1, {"truth": True, "select": False}),
    # Diagnostic: the true class *proportions* of each teacher pixel as its probabilities — all
    # a 2 m teacher could know — matched per pixel (upsampled) or per block (target_match).
    "truth_fractions": (T1, {"fractions": True}),
    "truth_fractions_block": ({**T1, "target_match": "block"}, {"fractions": True}),
    # Diagnostic: one-hot targets from the truth at the student's own resolution, over the same
    # transfer set (the teacher's flight lines) — what targets finer than 2 m would give.
    "truth_dense": (T1, {"dense": True}),
    "truth_dense_last_epoch": (T1, {"dense": True, "select": False}),
    # Diagnostic: the same over the whole training scene, not only the flight lines (no feature
    # term: the teacher has no features outside them), and its flight-line control.
    "truth_dense_fw0_last_epoch": ({**T1, "feature_weight": 0.0}, {"dense": True, "select": False}),
    "truth_dense_scene_fw0_last_epoch": ({**T1, "feature_weight": 0.0},
                                         {"dense": True, "select": False, "scene": True}),
    "truth_dense_scene_fw0_e45_last_epoch": ({**T1, "feature_weight": 0.0, "epochs": 45},
                                             {"dense": True, "select": False, "scene": True}),
}
# Logit of the arg-max class in a hard target (the others 0): probability 0.9995 with 12 classes.
HARD_LOGIT = 10.0


def transfer_targets(targets: Targets, min_confidence: float = 0.0, hard: bool = False,
                     classes: np.ndarray | None = None) -> Targets:
    """The teacher's targets restricted to its confident pixels and/or made one-hot (at the
    teacher's arg-max, or at ``classes``, a class map on the teacher grid)."""
    logits, valid = targets.logits, targets.valid
    if min_confidence > 0:
        valid = valid & (softmax(logits).max(axis=0) >= min_confidence)
        print(f"min confidence {min_confidence}: {valid.sum() / targets.valid.sum():.1%} of the "
              "transfer set kept", file=sys.stderr)
    if hard or classes is not None:
        k = logits.shape[0]
        best = logits.argmax(axis=0) if classes is None else classes
        logits = (HARD_LOGIT * (best[None] == np.arange(k)[:, None, None])).astype(np.float32)
    return Targets(logits, targets.features, valid)


def ensemble_targets(prep, members: int) -> Targets:
    """Targets of the product's teacher ensemble (``MEMBERS``; seeds 0 … members−1) trained on
    the benchmark's training scene: the log of the members' mean class probabilities and their
    mean fused features."""
    teacher = train_teacher(prep.scene, TeacherTrainConfig(members=members))
    return compute_targets(teacher.model, prep.teacher_inputs, teacher.cards)


def truth_fractions(truth: np.ndarray, factor: int, k: int) -> np.ndarray:
    """(k, h, w) share of each class among the labelled truth pixels of each teacher pixel."""
    h, w = truth.shape[0] // factor, truth.shape[1] // factor
    t = truth[: h * factor, : w * factor].reshape(h, factor, w, factor).transpose(0, 2, 1, 3)
    t = t.reshape(h, w, factor * factor)
    counts = np.stack([(t == c).sum(axis=2) for c in range(k)]).astype(np.float32)
    return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1.0)


def teacher_classes(prep, targets: Targets) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's class on the student's grid (arg-max of its upsampled logits), and the
    pixels where it has one (its transfer set)."""
    f, shape = prep.scene.factor, prep.scene.valid.shape
    cls = upsample_area(np.nan_to_num(targets.logits), f, shape).argmax(axis=0)
    return cls, upsample_mask(targets.valid, f, shape) & prep.scene.valid


def teacher_selection_labels(prep, seed: int, n: int = 4096) -> np.ndarray:
    """(H, W) labels for model selection: the teacher's class (:func:`teacher_classes`) at
    ``n`` random transfer-set pixels that are not training labels, 255 elsewhere."""
    cls, cover = teacher_classes(prep, prep.targets)
    rows, cols = np.nonzero(cover & (prep.train_labels == 255))
    pick = np.random.default_rng(seed + 7).choice(rows.size, min(n, rows.size), replace=False)
    out = np.full(cls.shape, 255, np.uint8)
    out[rows[pick], cols[pick]] = cls[rows[pick], cols[pick]]
    return out


def score(model, tests: dict, cards, names) -> dict[str, float]:
    """OA of ``model`` on each test scene (teacher-covered pixels)."""
    out = {}
    for seed, test in tests.items():
        out[str(seed)] = evaluate(test.truth, test.rgb_classes(model, cards), names, test.mask)["oa"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cmkd-bench"),
                        help="the work folder of bench_distillation.py (teacher.cmkd, scenes)")
    parser.add_argument("--presets", nargs="+", default=["earth_carbonation", "mars_analogue"])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS) + sorted(TRANSFER_VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    parser.add_argument("--size-px", type=int, default=512)
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="run every variant once per seed (overriding its own seed); the rows "
                             "are named <variant>@seed<N>")
    args = parser.parse_args()
    out_path = args.work_dir / "ablation.jsonl"
    rows = []
    for preset in args.presets:
        work = args.work_dir / preset
        teacher = bench_teacher(parser, args.work_dir, preset)
        names = tuple(c.name for c in preset_classes(preset))
        train = work / f"scene_{args.train_seed}"
        prep = prepare_distillation(str(teacher), str(train / "rgb.tif"), str(train / "hsi.tif"),
                                    str(train / "dem.tif"), str(train / "labels.gpkg"))
        tests = {seed: load_test_scene(simulate(preset, seed, args.size_px, work / f"scene_{seed}", 20),
                                       prep.teacher, prep.teacher_card, names)
                 for seed in args.test_seeds}
        runs = [(name, *VARIANTS[name], {}) if name in VARIANTS
                else (name, TRANSFER_VARIANTS[name][0], TRANSFER_VARIANTS[name][1].get("baseline", False),
                      TRANSFER_VARIANTS[name][1])
                for name in args.variants]
        if args.seeds:
            runs = [(f"{name}@seed{seed}", {**settings, "seed": seed}, with_baseline, transfer)
                    for name, settings, with_baseline, transfer in runs for seed in args.seeds]
        coarse_truth = None  # the training scene's truth on the teacher grid (truth_targets)
        fractions = None  # its class proportions per teacher pixel (truth_fractions)
        if any(transfer.get(key) for *_, transfer in runs for key in ("truth", "fractions", "dense")):
            with rasterio.open(train / "truth.tif") as ds:
                truth = ds.read(1)
            h_t, w_t = prep.targets.logits.shape[1:]
            coarse_truth = coarse_labels(truth, prep.scene.factor, len(names))[:h_t, :w_t]
            fractions = truth_fractions(truth, prep.scene.factor, len(names))[:, :h_t, :w_t]
        ensembles: dict[int, Targets] = {}
        for name, settings, with_baseline, transfer in runs:
            config = DistillConfig(**{**RECORDED, **settings})
            run_prep = prep if transfer.get("select", True) else replace(prep, val_labels=None)
            if transfer.get("select_teacher"):
                run_prep = replace(prep, val_labels=teacher_selection_labels(prep, config.seed))
            targets = transfer_targets(prep.targets, transfer.get("min_confidence", 0.0),
                                       transfer.get("hard", False),
                                       coarse_truth if transfer.get("truth") else None)
            if transfer.get("members"):
                n = transfer["members"]
                if n not in ensembles:
                    ensembles[n] = ensemble_targets(prep, n)
                targets = ensembles[n]
            if transfer.get("fractions"):
                assert fractions is not None
                targets = Targets(np.log(fractions + 1e-4).astype(np.float32), targets.features,
                                  targets.valid & (fractions.sum(axis=0) > 0))
            if transfer.get("pseudo_ce"):
                cls, cover = teacher_classes(prep, targets)
                student = train_baseline(prep.rgb, prep.student_cards,
                                         np.where(cover, cls, 255).astype(np.uint8), names, config,
                                         run_prep.val_labels)
            elif transfer.get("dense"):  # targets on the student's grid: distil at factor 1
                f, shape = prep.scene.factor, prep.scene.valid.shape
                dense = truth[: shape[0], : shape[1]]
                covered = prep.scene.valid if transfer.get("scene") else upsample_mask(targets.valid, f, shape)
                dense_targets = Targets(
                    (HARD_LOGIT * (dense[None] == np.arange(len(names))[:, None, None])).astype(np.float32),
                    np.nan_to_num(upsample_area(targets.features, f, shape)).astype(np.float16),
                    covered & (dense < len(names)))
                student = distil(run_prep.rgb, run_prep.student_cards, run_prep.scene.valid, dense_targets,
                                 1, names, config, run_prep.train_labels, run_prep.val_labels)
            else:
                student = run_prep.distil(config, targets=targets)
            val = validation_metrics(student.model, prep.rgb, prep.student_cards, prep.val_labels,
                                     names, prep.scene.valid)
            row = {"preset": preset, "variant": name, "settings": {**settings, **transfer},
                   "best_epoch": student.best_epoch, "validation_oa": val["oa"] if val else None,
                   "student": score(student.model, tests, prep.student_cards, names)}
            if with_baseline:
                base = train_baseline(prep.rgb, prep.student_cards, prep.train_labels, names, config,
                                      run_prep.val_labels, embed_dim=prep.targets.features.shape[0])
                row["baseline"] = score(base.model, tests, prep.student_cards, names)
            print(json.dumps(row), file=sys.stderr, flush=True)
            with open(out_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
    seeds = [str(s) for s in args.test_seeds]
    print("| preset | variant | settings | " + " | ".join(f"student OA {s}" for s in seeds)
          + " | baseline OA (same budget) |")
    print("|---|---|---|" + "---|" * len(seeds) + "---|")
    for r in rows:
        base = " / ".join(f"{r['baseline'][s]:.3f}" for s in seeds) if "baseline" in r else ""
        print(f"| {r['preset']} | {r['variant']} | {json.dumps(r['settings'])} | "
              + " | ".join(f"{r['student'][s]:.3f}" for s in seeds) + f" | {base} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
