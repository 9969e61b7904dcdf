#!/usr/bin/env python3
"""Benchmark of the distillation tuning: differential evolution vs grid vs random search at the
same number of evaluations, on simulator scenes of several seeds.

For each scene seed: simulate an ``earth_carbonation`` scene, prepare the bundled teacher's
targets once (:func:`~cmkd_plugin.engine.training.pipeline.prepare_distillation`), score the
default settings (``DistillConfig``'s) as a reference, then run each
search method through the same objective as ``cmkd:tunedistillation`` (short distillations scored
at the validation blocks of the labels, the scene seed as the search and distillation seed).
Reported per method: the best validation score reached (overall accuracy; the score adds
1e-3 x macro-F1 as a tie-break), the search's wall time, and the best settings re-scored against
the simulator's full truth raster (every valid RGB pixel, almost all of them never labelled),
which says whether a better validation score is a better map or an overfit to a few labels.

Usage::

    python scripts/bench_tuning.py --work-dir /tmp/cmkd-bench-tuning [--seeds 1 2 3] [--budget 12]

Prints a Markdown table ready for the README and writes ``bench_tuning.json`` in the work folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import torch  # noqa: E402

from cmkd_plugin.engine.feedback import Feedback  # noqa: E402
from cmkd_plugin.engine.paths import resources_dir  # noqa: E402
from cmkd_plugin.engine.training.common import predict_area  # noqa: E402
from cmkd_plugin.engine.training.config import DistillConfig, TuningConfig, TUNING_METHODS  # noqa: E402
from cmkd_plugin.engine.training.metrics import evaluate  # noqa: E402
from cmkd_plugin.engine.training.pipeline import DistillationInputs, prepare_distillation  # noqa: E402
from cmkd_plugin.engine.training.tune import Objective, active_dimensions, search  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_distillation import simulate  # noqa: E402

PRESET = "earth_carbonation"
#: The default settings as a point of the search space (end temperature as a fraction of start).
_D = DistillConfig()
DEFAULT_POINT = {"temperature_start": _D.temperature_start,
                 "temperature_end_fraction": _D.temperature_end / _D.temperature_start,
                 "feature_weight": _D.feature_weight, "class_balance_beta": _D.class_balance_beta}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def truth_oa(prepared: DistillationInputs, config: DistillConfig, truth: np.ndarray) -> dict:
    """Distil with ``config`` (deterministic: the same model the search scored) and score the map
    against the full truth raster over the valid RGB pixels."""
    result = prepared.distil(config, Feedback())
    logits, _, valid = predict_area(result.model, prepared.rgb, prepared.student_cards)
    m = evaluate(truth, logits.argmax(axis=0), prepared.scene.class_names, valid & prepared.scene.valid)
    return {"oa": m["oa"], "macro_f1": m["macro_f1"], "pixels": m["pixels"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", "--output-dir", dest="work_dir", type=Path,
                        default=Path("/tmp/cmkd-bench-tuning"),
                        help="scenes, tables and bench_tuning.json (--output-dir: for bench.sh)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size-px", type=int, default=512)
    parser.add_argument("--labels-per-class", type=int, default=40)
    parser.add_argument("--budget", type=int, default=12, help="evaluations per search")
    parser.add_argument("--eval-epochs", type=int, default=4)
    parser.add_argument("--eval-patches-per-epoch", type=int, default=96)
    parser.add_argument("--methods", nargs="+", default=list(TUNING_METHODS))
    parser.add_argument("--teacher", type=Path,
                        default=resources_dir() / "models" / f"{PRESET}_teacher.cmkd")
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    fb = Feedback(on_warning=lambda m: log("warning: " + m))
    base = DistillConfig()
    results: dict = {"settings": vars(args), "seeds": {}}
    for seed in args.seeds:
        folder = simulate(PRESET, seed, args.size_px, args.work_dir / f"scene_{seed}",
                          args.labels_per_class)
        t0 = time.perf_counter()
        prepared = prepare_distillation(str(args.teacher), str(folder / "rgb.tif"),
                                        str(folder / "hsi.tif"), str(folder / "dem.tif"),
                                        str(folder / "labels.gpkg"), feedback=fb)
        prepare_s = time.perf_counter() - t0
        with rasterio.open(folder / "truth.tif") as ds:
            truth = ds.read(1)
        val_pixels = int((prepared.val_labels != 255).sum()) if prepared.val_labels is not None else 0
        log(f"seed {seed}: prepared in {prepare_s:.1f} s, {val_pixels} validation label pixels")
        seed_result: dict = {"prepare_s": prepare_s, "validation_pixels": val_pixels, "methods": {}}
        # The default settings through the same objective: the reference a search should beat.
        ref_tuning = TuningConfig(max_evaluations=1, eval_epochs=args.eval_epochs,
                                  eval_patches_per_epoch=args.eval_patches_per_epoch, seed=seed)
        ref = Objective(prepared, base, ref_tuning, None, fb)
        ref([DEFAULT_POINT[d.name] for d in active_dimensions(ref_tuning)])
        default_eval = ref.evaluations[0]
        seed_result["default"] = {"validation_oa": default_eval.oa, "score": default_eval.score,
                                  "seconds": default_eval.seconds,
                                  "truth": truth_oa(prepared, replace(ref.config, **default_eval.settings),
                                                    truth)}
        log(f"seed {seed}: default settings validation OA {default_eval.oa:.3f}")
        for method in args.methods:
            tuning = replace(ref_tuning, method=method, max_evaluations=args.budget)
            t1 = time.perf_counter()
            evaluations = search(prepared, base, tuning, args.work_dir / f"seed{seed}_{method}.csv", fb)
            wall = time.perf_counter() - t1
            best = max(evaluations, key=lambda e: e.score)
            config = replace(base, epochs=tuning.eval_epochs,
                             patches_per_epoch=tuning.eval_patches_per_epoch, seed=seed,
                             **best.settings)
            seed_result["methods"][method] = {
                "evaluations": len(evaluations), "wall_s": wall,
                "best_validation_oa": best.oa, "best_score": best.score,
                "best_evaluation": best.index, "best_settings": best.settings,
                "scores": [e.score for e in evaluations],
                "truth": truth_oa(prepared, config, truth)}
            log(f"seed {seed} {method}: best validation OA {best.oa:.3f} at #{best.index} of "
                f"{len(evaluations)}, {wall:.0f} s")
        results["seeds"][seed] = seed_result
        (args.work_dir / "bench_tuning.json").write_text(json.dumps(results, indent=2, default=str))

    print(f"| scene seed | method | evaluations | best validation OA | found at # | "
          f"truth OA of best | search wall time (s) |")
    print("|---|---|---|---|---|---|---|")
    for seed, r in results["seeds"].items():
        d = r["default"]
        print(f"| {seed} | default settings | 1 | {d['validation_oa']:.3f} | – | "
              f"{d['truth']['oa']:.3f} | {d['seconds']:.0f} |")
        for method, m in r["methods"].items():
            print(f"| {seed} | {method} | {m['evaluations']} | {m['best_validation_oa']:.3f} | "
                  f"{m['best_evaluation']} | {m['truth']['oa']:.3f} | {m['wall_s']:.0f} |")
    print()
    print("| method | mean best validation OA | mean truth OA of best | mean wall time (s) |")
    print("|---|---|---|---|")
    seeds = list(results["seeds"].values())
    rows = [("default settings", [s["default"]["validation_oa"] for s in seeds],
             [s["default"]["truth"]["oa"] for s in seeds], [s["default"]["seconds"] for s in seeds])]
    for method in args.methods:
        ms = [s["methods"][method] for s in seeds]
        rows.append((method, [m["best_validation_oa"] for m in ms], [m["truth"]["oa"] for m in ms],
                     [m["wall_s"] for m in ms]))
    for name, val, tru, wall in rows:
        print(f"| {name} | {np.mean(val):.3f} | {np.mean(tru):.3f} | {np.mean(wall):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
