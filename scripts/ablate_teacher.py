#!/usr/bin/env python3
"""How good a teacher the benchmark's training data allow (issue 4): teacher variants scored on
never-seen scenes.

Uses the scenes and the teacher of ``scripts/bench_distillation.py`` (run it first with the same
``--work-dir``, ``--teacher-only`` being enough). Each variant trains teachers on the training
scene (seed 1, 20 labels per class, the benchmark's split) and scores their classes against the
full-resolution truth of the test scenes over the pixels where the teacher has inputs, like the
benchmark. Variants:

* ``benchmark``: the benchmark's own teacher file (``teacher.cmkd``);
* ``seed<N>``: one teacher (``MEMBERS`` 1), otherwise the default settings, seed N (the
  benchmark's teacher was this with seed 0 until ensembles became the default);
* ``ensemble<N>``: the product's ensemble (``MEMBERS`` N): the mean class probabilities of
  teachers with seeds 0 … N−1 (``ensemble<N>s<S>``: seeds S … S+N−1);
* ``noaug[s<S>]``: the product's ensemble trained without the modality-specific augmentation
  (``TeacherTrainConfig.augment``);
* ``mix<F>``: the product's ensemble trained with areal mixing F (``TeacherTrainConfig.mixing``:
  that share of the samples made linear mixtures of two labelled ones, with soft targets;
  ``mix<F>s<S>``: seeds S … S+2);
* ``epochs100``: one teacher trained 100 epochs without early stopping before the last;
* ``self<C>``: self-training — a seed-0 teacher, then a second one trained on the labels plus
  the first one's classes wherever its top probability is at least C (outside the validation
  blocks); ``selfens<N>_<C>``: the same with the ensemble of N (seeds 0 … N−1) both times
  (``selfens<N>s<S>_<C>``: seeds S … S+N−1).

``--refine`` scores the maps as ``cmkd:classify`` makes them: the probabilities refined by the
RGB over one teacher pixel (docs/DISTILLATION.md, *Sharper teacher maps*).

Usage::

    .venv/bin/python scripts/ablate_teacher.py --work-dir /tmp/cmkd-bench \\
        [--presets mars_analogue] [--variants seed0 seed1 seed2 ensemble3 self0.8]

One JSON line per variant goes to ``teacher_ablation.jsonl`` in the work folder. About 5–20 s
per teacher on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))  # bench_distillation (which puts the repository on the path)

from bench_distillation import bench_teacher, read_scene, softmax, teacher_logits  # noqa: E402
from cmkd_plugin.engine.geo.labels import UNLABELLED  # noqa: E402
from cmkd_plugin.engine.models.modelfile import load_model  # noqa: E402
from cmkd_plugin.engine.simulator.presets import preset_classes  # noqa: E402
from cmkd_plugin.engine.models.resample import upsample_area, upsample_mask  # noqa: E402
from cmkd_plugin.engine.training.common import refined_classes  # noqa: E402
from cmkd_plugin.engine.training.config import DataConfig, TeacherTrainConfig  # noqa: E402
from cmkd_plugin.engine.training.metrics import evaluate  # noqa: E402
from cmkd_plugin.engine.training.teacher import TeacherResult, train_teacher  # noqa: E402


# The single-teacher variants stay single teachers whatever the engine's default ``members``.
SINGLE = TeacherTrainConfig(seed=0, members=1)


def logits(teacher: TeacherResult, scene) -> tuple[np.ndarray, np.ndarray]:
    """(K, h, w) class logits of ``teacher`` on its grid (0 without inputs), and where it has inputs."""
    out, valid = teacher_logits(teacher.model, teacher.cards, scene)
    return np.nan_to_num(out), valid


def self_trained(scene, min_confidence: float, config: TeacherTrainConfig = SINGLE) -> TeacherResult:
    """A teacher of ``config`` (by default the single seed-0 one; an ensemble gives its mean
    probabilities), retrained alike on the labels plus its own classes wherever its top
    probability is at least ``min_confidence``, in the training area only."""
    first = train_teacher(scene, config)
    z, valid = logits(first, scene)
    probs = softmax(z)
    confident = valid & (probs.max(axis=0) >= min_confidence) & (scene.val_labels(coarse=True) == UNLABELLED)
    train = scene.train_labels(coarse=True)
    labels = np.where(train != UNLABELLED, train, np.where(confident, probs.argmax(axis=0), UNLABELLED))
    print(f"self-training: {int(confident.sum())} pseudo-labelled teacher pixels", file=sys.stderr)
    return train_teacher(replace(scene, labels_coarse=labels.astype(np.uint8)), config)


def teacher(variant: str, scene, work: Path) -> TeacherResult:
    if variant == "benchmark":
        model, card = load_model(work / "teacher.cmkd", "teacher")
        return TeacherResult(model, {m.name: m for m in card.modalities}, best_epoch=-1)
    if variant.startswith("seed"):
        return train_teacher(scene, replace(SINGLE, seed=int(variant[4:])))
    if variant.startswith("ensemble"):  # the product's ensemble (MEMBERS): seeds S ... S+N-1
        members, _, first = variant[8:].partition("s")
        return train_teacher(scene, TeacherTrainConfig(members=int(members), seed=int(first or 0)))
    if variant.startswith("mix"):  # mix<F>[s<S>]: the product's ensemble, areal mixing F
        share, _, first = variant[3:].partition("s")
        return train_teacher(scene, TeacherTrainConfig(mixing=float(share), seed=int(first or 0)))
    if variant.startswith("noaug"):  # noaug[s<S>]: the product's ensemble without augmentation
        first = variant[5:].lstrip("s")
        return train_teacher(scene, TeacherTrainConfig(augment=False, seed=int(first or 0)))
    if variant == "epochs100":
        return train_teacher(scene, replace(SINGLE, epochs=100, patience_epochs=100))
    if variant.startswith("selfens"):  # selfens<N>[s<S>]_<C>: an ensemble of N, self-trained at C
        size, _, confidence = variant[7:].partition("_")
        members, _, first = size.partition("s")
        return self_trained(scene, float(confidence),
                            TeacherTrainConfig(members=int(members), seed=int(first or 0)))
    if variant.startswith("self"):
        return self_trained(scene, float(variant[4:]))
    raise SystemExit(f"unknown variant {variant!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/cmkd-bench"))
    parser.add_argument("--presets", nargs="+", default=["earth_carbonation", "mars_analogue"])
    parser.add_argument("--variants", nargs="+", default=["seed0", "seed1", "seed2", "ensemble3"])
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--split-seed", type=int, default=DataConfig().seed,
                        help="seed of the spatial block split of the labels (the benchmark's: 0)")
    parser.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    parser.add_argument("--interpolate", choices=["logits", "probabilities"], default="logits",
                        help="what is upsampled onto the truth's grid before the arg-max (the "
                             "benchmark: logits)")
    parser.add_argument("--refine", action="store_true",
                        help="refine the probabilities by the RGB, as cmkd:classify does")
    args = parser.parse_args()
    for preset in args.presets:
        work = args.work_dir / preset
        names = tuple(c.name for c in preset_classes(preset))
        _, card = load_model(bench_teacher(parser, args.work_dir, preset), "teacher")
        train, _ = read_scene(work / f"scene_{args.train_seed}", card, names, labels=True, data=DataConfig(seed=args.split_seed))
        tests = {s: read_scene(work / f"scene_{s}", card, names) for s in args.test_seeds}
        for variant in args.variants:
            result = teacher(variant, train, work)
            oa = {}
            for seed, (scene, truth) in tests.items():
                # By default like the benchmark: the logits upsampled (an ensemble's: log of its
                # members' mean probabilities), then the arg-max.
                z, valid = logits(result, scene)
                if args.interpolate == "probabilities":
                    z = softmax(z)
                mask = upsample_mask(valid, scene.factor, scene.grid.shape) & scene.valid
                if args.refine:
                    pred = refined_classes(z, scene.factor, {"rgb": scene.rgb},
                                           {"rgb": result.cards["rgb"]}, scene.factor, mask)
                else:
                    pred = upsample_area(z, scene.factor, scene.grid.shape).argmax(axis=0)
                oa[str(seed)] = evaluate(truth, pred, names, mask)["oa"]
            row = {"preset": preset, "variant": variant, "split_seed": args.split_seed, "interpolate": args.interpolate,
                   "refined": args.refine, "teacher_oa": oa,
                   "mean_oa": float(np.mean(list(oa.values()))),
                   "best_epochs": result.member_best_epochs or [result.best_epoch]}
            print(json.dumps(row), flush=True)
            with open(args.work_dir / "teacher_ablation.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
