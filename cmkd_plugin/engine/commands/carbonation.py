"""``carbonation``: carbonation-rate raster (+ uncertainty) and per-site CO2 uptake."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback

HELP = ("Turn a CMKD probability raster into a carbonation rate (t CO2 ha-1 yr-1) with its "
        "uncertainty, and sum CO2 uptake per site polygon.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--probabilities", required=True,
                        help="probability raster written by classify (one band per class)")
    parser.add_argument("--coefficients", help="coefficient CSV (class, coefficient, unit, "
                        "source); default: the shipped resources/carbonation/coefficients.csv")
    parser.add_argument("--scale", type=float, help="t CO2 ha-1 yr-1 per unit coefficient "
                        "(default: 3.9 / c_basalt = 13.93, see METHODS.md)")
    parser.add_argument("--sites", help="site polygons (any OGR format, any CRS)")
    parser.add_argument("--site-id-field", default="site_id", help="site id attribute")
    parser.add_argument("--output-rate", help="rate raster (.tif), t CO2 ha-1 yr-1")
    parser.add_argument("--output-uncertainty", help="rate standard deviation raster (.tif)")
    parser.add_argument("--output-sites", help="per-site results (.gpkg)")
    parser.add_argument("--block-size", type=int, default=512, help="window side in pixels")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..carbon.pipeline import CarbonationConfig, run_carbonation

    config = CarbonationConfig(coefficients_path=args.coefficients or None,
                               scale_t_co2_per_ha_yr=args.scale,
                               site_id_field=args.site_id_field or "site_id",
                               block_px=max(16, int(args.block_size)))
    result = run_carbonation(
        args.probabilities, output_rate=args.output_rate or None,
        output_uncertainty=args.output_uncertainty or None, sites=args.sites or None,
        output_sites=args.output_sites or None, config=config, feedback=feedback)
    return {
        "OUTPUT_RATE": result.rate_path,
        "OUTPUT_UNCERTAINTY": result.uncertainty_path,
        "OUTPUT_SITES": result.sites_path,
        "TOTAL_T_CO2_PER_YR": (result.total_t_co2_yr if result.total_t_co2_yr is not None
                               else result.raster_total_t_co2_yr),
        "RASTER_TOTAL_T_CO2_PER_YR": result.raster_total_t_co2_yr,
        "SCALE": result.scale,
        "MATCHED_CLASSES": list(result.matched),
        "UNMATCHED_CLASSES": list(result.unmatched),
        "UNUSED_COEFFICIENT_CLASSES": list(result.unused),
    }
