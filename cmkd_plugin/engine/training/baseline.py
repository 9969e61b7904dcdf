"""The RGB-only baseline: the student's architecture trained on the labels alone, with the same
budget (epochs x patches x batch) and the same model selection as the distilled student. It is
what a user would get from RGB and the same labels without the HSI/DEM teacher."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch

from ..feedback import Feedback
from ..geo.labels import UNLABELLED
from ..models.card import ModalityCard
from ..models.losses import class_balanced_weights, masked_cross_entropy
from ..models.student import make_student
from .common import (WeightAverage, crop_labels, labelled_pixels, patch_origins, seed_everything,
                     single_threaded, training_batch)
from .config import DistillConfig
from .distill import StudentResult, _BestEpoch, _eval_every, _select


@single_threaded
def train_baseline(
    inputs: Mapping[str, np.ndarray],
    cards: Mapping[str, ModalityCard],
    labels: np.ndarray,
    class_names: tuple[str, ...],
    config: DistillConfig,
    val_labels: np.ndarray | None = None,
    embed_dim: int = 256,
    feedback: Feedback | None = None,
) -> StudentResult:
    """Train the student architecture with class-weighted cross-entropy on ``labels`` only.

    Args:
        inputs: raw (C, H, W) arrays (RGB on the reference grid).
        cards: modality cards for normalisation.
        labels: (H, W) training labels, 255 unlabelled.
        class_names: classes.
        config: the distillation config (its budget, architecture and seed are reused).
        val_labels: validation labels for model selection.
        embed_dim: the student's feature width (the teacher's, for an identical architecture).
        feedback: progress and cancel.
    """
    feedback = feedback or Feedback()
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed + 2)
    gen = torch.Generator().manual_seed(config.seed + 2)
    k = len(class_names)
    model = make_student(k, {n: a.shape[0] for n, a in inputs.items()},
                         encoder_width=config.encoder_width, encoder_depth=config.encoder_depth,
                         embed_dim=embed_dim)
    first = next(iter(inputs.values()))
    shape = first.shape[1:]
    size = min(config.patch_size_px, shape[0], shape[1])
    counts = np.bincount(labels[labels != UNLABELLED], minlength=k)
    weights = class_balanced_weights(counts, beta=0.5, method="inverse_power")
    centres = labelled_pixels(labels)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    steps_per_epoch = max(1, math.ceil(config.patches_per_epoch / config.batch_size))
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.learning_rate,
                                                total_steps=total, pct_start=0.15)
    history = []
    step = 0
    average = WeightAverage(model, config.weight_average_decay, total)
    best = _BestEpoch(average, config.epochs)
    for epoch in range(config.epochs):
        model.train()
        total_loss = 0.0
        for _ in range(steps_per_epoch):
            feedback.check_cancelled()
            origins = patch_origins(rng, shape, size, config.batch_size, centres)
            batch = training_batch(inputs, cards, origins, size,
                                   gen if config.augment else None)
            out = model(batch)
            loss = masked_cross_entropy(out.logits, crop_labels(labels, origins, size), out.valid, weights)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            average.update()
            step += 1
            total_loss += float(loss.detach()) / steps_per_epoch
            feedback.progress(100.0 * step / total)
        record = {"epoch": epoch + 1, "ce": total_loss}
        if (epoch + 1) % _eval_every(config.epochs) == 0 or epoch + 1 == config.epochs:
            score = best.consider(epoch + 1, lambda m: _select(
                m, inputs, cards, val_labels, class_names, seed=config.seed))
            if score is not None:
                record["val_score"] = score
        history.append(record)
    return best.result(history)
