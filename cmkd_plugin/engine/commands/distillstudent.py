"""``distillstudent``: distil a small RGB-only student from a teacher model file, train the
RGB-only baseline with the same budget when labels are given, and report all three."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback
from ._site import add_site_arguments

HELP = "Distil an RGB student from a teacher (and train the RGB-only baseline); write model and report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", required=True, help="teacher model file (from trainteacher)")
    add_site_arguments(parser, "student", "optional labels: cross-entropy term, baseline, metrics",
                       labels_required=False)
    from ..training.config import MAX_STUDENT_LAYERS, TARGET_INTERPOLATIONS, DistillConfig

    d = DistillConfig()
    parser.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default {d.epochs})")
    parser.add_argument("--temperature-start", type=float, default=d.temperature_start,
                        help=f"distillation temperature of the first epoch (default {d.temperature_start:g})")
    parser.add_argument("--temperature-end", type=float, default=d.temperature_end,
                        help=f"distillation temperature of the last epoch (default {d.temperature_end:g})")
    parser.add_argument("--feature-weight", type=float, default=d.feature_weight,
                        help=f"weight of the feature alignment (default {d.feature_weight:g})")
    parser.add_argument("--class-balanced", action=argparse.BooleanOptionalAction,
                        default=d.class_balanced, help="rare classes weigh more (default on)")
    parser.add_argument("--progressive", action=argparse.BooleanOptionalAction, default=d.progressive,
                        help="HSI -> simulated multispectral -> RGB chain (default off)")
    parser.add_argument("--colour-jitter", action=argparse.BooleanOptionalAction, default=d.augment,
                        help="jitter the RGB's colours in training (student and baseline): a "
                             "student robust to another colour balance, less accurate on "
                             "imagery like its own (default off)")
    parser.add_argument("--student-layers", type=int, default=d.encoder_depth,
                        help=f"3x3 conv layers of the student's encoder (and the baseline's), "
                             f"1 to {MAX_STUDENT_LAYERS}; each adds 2 pixels of context on every "
                             f"side and about 9 000 parameters (default {d.encoder_depth})")
    parser.add_argument("--teacher-targets", choices=TARGET_INTERPOLATIONS,
                        default=d.target_interpolation,
                        help="what the student learns between the pixels of a coarser teacher: "
                             "its interpolated logits or probabilities, or its probabilities "
                             "refined by the RGB's edges (guided) (default "
                             f"{d.target_interpolation})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    parser.add_argument("--output-model", required=True, help="student model file to write")
    parser.add_argument("--output-report", required=True, help="HTML report (+ .json twin)")
    add_budget_arguments(parser)


def add_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """Cross-entropy weight, patch size, batch size, patches per epoch (shared with tuning)."""
    # Defaults come from DistillConfig: one place for them (the bundled models used them too).
    from ..training.config import DistillConfig

    defaults = DistillConfig()
    parser.add_argument("--ce-weight", type=float, default=defaults.ce_weight,
                        help=f"weight of the cross-entropy on labels (default {defaults.ce_weight})")
    parser.add_argument("--tile-size", type=int, default=defaults.patch_size_px,
                        help=f"training patch side in RGB pixels (default {defaults.patch_size_px})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"patches per step (default {defaults.batch_size})")
    parser.add_argument("--patches-per-epoch", type=int, default=defaults.patches_per_epoch,
                        help=f"random patches per epoch (default {defaults.patches_per_epoch})")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..training.config import DistillConfig
    from ..training.pipeline import run_distillation

    config = DistillConfig(
        epochs=args.epochs, patches_per_epoch=args.patches_per_epoch, batch_size=args.batch_size,
        patch_size_px=args.tile_size, temperature_start=args.temperature_start,
        temperature_end=args.temperature_end, feature_weight=args.feature_weight,
        ce_weight=args.ce_weight, class_balanced=args.class_balanced,
        progressive=args.progressive, augment=args.colour_jitter,
        encoder_depth=args.student_layers, target_interpolation=args.teacher_targets,
        seed=args.seed)
    result = run_distillation(args.teacher, args.rgb, args.hsi, args.dem, args.labels,
                              args.output_model, args.output_report, config, args.label_field,
                              feedback)
    return result.outputs
