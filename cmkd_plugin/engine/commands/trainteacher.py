"""``trainteacher``: train the multi-modal teacher (RGB + HSI + DEM) from labelled points or
polygons; writes the model file and an HTML report with a JSON twin."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback
from ..training.config import TeacherTrainConfig
from ._site import add_site_arguments

HELP = "Train the RGB + HSI + DEM teacher from labels; write the model file and its report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_site_arguments(parser, "teacher", "point or polygon layer with a class field")
    epochs = TeacherTrainConfig().epochs
    parser.add_argument("--epochs", type=int, default=epochs, help=f"maximum epochs (default {epochs})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--output-model", required=True, help="model file to write")
    parser.add_argument("--output-report", required=True, help="HTML report (a .json twin is written beside it)")
    parser.add_argument("--class-table", help="CSV with name,colour[,coefficients...] per class")
    parser.add_argument("--tile-size", type=int, default=3,
                        help="training patch side in teacher-grid (HSI) pixels (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="patches per step (default 32)")
    parser.add_argument("--validation-fraction", type=float, default=0.25,
                        help="share of labelled pixels held out in spatial blocks (default 0.25)")
    parser.add_argument("--block-size-px", type=int, default=64,
                        help="side of a validation block in RGB pixels (default 64)")
    parser.add_argument("--patches-per-epoch", type=int, default=128,
                        help="random patches per epoch (default 128)")
    members = TeacherTrainConfig.members
    parser.add_argument("--members", type=int, default=members,
                        help="teachers trained with seeds seed, seed+1, ... and kept in the model "
                             "file as one ensemble averaging their class probabilities "
                             f"(default {members})")
    parser.add_argument("--mixing", type=float, default=TeacherTrainConfig.mixing,
                        help="share (0-1) of training samples made areal mixtures of two labelled "
                             "pixels with soft targets, for minerals that mix with a spectrally "
                             f"bland cover such as dust (default {TeacherTrainConfig.mixing:g}: off)")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..training.config import DataConfig
    from ..training.pipeline import run_teacher_training

    data = DataConfig(label_field=args.label_field, validation_fraction=args.validation_fraction,
                      block_size_px=args.block_size_px, seed=args.seed)
    train = TeacherTrainConfig(epochs=args.epochs, patches_per_epoch=args.patches_per_epoch,
                               batch_size=args.batch_size, patch_size_px=args.tile_size,
                               members=args.members, mixing=args.mixing, seed=args.seed)
    result = run_teacher_training(args.rgb, args.hsi, args.dem, args.labels, args.output_model,
                                  args.output_report, data, train, args.class_table, feedback)
    return result.outputs
