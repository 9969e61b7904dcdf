"""``exportedge``: a model file -> ONNX (+ int8) with its card as metadata, and an edge report."""

from __future__ import annotations

import argparse
from typing import Any

from ..feedback import Feedback

HELP = ("Export a model to ONNX with its model card as metadata (Deepness-compatible), "
        "optionally int8-quantised, and report size, FLOPs, latency and energy per km2.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file (student or teacher)")
    parser.add_argument("--output-onnx", required=True, help="fp32 ONNX file (.onnx)")
    parser.add_argument("--quantize", action="store_true",
                        help="also write an int8 variant next to it (<name>.int8.onnx)")
    parser.add_argument("--device-power-w", type=float, default=10.0,
                        help="device power in watts for the energy estimate (default 10)")
    parser.add_argument("--gsd-m", type=float, default=0.1,
                        help="ground sampling distance in metres for the energy estimate (default 0.1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (default 3)")
    parser.add_argument("--tile-px", type=int, default=512,
                        help="tile side for the latency and energy figures (default 512)")
    parser.add_argument("--output-report", help="JSON report file (optional)")


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    from ..atomic import atomic_output, check_writable
    from ..edge.export import export_onnx
    from ..edge.report import EnergyConfig, edge_report

    from ..errors import InputError

    if not 16 <= args.tile_px <= 8192:
        raise InputError(f"Tile size must be between 16 and 8192 pixels (got {args.tile_px}).")
    energy = EnergyConfig(device_power_w=args.device_power_w, gsd_m=args.gsd_m)
    report_path = check_writable(args.output_report) if args.output_report else None
    feedback.info("Exporting to ONNX" + (" and quantising to int8." if args.quantize else "."))
    result = export_onnx(args.model, args.output_onnx, quantize=args.quantize)
    feedback.progress(50)
    feedback.check_cancelled()
    feedback.info(f"Measuring latency per {args.tile_px} x {args.tile_px} tile on this CPU.")
    report = edge_report(args.model, result.onnx_path, result.int8_path, energy,
                         repeats=args.repeats, tile_px=args.tile_px)
    if report_path is not None:
        with atomic_output(report_path) as tmp:
            tmp.write_text(report.to_json() + "\n", encoding="utf-8")
    feedback.info(
        f"fp32: {report.fp32_size_bytes / 1024:.1f} KiB, {report.fp32_latency_ms_per_tile:.1f} ms "
        f"per tile, {report.fp32_energy_j_per_km2:.1f} J/km2"
        + ("" if report.int8_size_bytes is None else
           f"; int8: {report.int8_size_bytes / 1024:.1f} KiB, "
           f"{report.int8_latency_ms_per_tile:.1f} ms per tile, "
           f"{report.int8_energy_j_per_km2:.1f} J/km2") + ".")
    feedback.progress(100)
    return {
        "OUTPUT_ONNX": str(result.onnx_path),
        "OUTPUT_INT8": None if result.int8_path is None else str(result.int8_path),
        "OUTPUT_REPORT": None if report_path is None else str(report_path),
        "PARAMETERS": report.parameters,
        "FLOPS_PER_PIXEL": report.flops_per_pixel,
        "FP32_SIZE_BYTES": report.fp32_size_bytes,
        "INT8_SIZE_BYTES": report.int8_size_bytes,
        "FP32_LATENCY_MS": report.fp32_latency_ms_per_tile,
        "INT8_LATENCY_MS": report.int8_latency_ms_per_tile,
        "FP32_ENERGY_J_PER_KM2": report.fp32_energy_j_per_km2,
        "INT8_ENERGY_J_PER_KM2": report.int8_energy_j_per_km2,
    }
