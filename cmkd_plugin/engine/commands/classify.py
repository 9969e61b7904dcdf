"""``classify``: a teacher or student model over rasters of any size, streamed to GeoTIFFs."""

from __future__ import annotations

import argparse
from typing import Any

from ..classify.config import DEVICES, REFINE_MODES, TEACHER_GRIDS, ClassifyConfig, Extent
from ..feedback import Feedback

HELP = ("Classify RGB (+ HSI/DEM for a teacher) with a model file, tile by tile; write classes, "
        "probabilities and confidence GeoTIFFs.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file (.safetensors/.cmkd) or exported .onnx, teacher or student")
    parser.add_argument("--rgb", required=True, help="RGB raster (3 bands); its grid is the output grid")
    parser.add_argument("--hsi", help="hyperspectral raster with band wavelengths (teacher)")
    parser.add_argument("--dem", help="elevation raster in metres (teacher)")
    parser.add_argument("--extent", help="processing area 'xmin,xmax,ymin,ymax[,CRS]'")
    parser.add_argument("--mask", help="polygon layer: pixels outside are nodata")
    parser.add_argument("--tile-size", type=int, default=256, help="window side in pixels (default 256)")
    parser.add_argument("--overlap", type=int, default=32, help="overlap of windows in pixels (default 32)")
    parser.add_argument("--batch-size", type=int, default=4, help="windows per forward pass (default 4)")
    parser.add_argument("--device", choices=DEVICES, default=DEVICES[0])
    parser.add_argument("--rgb-scaling", default="auto",
                        help="auto (detected), uint8, uint16, 10bit, 12bit, 14bit, unit, declared")
    parser.add_argument("--hsi-scaling", default="auto",
                        help="auto (detected), reflectance10000, unit, declared, ...")
    parser.add_argument("--model-kind", choices=("any", "teacher", "student"), default="any",
                        help="refuse a model of the other kind (default: accept both)")
    parser.add_argument("--dask-scheduler",
                        help="Dask scheduler address (tcp://host:8786) whose workers run the tiles; "
                             "empty: this machine")
    parser.add_argument("--refine", choices=REFINE_MODES, default=REFINE_MODES[0],
                        help="refine the probabilities by the RGB inside each HSI pixel: teacher "
                             "(default), all (students too) or none")
    parser.add_argument("--teacher-grid", choices=TEACHER_GRIDS, default=ClassifyConfig.teacher_grid,
                        help="where a teacher coarser than the RGB runs: own (its training "
                             "grid, as in training: default, many times faster) or rgb (every "
                             "RGB pixel)")
    parser.add_argument("--output-classes", help="class raster (.tif)")
    parser.add_argument("--output-probabilities", help="probability raster (.tif)")
    parser.add_argument("--output-confidence", help="confidence raster (.tif)")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..classify.pipeline import classify

    config = ClassifyConfig(
        tile_size_px=args.tile_size, overlap_px=args.overlap, batch_size=args.batch_size,
        device=args.device, extent=Extent.parse(args.extent) if args.extent else None,
        mask_path=args.mask or None, rgb_scaling=args.rgb_scaling, hsi_scaling=args.hsi_scaling,
        dask_scheduler=args.dask_scheduler or None, refine=args.refine,
        teacher_grid=args.teacher_grid)
    result = classify(
        args.model, args.rgb, hsi=args.hsi or None, dem=args.dem or None,
        output_classes=args.output_classes or None,
        output_probabilities=args.output_probabilities or None,
        output_confidence=args.output_confidence or None, config=config,
        expect_kind=None if args.model_kind == "any" else args.model_kind, feedback=feedback)
    return {
        "OUTPUT_CLASSES": result.outputs.get("classes"),
        "OUTPUT_PROBABILITIES": result.outputs.get("probabilities"),
        "OUTPUT_CONFIDENCE": result.outputs.get("confidence"),
        "CLASSES": list(result.class_names),
        "MODEL_KIND": result.model_kind,
        "PIXELS": result.pixels,
        "SECONDS": round(result.seconds, 3),
    }
