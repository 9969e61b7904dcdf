"""``evaluate``: accuracy of a class raster against reference labels (report, CSV, PNG)."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback

HELP = ("Compare a class raster with reference labels (vector with a class field, or a truth "
        "raster): OA, kappa, macro-F1, per-class accuracy, confusion matrix.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--classes", required=True, help="class raster written by classify")
    parser.add_argument("--reference", required=True,
                        help="point/polygon layer with a class field, or a truth raster")
    parser.add_argument("--reference-field", default="mineral",
                        help="class field of a vector reference (default 'mineral')")
    parser.add_argument("--output-report", required=True,
                        help="HTML report; .json, _confusion.csv and _confusion.png beside it")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..classify.evaluate import evaluate

    result = evaluate(args.classes, args.reference, output_report=args.output_report,
                      reference_field=args.reference_field, feedback=feedback)
    return {
        "OA": result.overall_accuracy,
        "KAPPA": result.kappa,
        "MACRO_F1": result.macro_f1,
        "OUTPUT_REPORT": result.files["html"],
        "OUTPUT_JSON": result.files["json"],
        "OUTPUT_CSV": result.files["csv"],
        "OUTPUT_PNG": result.files["png"],
    }
