#!/usr/bin/env python3
"""Benchmark of distributed classification (issue 9): throughput with 1 and 2 local Dask
workers (LocalCluster, processes, one thread each, loopback) on the same generated raster,
against an in-process run limited to one torch thread.

The default RGB student (untrained; speed does not depend on the weights) classifies a
``--size`` square RGB raster end to end (read, infer, stitch, write). Worker start-up is not
timed (the cluster is up and has imported the engine before the clock starts).

Usage::

    PROJ_DATA=/usr/share/proj .venv/bin/python scripts/bench_distributed.py [--size 4096]
        [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_classify import make_models, write_figures, write_noise  # noqa: E402  (shared helpers)


def _warm() -> None:
    import cmkd_plugin.engine.classify.pipeline  # noqa: F401
    import torch  # noqa: F401


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="raster side in pixels")
    parser.add_argument("--output-dir", help="folder for the JSON figures (default: print only)")
    args = parser.parse_args()

    import torch
    from distributed import Client, LocalCluster

    from cmkd_plugin.engine.classify.config import ClassifyConfig
    from cmkd_plugin.engine.classify.pipeline import classify

    work = Path(tempfile.mkdtemp(prefix="cmkd-bench-dist-"))
    student = make_models(work)[0]
    rgb = write_noise(work / "rgb.tif", args.size, 3, "uint8")
    figures: dict = {"size_px": args.size, "cpu_count": os.cpu_count(), "mpx_per_s": {}}

    def timed(name: str, scheduler: str | None) -> None:
        config = ClassifyConfig(tile_size_px=256, overlap_px=32, batch_size=4, device="cpu",
                                dask_scheduler=scheduler)
        t0 = time.perf_counter()
        result = classify(student, rgb, output_classes=work / f"{name}.tif", config=config)
        rate = result.pixels / (time.perf_counter() - t0) / 1e6
        figures["mpx_per_s"][name] = rate
        print(f"{name}: {rate:.3f} Mpx/s on {args.size}^2", flush=True)

    torch.set_num_threads(1)
    timed("local_1_thread", None)
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=40) as cluster:
            with Client(cluster, set_as_default=False) as client:
                client.run(_warm)
            timed(f"dask_{n}_worker", cluster.scheduler_address)
    shutil.rmtree(work, ignore_errors=True)  # generated rasters and models only
    rates = figures["mpx_per_s"]
    figures["speedup_2_over_1_worker"] = rates["dask_2_worker"] / rates["dask_1_worker"]
    print(f"2 workers / 1 worker: {figures['speedup_2_over_1_worker']:.2f}x", flush=True)
    write_figures(args.output_dir, "bench_distributed", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
