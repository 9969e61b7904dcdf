"""``simulate``: generate a georeferenced survey scene (RGB, HSI, DEM, truth, labels, sites)."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback

HELP = ("Generate a simulated survey: RGB, hyperspectral and DEM rasters on their own grids, "
        "a truth class raster, labels, sites, the HSI footprint and a preview.")

OUTPUT_OPTIONS = ("rgb", "hsi", "dem", "truth", "labels", "sites", "footprint", "preview")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..simulator.presets import preset_names

    parser.add_argument("--preset", required=True,
                        help=f"scene preset: {', '.join(preset_names())}")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same rasters)")
    parser.add_argument("--size-px", type=int, default=512,
                        help="side of the RGB grid in pixels (default 512)")
    parser.add_argument("--rgb-gsd-m", type=float, default=0.25, help="RGB pixel size, m (0.25)")
    parser.add_argument("--dem-gsd-m", type=float, default=1.0, help="DEM pixel size, m (1.0)")
    parser.add_argument("--hsi-gsd-m", type=float, default=2.0, help="HSI pixel size, m (2.0)")
    parser.add_argument("--hsi-bands", type=int, default=224,
                        help="number of HSI bands over 400-2500 nm (224)")
    parser.add_argument("--hsi-crs", default=None,
                        help="CRS of the HSI grid if it differs from the scene's (e.g. EPSG:32641)")
    parser.add_argument("--labels-per-class", type=int, default=20,
                        help="label points per class in the labelled zone (20)")
    parser.add_argument("--hsi-format", choices=("gtiff", "envi"), default="gtiff",
                        help="HSI file format: GeoTIFF or ENVI .img + .hdr (gtiff)")
    parser.add_argument("--sun-elevation-deg", type=float, default=None,
                        help="sun elevation of both acquisitions, degrees (default: the preset's)")
    parser.add_argument("--rgb-gain", type=float, nargs=3, default=(1.0, 1.0, 1.0),
                        metavar=("R", "G", "B"),
                        help="white-balance error of the RGB camera, per channel (default 1 1 1)")
    parser.add_argument("--noise-scale", type=float, default=1.0,
                        help="multiplies the RGB and HSI sensor noise (default 1)")
    parser.add_argument("--output-dir", required=True, help="folder for the outputs")
    for name in OUTPUT_OPTIONS:
        parser.add_argument(f"--{name}", default=None,
                            help=f"path of the {name} output (default: in --output-dir)")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    """Validate everything, simulate, write atomically; return OUTPUT_* paths and CLASSES."""
    from ..simulator import OutputPaths, SimulationConfig, simulate_survey

    config = SimulationConfig(
        preset=args.preset, seed=args.seed, size_px=args.size_px, rgb_gsd_m=args.rgb_gsd_m,
        dem_gsd_m=args.dem_gsd_m, hsi_gsd_m=args.hsi_gsd_m, hsi_bands=args.hsi_bands,
        hsi_crs=args.hsi_crs or None, labels_per_class=args.labels_per_class,
        hsi_format=args.hsi_format, sun_elevation_deg=args.sun_elevation_deg,
        rgb_gain=tuple(float(g) for g in args.rgb_gain), noise_scale=args.noise_scale,
    )
    outputs = OutputPaths.in_folder(args.output_dir, args.hsi_format,
                                    **{n: getattr(args, n) for n in OUTPUT_OPTIONS})
    return simulate_survey(config, outputs, feedback)
