#!/usr/bin/env python3
"""Smoothing the RGB models' maps (docs/DISTILLATION.md, *Sharper teacher maps*): does it change
the gain?

Uses the work folder of ``scripts/bench_distillation.py`` (its teacher, scenes and saved
students ``student_direct_seed<N>.cmkd``). For each student seed the RGB-only baseline is trained
again exactly as the benchmark trained it (same seed and budget: the same model), then both
models' class probabilities on each test scene are scored as they are and after smoothing:
a box mean (radius 2 / 4 / 8 px) or the product's guided filter with the scene's RGB as guide
(radius 4 / 8 / 16 px, eps 0.01). Gain = student − baseline with the same smoothing.

Usage::

    .venv/bin/python scripts/ablate_smoothing.py --work-dir /tmp/cmkd-bench --preset mars_analogue \\
        [--seeds 0 1 2] [--test-seeds 101 102 201 202]

One JSON line per seed on stdout, then a Markdown table. About 3 minutes per seed (the baseline).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))  # bench_distillation (which puts the repository on the path)

from bench_distillation import bench_teacher, load_test_scene, softmax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from cmkd_plugin.engine.models.guided import box_mean, refine_probabilities  # noqa: E402
from cmkd_plugin.engine.models.modelfile import load_model  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes  # noqa: E402
from cmkd_plugin.engine.training.baseline import train_baseline  # noqa: E402
from cmkd_plugin.engine.training.common import predict_area  # noqa: E402
from cmkd_plugin.engine.training.config import DistillConfig  # noqa: E402
from cmkd_plugin.engine.training.pipeline import prepare_distillation  # noqa: E402


def smoothed(probs: np.ndarray, rgb: np.ndarray) -> dict[str, np.ndarray]:
    """``probs`` (K, H, W) as they are and smoothed every way compared."""
    p = torch.from_numpy(np.nan_to_num(probs).astype(np.float32))[None]
    g = (rgb - np.nanmean(rgb, axis=(1, 2), keepdims=True)) / np.nanstd(rgb, axis=(1, 2), keepdims=True)
    guide = torch.from_numpy(np.nan_to_num(g).astype(np.float32))[None]
    out = {"as given": probs}
    for r in (2, 4, 8):
        out[f"box {r}"] = box_mean(p, r)[0].numpy()
    for r in (4, 8, 16):
        out[f"guided {r}"] = refine_probabilities(guide, p, r, 0.01)[0].numpy()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cmkd-bench"))
    parser.add_argument("--preset", default="mars_analogue")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.work_dir / args.preset
    names = tuple(c.name for c in preset_classes(args.preset))
    train = work / "scene_1"
    teacher = bench_teacher(parser, args.work_dir, args.preset)
    prep = prepare_distillation(str(teacher), str(train / "rgb.tif"), str(train / "hsi.tif"),
                                str(train / "dem.tif"), str(train / "labels.gpkg"))
    tests = [load_test_scene(work / f"scene_{s}", prep.teacher, prep.teacher_card, names)
             for s in args.test_seeds]
    rows = []
    for seed in args.seeds:
        s_model, s_card = load_model(work / f"student_direct_seed{seed}.cmkd", "student")
        base = train_baseline(prep.rgb, prep.student_cards, prep.train_labels, names,
                              DistillConfig(seed=seed), prep.val_labels,
                              embed_dim=prep.targets.features.shape[0])
        row: dict = {"seed": seed}
        for who, model, cards in (("student", s_model, {"rgb": s_card.modality("rgb")}),
                                  ("baseline", base.model, prep.student_cards)):
            for test in tests:
                probs = softmax(np.nan_to_num(predict_area(model, test.rgb, cards)[0]))
                for name, q in smoothed(probs, test.rgb["rgb"]).items():
                    oa = float((q.argmax(axis=0) == test.truth)[test.mask].mean())
                    row.setdefault(who, {}).setdefault(name, []).append(oa)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n| {args.preset} | student OA | baseline OA | gain (pts) | pairs ≥ +5 |\n|---|---|---|---|---|")
    for name in rows[0]["student"]:
        s = [statistics.mean(r["student"][name]) for r in rows]
        b = [statistics.mean(r["baseline"][name]) for r in rows]
        g = [100 * (x - y) for x, y in zip(s, b)]
        pairs = sum(100 * (x - y) >= 5 for r in rows for x, y in zip(r["student"][name], r["baseline"][name]))
        sd = statistics.stdev(g) if len(g) > 1 else 0.0
        print(f"| {name} | {statistics.mean(s):.3f} | {statistics.mean(b):.3f} | "
              f"{statistics.mean(g):+.1f} ± {sd:.1f} | {pairs} of {len(g) * len(tests)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
