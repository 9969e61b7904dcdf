"""Time the survey simulator on a 2048 x 2048 RGB grid (issue 3 benchmark: < 60 s on 2 cores).

    PROJ_DATA=/usr/share/proj .venv/bin/python scripts/bench_simulator.py [--size-px 2048]
        [--preset earth_carbonation] [--output-dir bench-output/simulator]

Runs the same code path as ``python -m cmkd_plugin.engine simulate`` (generation and atomic
writing of every output) and prints one README-ready line with the wall time of each phase.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cmkd_plugin.engine.feedback import Feedback  # noqa: E402
from cmkd_plugin.engine.simulator import OutputPaths, SimulationConfig  # noqa: E402
from cmkd_plugin.engine.simulator.config import check_outputs, validate  # noqa: E402
from cmkd_plugin.engine.simulator.scene import generate_scene  # noqa: E402
from cmkd_plugin.engine.simulator.writer import write_scene  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-px", type=int, default=2048)
    parser.add_argument("--preset", default="earth_carbonation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output-dir", default="bench-output/simulator")
    args = parser.parse_args()
    config = SimulationConfig(args.preset, seed=args.seed, size_px=args.size_px)
    outputs = OutputPaths.in_folder(args.output_dir)
    validate(config)
    check_outputs(outputs, config.hsi_format)
    t0 = time.perf_counter()
    scene = generate_scene(config, Feedback())
    t1 = time.perf_counter()
    write_scene(scene, outputs, Feedback())
    t2 = time.perf_counter()
    try:
        import resource

        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except ImportError:  # pragma: no cover - not on Windows
        peak_mb = float("nan")
    hsi = scene.hsi.shape
    print(f"Simulator benchmark ({args.preset}, seed {args.seed}): RGB {args.size_px}x{args.size_px} "
          f"at {config.rgb_gsd_m:g} m, HSI {hsi[2]}x{hsi[1]}x{hsi[0]} at {config.hsi_gsd_m:g} m, "
          f"DEM {scene.dem.shape[1]}x{scene.dem.shape[0]} at {config.dem_gsd_m:g} m: "
          f"{t2 - t0:.1f} s total ({t1 - t0:.1f} s generation, {t2 - t1:.1f} s writing), "
          f"peak memory {peak_mb:.0f} MB, {os.cpu_count()} CPU cores, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
