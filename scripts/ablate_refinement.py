#!/usr/bin/env python3
"""Radius and regularisation of the teacher refinement (docs/DISTILLATION.md, *Sharper teacher
maps*).

Uses the teacher and scenes of ``scripts/bench_distillation.py`` (same ``--work-dir``). For each
test scene the teacher runs once on its own (HSI) grid; its class probabilities are upsampled
bilinearly to the RGB grid and scored against the 0.25 m truth over the pixels where it has
inputs — as they are, and refined by the scene's RGB (normalised per band) with the product's
guided filter for every radius × eps given. The same for a perfect 2 m teacher (one-hot majority
true class of each HSI pixel). Mean over the scenes per setting, printed as a Markdown table.

Usage::

    .venv/bin/python scripts/ablate_refinement.py --work-dir /tmp/cmkd-bench \\
        [--presets mars_analogue] [--test-seeds 101 102 201 202] [--radii 6 8 12 16]
        [--eps 0.001 0.01 0.05]

About a minute per scene on 2 shared cores (the teacher's pass dominates).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))  # bench_distillation (which puts the repository on the path)

from bench_distillation import bench_teacher, softmax  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import torch  # noqa: E402

from cmkd_plugin.engine.models.guided import refine_probabilities  # noqa: E402
from cmkd_plugin.engine.models.resample import upsample_area, upsample_mask  # noqa: E402
from cmkd_plugin.engine.training.data import coarse_labels  # noqa: E402
from cmkd_plugin.engine.training.pipeline import prepare_distillation  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cmkd-bench"))
    parser.add_argument("--presets", nargs="+", default=["earth_carbonation", "mars_analogue"])
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    parser.add_argument("--radii", type=int, nargs="+", default=[6, 8, 12, 16])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.001, 0.01, 0.05])
    args = parser.parse_args()
    print("| preset | targets | bilinear | " + " | ".join(f"r {r}, eps {e:g}" for r in args.radii
                                                         for e in args.eps) + " |")
    print("|---|---|---|" + "---|" * (len(args.radii) * len(args.eps)))
    for preset in args.presets:
        work = args.work_dir / preset
        teacher = bench_teacher(parser, args.work_dir, preset)
        scores: dict[str, dict[str, list[float]]] = {"teacher": {}, "perfect 2 m": {}}
        for seed in args.test_seeds:
            scene_dir = work / f"scene_{seed}"
            prep = prepare_distillation(str(teacher), str(scene_dir / "rgb.tif"),
                                        str(scene_dir / "hsi.tif"), str(scene_dir / "dem.tif"),
                                        str(scene_dir / "labels.gpkg"))
            f, shape = prep.scene.factor, prep.scene.valid.shape
            with rasterio.open(scene_dir / "truth.tif") as ds:
                truth = ds.read(1)[: shape[0], : shape[1]]
            k = prep.targets.logits.shape[0]
            mask = upsample_mask(prep.targets.valid, f, shape) & prep.scene.valid & (truth < k)
            rgb = prep.rgb["rgb"].astype(np.float32)
            rgb = (rgb - np.nanmean(rgb, axis=(1, 2), keepdims=True)) / np.nanstd(rgb, axis=(1, 2), keepdims=True)
            guide = torch.from_numpy(np.nan_to_num(rgb))[None]
            logits = np.nan_to_num(prep.targets.logits)
            majority = coarse_labels(truth, f, k)[: logits.shape[1], : logits.shape[2]]
            sources = {"teacher": softmax(logits),
                       "perfect 2 m": (majority[None] == np.arange(k)[:, None, None]).astype(np.float32)}
            for name, probs in sources.items():
                up = upsample_area(probs, f, shape)
                scores[name].setdefault("bilinear", []).append(float((up.argmax(0) == truth)[mask].mean()))
                for r in args.radii:
                    for e in args.eps:
                        q = refine_probabilities(guide, torch.from_numpy(up)[None], r, e)[0].numpy()
                        scores[name].setdefault(f"{r}/{e}", []).append(
                            float((q.argmax(0) == truth)[mask].mean()))
        for name, by_setting in scores.items():
            cells = [f"{np.mean(v):.3f}" for v in by_setting.values()]
            print(f"| {preset} | {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
