"""``enginecheck``: diagnostics of the engine interpreter and a timed forward pass."""

from __future__ import annotations

import argparse
import html
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from ..atomic import atomic_output, check_writable
from ..errors import InputError
from ..feedback import Feedback
from ..paths import PACKAGE_DIR, plugin_version

HELP = "Report the engine interpreter, library versions, threads, GPU and a timed forward pass."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="report file: .json or .html (optional)")
    parser.add_argument("--iterations", type=int, default=5,
                        help="timed forward passes of the probe network (default 5)")
    parser.add_argument("--tile-size", type=int, default=256,
                        help="side in pixels of the probe tile (default 256)")


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except ImportError:
        return "missing"
    return str(getattr(module, "__version__", "unknown"))


def collect(iterations: int, tile_size_px: int, feedback: Feedback) -> dict[str, Any]:
    """Gather the diagnostics; times ``iterations`` forward passes on one RGB tile."""
    import numpy
    import rasterio
    import torch

    info: dict[str, Any] = {
        "plugin_version": plugin_version(),
        "engine_python": sys.executable,
        "engine_package": str(PACKAGE_DIR),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "rasterio_version": rasterio.__version__,
        "gdal_version": rasterio.__gdal_version__,
        "geopandas_version": _version("geopandas"),
        "scipy_version": _version("scipy"),
        "safetensors_version": _version("safetensors"),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": bool(torch.cuda.is_available()),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "",
    }
    feedback.info(f"Engine Python {info['engine_python']} (Python {info['python_version']})")
    feedback.info(f"torch {info['torch_version']}, rasterio {info['rasterio_version']} "
                  f"(GDAL {info['gdal_version']}), geopandas {info['geopandas_version']}, "
                  f"numpy {info['numpy_version']}")
    feedback.info(f"torch threads {info['torch_threads']}; CUDA "
                  f"{'available: ' + info['cuda_device'] if info['cuda_available'] else 'not available'}")

    # A probe of the size of a small RGB student: enough work to time, small enough to be instant.
    torch.manual_seed(0)
    device = torch.device("cuda" if info["cuda_available"] else "cpu")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.GELU(),
        torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.GELU(),
        torch.nn.Conv2d(32, 12, 1),
    ).to(device).eval()
    x = torch.rand(1, 3, tile_size_px, tile_size_px, device=device)
    timings = []
    with torch.inference_mode():
        net(x)  # warm-up: first call allocates
        for i in range(iterations):
            feedback.check_cancelled()
            t0 = time.perf_counter()
            net(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            timings.append(time.perf_counter() - t0)
            feedback.progress(100.0 * (i + 1) / iterations)
    best = min(timings)
    info.update({
        "forward_device": device.type,
        "forward_tile_px": tile_size_px,
        "forward_iterations": iterations,
        "forward_best_ms": round(best * 1000.0, 3),
        "forward_mpx_per_s": round(tile_size_px * tile_size_px / best / 1e6, 3),
    })
    feedback.info(f"Forward pass {tile_size_px}x{tile_size_px} on {device.type}: "
                  f"{info['forward_best_ms']} ms (best of {iterations}), "
                  f"{info['forward_mpx_per_s']} Mpx/s")
    return info


def render_html(info: dict[str, Any]) -> str:
    rows = "\n".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in info.items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>CMKD engine check</title>"
        "<style>body{font-family:sans-serif}th{text-align:left;padding-right:1em}</style>"
        f"</head><body><h1>CMKD Survey engine check</h1><table>{rows}</table></body></html>\n"
    )


def run(args: argparse.Namespace, feedback: Feedback) -> dict[str, Any]:
    if args.iterations < 1:
        raise InputError(f"Iterations must be at least 1 (got {args.iterations}).")
    if not 8 <= args.tile_size <= 8192:
        raise InputError(f"Tile size must be between 8 and 8192 pixels (got {args.tile_size}).")
    output = None
    if args.output:
        output = check_writable(args.output)
        if output.suffix.lower() not in (".json", ".html", ".htm"):
            raise InputError(f"Report '{output}' must end in .json or .html.")
    info = collect(args.iterations, args.tile_size, feedback)
    if output is not None:
        text = (json.dumps(info, indent=2, ensure_ascii=False) + "\n"
                if output.suffix.lower() == ".json" else render_html(info))
        with atomic_output(output) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
        info["OUTPUT"] = str(output)
    return info
