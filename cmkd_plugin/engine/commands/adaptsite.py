"""``adaptsite``: fine-tune a student (or teacher) with a few labelled points of a new site,
guarding against forgetting (frozen encoder, keep term towards the original model)."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback
from ._site import add_site_arguments

HELP = "Adapt a model to a new site with a few labelled points; write the adapted model and a report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults come from AdaptConfig: one place for them.
    from ..training.config import FREEZE_CHOICES, AdaptConfig

    d = AdaptConfig()
    parser.add_argument("--model", required=True, help="model file to adapt (student or teacher)")
    add_site_arguments(parser, "adapt", "labelled points/polygons of the new site")
    parser.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default {d.epochs})")
    parser.add_argument("--freeze", choices=FREEZE_CHOICES, default=d.freeze,
                        help=f"layers kept as trained (default {d.freeze})")
    parser.add_argument("--keep-weight", type=float, default=d.keep_weight,
                        help="weight of the term keeping predictions close to the original model "
                             f"(default {d.keep_weight}; 0 = off)")
    parser.add_argument("--renormalise", action=argparse.BooleanOptionalAction, default=d.renormalise,
                        help="re-estimate input mean/std on the new scene (default off)")
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate,
                        help=f"default {d.learning_rate}")
    parser.add_argument("--patches-per-epoch", type=int, default=d.patches_per_epoch,
                        help=f"patches per epoch (default {d.patches_per_epoch})")
    parser.add_argument("--tile-size", type=int, default=d.patch_size_px,
                        help=f"training patch side in pixels of the model's grid (default {d.patch_size_px})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--output-model", required=True, help="adapted model file to write")
    parser.add_argument("--output-report", required=True, help="HTML report (+ .json twin)")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..training.adapt import run_adaptation
    from ..training.config import AdaptConfig

    config = AdaptConfig(epochs=args.epochs, patches_per_epoch=args.patches_per_epoch,
                         patch_size_px=args.tile_size, learning_rate=args.learning_rate,
                         freeze=args.freeze, keep_weight=args.keep_weight,
                         renormalise=args.renormalise, seed=args.seed)
    result = run_adaptation(args.model, args.rgb, args.hsi, args.dem, args.labels,
                            args.output_model, args.output_report, config, args.label_field,
                            feedback)
    return result.outputs
