"""``tunedistillation``: search the distillation temperatures, feature weight and class-balance
strength (differential evolution, grid or random search), each candidate scored by a short
distillation at the validation blocks of the labels; write the table of every evaluation and a
student distilled with the best settings."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback
from ._site import add_site_arguments
from .distillstudent import add_budget_arguments

HELP = ("Search distillation settings (differential evolution, grid or random) within an "
        "evaluation budget; write the table of evaluations and the best student.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..training.config import TUNING_METHODS, DistillConfig, TuningConfig

    defaults = TuningConfig()
    parser.add_argument("--teacher", required=True, help="teacher model file (from trainteacher)")
    add_site_arguments(parser, "student", "labels: candidates are scored at their validation blocks")
    parser.add_argument("--method", choices=TUNING_METHODS, default=defaults.method,
                        help=f"search method (default {defaults.method})")
    parser.add_argument("--max-evaluations", type=int, default=defaults.max_evaluations,
                        help=f"hard bound on short distillation runs (default {defaults.max_evaluations})")
    parser.add_argument("--eval-epochs", type=int, default=defaults.eval_epochs,
                        help=f"epochs of each short distillation (default {defaults.eval_epochs})")
    parser.add_argument("--eval-patches-per-epoch", type=int, default=defaults.eval_patches_per_epoch,
                        help="patches per epoch of each short distillation "
                             f"(default {defaults.eval_patches_per_epoch})")
    parser.add_argument("--tune-class-balance", action=argparse.BooleanOptionalAction,
                        default=defaults.tune_class_balance,
                        help="also search the class-balance strength (default on)")
    final_epochs = DistillConfig().epochs
    parser.add_argument("--epochs", type=int, default=final_epochs,
                        help="epochs of the final student distilled with the best settings "
                             f"(default {final_epochs})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the search and of every distillation (default 0)")
    parser.add_argument("--output-table", required=True, help="CSV of every evaluation")
    parser.add_argument("--output-model", required=True, help="student model file to write")
    parser.add_argument("--output-report", required=True, help="HTML report (+ .json twin)")
    add_budget_arguments(parser)


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..training.config import DistillConfig, TuningConfig
    from ..training.tune import run_tuning

    tuning = TuningConfig(method=args.method, max_evaluations=args.max_evaluations,
                          eval_epochs=args.eval_epochs,
                          eval_patches_per_epoch=args.eval_patches_per_epoch,
                          tune_class_balance=args.tune_class_balance, seed=args.seed)
    base = DistillConfig(epochs=args.epochs, patches_per_epoch=args.patches_per_epoch,
                         batch_size=args.batch_size, patch_size_px=args.tile_size,
                         ce_weight=args.ce_weight, seed=args.seed)
    result = run_tuning(args.teacher, args.rgb, args.hsi, args.dem, args.labels,
                        args.output_table, args.output_model, args.output_report, tuning, base,
                        args.label_field, feedback)
    return result.outputs
