"""Teacher training on the teacher grid: class-weighted cross-entropy on the training labels,
modality-specific augmentation, modality dropout, early stopping on the validation blocks; by
default an ensemble of three such teachers with successive seeds (``members``)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..feedback import Feedback
from ..geo.labels import UNLABELLED
from ..models.card import ModalityCard
from ..models.config import ModalitySpec, TeacherConfig
from ..models.losses import class_balanced_weights, masked_cross_entropy, soft_cross_entropy
from ..models.teacher import Teacher, TeacherEnsemble
from .augment import mix_areas
from .common import (crop_labels, labelled_pixels, modality_card, patch_origins, predict_area,
                     predict_pixels, seed_everything, single_threaded, training_batch)
from .config import TeacherTrainConfig
from .data import SceneData
from .metrics import evaluate, selection_score


@dataclass
class TeacherResult:
    """A trained teacher and how it got there.

    Attributes:
        model: the teacher (eval mode, best validation epoch), or the ensemble of its members.
        cards: modality cards (normalisation statistics, wavelengths) in model order.
        history: per-epoch training loss and validation OA (with the ``member`` number, from
            1, for an ensemble).
        best_epoch: 1-based epoch kept (the first member's for an ensemble).
        val_metrics: metrics of the kept model on the validation labels (teacher grid).
        class_weights: weights of the cross-entropy.
        member_best_epochs: the epoch kept for each member.
    """

    model: Teacher | TeacherEnsemble
    cards: dict[str, ModalityCard]
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    val_metrics: dict[str, Any] = field(default_factory=dict)
    class_weights: list[float] = field(default_factory=list)
    member_best_epochs: list[int] = field(default_factory=list)


def teacher_cards(scene: SceneData) -> dict[str, ModalityCard]:
    """Modality cards of the teacher's inputs, statistics over the valid teacher-grid pixels."""
    valid = scene.valid_coarse
    cards = {"rgb": modality_card("rgb", scene.rgb_coarse, valid)}
    if scene.hsi is not None:
        assert scene.hsi_bands is not None
        cards["hsi"] = modality_card("hsi", scene.hsi, valid, scene.hsi_bands.wavelengths_nm,
                                     scene.hsi_bands.fwhm_nm)
    if scene.dem is not None:
        cards["dem"] = modality_card("dem", scene.dem, valid)
    return cards


@single_threaded
def train_teacher(scene: SceneData, config: TeacherTrainConfig,
                  feedback: Feedback | None = None) -> TeacherResult:
    """Train a teacher on ``scene`` (which must have labels and a split): one, or with
    ``config.members`` > 1 an ensemble of members trained alike with seeds ``seed``,
    ``seed + 1``, ... (each exactly the single teacher that seed gives) and kept together
    (:class:`~..models.teacher.TeacherEnsemble`).

    Raises:
        InputError: the scene has no labels.
        CancelledError: the user cancelled (checked once per batch).
    """
    feedback = feedback or Feedback()
    if scene.labels_coarse is None or scene.split is None:
        raise InputError("Teacher training needs labels; give a point or polygon label layer.")
    inputs = scene.teacher_inputs()
    # Pixels outside the common valid area are NaN in every modality: the model then sees
    # "no input" there instead of a partial pixel.
    inputs = {k: np.where(scene.valid_coarse[None], v, np.nan).astype(np.float32)
              for k, v in inputs.items()}
    cards = teacher_cards(scene)
    arch = TeacherConfig(
        n_classes=scene.n_classes,
        modalities=tuple(ModalitySpec(k, v.shape[0]) for k, v in inputs.items()),
        encoder_width=config.encoder_width,
        encoder_depth=config.encoder_depth,
        embed_dim=config.embed_dim,
        n_heads=config.n_heads,
    )
    train_lab = scene.train_labels(coarse=True)
    val_lab = scene.val_labels(coarse=True)
    if not (val_lab != UNLABELLED).any():
        feedback.warning("No validation labels: early stopping and metrics use the training labels.")
        val_lab = train_lab
    counts = np.bincount(train_lab[train_lab != UNLABELLED], minlength=scene.n_classes)
    weights = class_balanced_weights(counts, beta=0.5, method="inverse_power")
    members, history, best_epochs = [], [], []
    n = config.members
    for i in range(n):
        if n > 1:
            feedback.info(f"Ensemble member {i + 1} of {n} (seed {config.seed + i})")
        member, member_history, best_epoch = _train_member(
            scene, replace(config, seed=config.seed + i), arch, inputs, cards, train_lab, val_lab,
            weights, feedback.step(100.0 * i / n, 100.0 * (i + 1) / n))
        members.append(member)
        history += [{**h, "member": i + 1} for h in member_history] if n > 1 else member_history
        best_epochs.append(best_epoch)
    if n == 1:
        model = members[0]
    else:
        model = TeacherEnsemble(replace(arch, members=n), members)
    model.eval()
    logits, _, valid = predict_area(model, inputs, cards)
    val_metrics = evaluate(val_lab, logits.argmax(axis=0), scene.class_names, valid)
    return TeacherResult(model, cards, history, best_epochs[0], val_metrics, weights.tolist(),
                         best_epochs)


def _train_member(scene: SceneData, config: TeacherTrainConfig, arch: TeacherConfig,
                  inputs: dict[str, np.ndarray], cards: dict[str, ModalityCard],
                  train_lab: np.ndarray, val_lab: np.ndarray, weights: np.ndarray,
                  feedback: Feedback) -> tuple[Teacher, list[dict[str, float]], int]:
    """One teacher with ``config.seed``: the model at its best validation epoch, the history,
    that epoch."""
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = Teacher(arch)
    centres = labelled_pixels(train_lab)
    val_pixels = labelled_pixels(val_lab)
    h, w = train_lab.shape
    size = min(config.patch_size_px, h, w)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                            weight_decay=config.weight_decay)
    steps_per_epoch = max(1, math.ceil(config.patches_per_epoch / config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.learning_rate,
                                                total_steps=total_steps, pct_start=0.15)
    best_state, best_score, best_epoch, stale = None, -1.0, 0, 0
    history: list[dict[str, float]] = []
    step = 0
    for epoch in range(config.epochs):
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            feedback.check_cancelled()
            # Labels are sparse: a small patch centred on a label holds its whole receptive
            # field, so nothing is spent on unlabelled context.
            origins = patch_origins(rng, (h, w), size, config.batch_size, centres, jitter=False)
            batch = training_batch(inputs, cards, origins, size,
                                   gen if config.augment else None)
            labels = crop_labels(train_lab, origins, size)
            if config.mixing > 0:
                batch, targets, has_target = mix_areas(batch, labels, arch.n_classes,
                                                       config.mixing, gen)
            out = model(batch, modality_dropout=config.modality_dropout)
            if config.mixing > 0:
                loss = soft_cross_entropy(out.logits, targets, has_target & out.valid, weights)
            else:
                loss = masked_cross_entropy(out.logits, labels, out.valid, weights)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            feedback.progress(100.0 * step / total_steps)
        vr, vc = val_pixels
        pred = predict_pixels(model, inputs, cards, vr, vc, size)
        m = evaluate(val_lab[vr, vc], pred, scene.class_names, scene.valid_coarse[vr, vc])
        score = selection_score(m)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_oa": m["oa"] or 0.0,
                        "val_score": score})
        feedback.info(f"Teacher epoch {epoch + 1}/{config.epochs}: loss {np.mean(losses):.4f}, "
                      f"validation OA {m['oa'] or 0.0:.4f}")
        stale = 0 if score > best_score else stale + 1
        if score >= best_score:  # a tie goes to the later epoch: small validation sets tie often
            best_state, best_score, best_epoch = copy.deepcopy(model.state_dict()), score, epoch + 1
        if stale >= config.patience_epochs:
            feedback.info(f"Early stopping: no validation improvement for {stale} epochs.")
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    return model, history, best_epoch
