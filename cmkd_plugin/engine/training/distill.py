"""Cross-modal distillation of a small student from the teacher (or a chain of them).

Transfer set: every reference-grid pixel where the teacher's inputs exist (its valid mask),
labelled or not. Loss per step (:func:`~..models.losses.distillation_loss`):
``T^2 KL(teacher || student at T) + feature_weight (1 - cos(student, teacher features))
+ ce_weight CE(labels)``, T annealed per step from ``temperature_start`` to ``temperature_end``,
optionally weighted by the rarity of the teacher's class.

The student trains at its native resolution; the teacher's logits and fused features, computed
once on the teacher grid, are bilinearly upsampled onto each student patch
(:func:`student_grid_logits`, :func:`~..models.resample.upsample_targets`; the logits or, with
``target_interpolation="probabilities"``, the class probabilities; with ``"guided"``, those
probabilities refined by the student's own fine image, :mod:`~..models.guided`), or, with
``target_match="block"``, each teacher pixel is compared with the mean of the student pixels
under it (:func:`~..models.losses.block_distillation_loss`; measured worse, docs/DISTILLATION.md).
Progressive chain: HSI -> simulated multispectral (8 Sentinel-2-like bands made from the HSI
with Gaussian spectral response functions) -> RGB, the multispectral student serving as the
intermediate teacher.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..errors import InputError
from ..feedback import Feedback
from ..geo.labels import UNLABELLED
from ..geo.spectral import SpectralBands, SpectralMatchConfig, SpectralResampler
from ..models.card import ModalityCard
from ..models.guided import guide_image, refine_probabilities
from ..models.losses import block_distillation_loss, class_balanced_weights, distillation_loss
from ..models.resample import crop_coarse, crop_padded, upsample_mask, upsample_targets
from ..models.schedule import temperature_at
from ..models.student import Student, make_student
from .common import (WeightAverage, crop_labels, labelled_pixels, patch_origins, predict_area,
                     predict_pixels, seed_everything, single_threaded, training_batch)
from .config import MULTISPECTRAL_BANDS_NM, DistillConfig
from .metrics import evaluate, selection_score


@dataclass
class Targets:
    """What the (intermediate) teacher says about every pixel of its grid.

    Attributes:
        logits: (K, h, w) float32.
        features: (D, h, w) float16 fused features.
        valid: (h, w) pixels where the teacher's inputs exist (the transfer set).
    """

    logits: np.ndarray
    features: np.ndarray
    valid: np.ndarray


@dataclass
class StudentResult:
    """A distilled (or baseline) student, its history and the epoch kept.

    For benchmarks of the model selection, whichever epoch was kept: ``alternatives`` holds the
    averaged weights of the ``"last"`` epoch and of the epoch with the highest validation score
    (``"best_score"``, absent without validation labels), and ``best_score_epoch`` that epoch."""

    model: Student
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    alternatives: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    best_score_epoch: int | None = None


def compute_targets(model: torch.nn.Module, inputs: Mapping[str, np.ndarray],
                    cards: Mapping[str, ModalityCard], feedback: Feedback | None = None) -> Targets:
    """Run a teacher once over its whole grid (logits, features, validity)."""
    logits, features, valid = predict_area(model, inputs, cards, feedback, with_features=True)
    assert features is not None
    return Targets(logits, features, valid)


def student_grid_logits(coarse: np.ndarray, origins: np.ndarray, size: int, factor: int,
                        temperature: float, interpolation: str = "logits",
                        guide: np.ndarray | None = None) -> torch.Tensor:
    """The teacher's (K, h, w) logits on ``size`` student patches (origins multiples of
    ``factor``) for a loss that divides them by ``temperature``.

    ``"logits"``: the logits interpolated bilinearly. ``"probabilities"``: the teacher's class
    probabilities at ``temperature`` interpolated instead — a student pixel between two teacher
    pixels gets the mixture of their distributions — returned as ``temperature × log`` of
    them, so that ``softmax(· / temperature)`` gives them back. ``"guided"``: those
    probabilities refined by ``guide`` (the student's own normalised inputs, (C, H, W)) with a
    guided filter of radius one teacher pixel (:mod:`~..models.guided`), so that they follow
    the edges of the fine image inside each teacher pixel; computed on the patch plus a margin
    of two radii, which makes it the same as filtering the whole scene (away from its edges).
    """
    if interpolation == "logits":
        return upsample_targets(coarse, origins, size, factor)
    soft = lambda t: torch.softmax(t / temperature, dim=1)  # noqa: E731
    if interpolation == "probabilities" or factor == 1 or guide is None:
        probs = upsample_targets(coarse, origins, size, factor, before=soft)
    else:
        margin = 2 * factor
        wide = upsample_targets(coarse, origins - margin, size + 2 * margin, factor, before=soft)
        g = crop_padded(guide, origins - margin, size + 2 * margin)
        probs = refine_probabilities(g, wide, radius=factor)[
            :, :, margin:margin + size, margin:margin + size]
    return temperature * torch.log(probs.clamp_min(1e-12))


def multispectral_bands() -> SpectralBands:
    """The simulated multispectral bands of the progressive chain."""
    return SpectralBands(tuple(c for c, _ in MULTISPECTRAL_BANDS_NM),
                         tuple(f for _, f in MULTISPECTRAL_BANDS_NM), None, "Sentinel-2-like")


def simulate_multispectral(hsi: np.ndarray, hsi_bands: SpectralBands) -> np.ndarray:
    """(8, h, w) multispectral reflectance from an HSI cube by Gaussian SRFs.

    Raises:
        InputError: the HSI does not cover most of the multispectral bands.
    """
    resampler = SpectralResampler(hsi_bands, multispectral_bands(),
                                  SpectralMatchConfig(min_overlap_fraction=0.75), "HSI", "HSI")
    cube = hsi[np.asarray(resampler.band_indexes) - 1] if len(resampler.band_indexes) != hsi.shape[0] else hsi
    return resampler(cube)


def _eval_every(epochs: int) -> int:
    return max(1, epochs // 10)


# Validation pixels scored per model-selection pass: enough for a stable OA, cheap on a CPU.
MAX_SELECTION_PIXELS = 4096


def validation_predictions(model: Student, inputs: Mapping[str, np.ndarray],
                           cards: Mapping[str, ModalityCard], val_labels: np.ndarray | None,
                           valid: np.ndarray | None = None,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """``(truth, predicted class)`` at the validation labels only, at most
    :data:`MAX_SELECTION_PIXELS` of them (drawn with ``seed``, the same ones on every call);
    None without validation labels.

    Each pixel is predicted from a patch just larger than the receptive field, which gives the
    same class as a whole-area prediction (replicate padding) at a tiny fraction of the cost.
    """
    if val_labels is None or not (val_labels != UNLABELLED).any():
        return None
    rows, cols = labelled_pixels(val_labels)
    if valid is not None:
        keep = valid[rows, cols]
        rows, cols = rows[keep], cols[keep]
    if rows.size == 0:
        return None
    if rows.size > MAX_SELECTION_PIXELS:
        pick = np.sort(np.random.default_rng(seed).choice(rows.size, MAX_SELECTION_PIXELS, replace=False))
        rows, cols = rows[pick], cols[pick]
    size = 2 * model.config.encoder_depth + 3
    return val_labels[rows, cols], predict_pixels(model, inputs, cards, rows, cols, size)


def validation_metrics(model: Student, inputs: Mapping[str, np.ndarray],
                       cards: Mapping[str, ModalityCard], val_labels: np.ndarray | None,
                       class_names: tuple[str, ...], valid: np.ndarray | None = None,
                       seed: int = 0) -> dict[str, Any] | None:
    """Metrics (:func:`~.metrics.evaluate`) of :func:`validation_predictions`; None without
    validation labels."""
    found = validation_predictions(model, inputs, cards, val_labels, valid, seed)
    return None if found is None else evaluate(found[0], found[1], class_names)


@dataclass
class _Score:
    """A model's :func:`selection_score` on the validation pixels and, per pixel, whether it
    was right (for the paired comparison of :class:`_BestEpoch`)."""

    value: float
    correct: np.ndarray


def _select(model: Student, inputs: Mapping[str, np.ndarray], cards: Mapping[str, ModalityCard],
            val_labels: np.ndarray | None, class_names: tuple[str, ...],
            valid: np.ndarray | None = None, seed: int = 0) -> _Score | None:
    """:class:`_Score` of ``model`` on the validation labels (None without them)."""
    found = validation_predictions(model, inputs, cards, val_labels, valid, seed)
    if found is None:
        return None
    truth, pred = found
    return _Score(selection_score(evaluate(truth, pred, class_names)), pred == truth)


# How many standard errors of chance an earlier epoch must beat the last by to be kept instead.
SELECTION_Z = 2.0


def clearly_better(earlier: np.ndarray, last: np.ndarray, z: float = SELECTION_Z) -> bool:
    """Whether a model right at the pixels ``earlier`` beats one right at ``last`` (the same
    validation pixels) by more than chance: McNemar's paired comparison, ``b - c > z sqrt(b + c)``
    with ``b`` the pixels only the earlier model gets right and ``c`` those only the last does."""
    b = int(np.count_nonzero(earlier & ~last))
    c = int(np.count_nonzero(last & ~earlier))
    return b - c > z * math.sqrt(b + c)


class _BestEpoch:
    """Model selection of the students and the baseline: the **last** epoch's averaged weights
    (:class:`~.common.WeightAverage`), unless an earlier epoch's scored best on the validation
    labels and :func:`clearly_better` than the last there.

    The one-cycle learning rate and the temperature schedule end at the last epoch: it is the
    model the recipe aims at. Validation sets are a few dozen to a few hundred labelled pixels,
    whose OA moves by points between epochs by chance; the best of ten such scores used to be
    kept, and on a plateau that was an early, half-trained epoch (docs/DISTILLATION.md, *Keep
    the last epoch unless an earlier one is clearly better*). A run that over-fits its labels
    still falls back to the epoch before it did.
    """

    def __init__(self, average: WeightAverage, epochs: int) -> None:
        self.average = average
        self.epochs = epochs
        self.best: tuple[int, _Score, dict[str, torch.Tensor]] | None = None
        self.last: _Score | None = None
        self.epoch = epochs

    def consider(self, epoch: int, score: Callable[[torch.nn.Module], _Score | None]) -> float | None:
        """Score the averaged weights after ``epoch`` (every scored epoch, and the last one);
        returns the selection score, None without validation labels."""
        with self.average.applied() as model:
            value = score(model)
            if value is not None and (self.best is None or value.value >= self.best[1].value):
                self.best = (epoch, value, copy.deepcopy(model.state_dict()))
        if epoch == self.epochs:
            self.last = value
        return None if value is None else value.value

    def keep(self) -> dict[str, torch.Tensor]:
        """Leave the kept epoch's weights in the model (the last averaged ones without a score)
        and set :attr:`epoch`; returns the last epoch's averaged weights."""
        self.average.finalise()
        final = copy.deepcopy(self.average.model.state_dict())
        self.epoch = self.epochs
        if (self.best is not None and self.last is not None and self.best[0] != self.epochs
                and clearly_better(self.best[1].correct, self.last.correct)):
            self.average.model.load_state_dict(self.best[2])
            self.epoch = self.best[0]
        return final

    def result(self, history: list[dict[str, float]]) -> StudentResult:
        """:meth:`keep`, and the :class:`StudentResult` of the run."""
        alternatives = {"last": self.keep()}
        if self.best is not None:
            alternatives["best_score"] = self.best[2]
        self.average.model.eval()
        return StudentResult(self.average.model, history, self.epoch, alternatives,  # type: ignore[arg-type]
                             self.best[0] if self.best is not None else None)


def batch_origins(rng: np.random.Generator, shape: tuple[int, int], size: int, batch_size: int,
                  transfer_centres: tuple[np.ndarray, np.ndarray],
                  label_centres: tuple[np.ndarray, np.ndarray] | None, label_fraction: float,
                  align: int) -> np.ndarray:
    """(batch_size, 2) patch origins of one distillation step.

    ``round(batch_size * label_fraction)`` patches contain a training label (none without
    ``label_centres``), the others a transfer-set pixel: where the teacher has no inputs
    (outside the HSI flight lines) a patch teaches nothing.
    """
    n_lab = round(batch_size * label_fraction) if label_centres is not None else 0
    origins = patch_origins(rng, shape, size, batch_size - n_lab, transfer_centres, align)
    if n_lab:
        origins = np.concatenate([origins, patch_origins(rng, shape, size, n_lab, label_centres, align)])
    return origins


@single_threaded
def distil(
    inputs: Mapping[str, np.ndarray],
    cards: Mapping[str, ModalityCard],
    valid: np.ndarray,
    targets: Targets,
    factor: int,
    class_names: tuple[str, ...],
    config: DistillConfig,
    labels: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    feedback: Feedback | None = None,
    label: str = "Student",
) -> StudentResult:
    """Distil a student on ``inputs`` from ``targets``.

    Args:
        inputs: raw (C, H, W) arrays of the student's modalities on its grid.
        cards: their modality cards (normalisation).
        valid: (H, W) pixels where the student's inputs exist.
        targets: the teacher's outputs on a grid ``factor`` times coarser (same origin).
        factor: student pixels per teacher pixel along each axis.
        class_names: classes.
        config: distillation parameters.
        labels: (H, W) training labels for the optional cross-entropy (255 unlabelled).
        val_labels: (H, W) validation labels for the model selection (:class:`_BestEpoch`;
            None: the last epoch).
        feedback: progress, messages, cancel (checked once per batch).
        label: name used in messages.
    """
    feedback = feedback or Feedback()
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed + 1)
    gen = torch.Generator().manual_seed(config.seed + 1)
    k, h_t, w_t = targets.logits.shape
    shape = (h_t * factor, w_t * factor)
    size = max(factor, min(config.patch_size_px, shape[0], shape[1]) // factor * factor)
    model = make_student(len(class_names), {n: a.shape[0] for n, a in inputs.items()},
                         encoder_width=config.encoder_width, encoder_depth=config.encoder_depth,
                         embed_dim=targets.features.shape[0])
    transfer = valid[: shape[0], : shape[1]] & upsample_mask(targets.valid, factor, shape)
    if not transfer.any():
        raise InputError("The teacher's inputs and the student's inputs share no valid pixel; "
                         "check that the rasters cover the same area.")
    # Centres of the teacher pixels with inputs, on the student's grid (a factor^2 smaller list
    # than the transfer pixels themselves).
    t_rows, t_cols = np.nonzero(targets.valid)
    transfer_centres = (t_rows * factor + factor // 2, t_cols * factor + factor // 2)
    pixel_weights = None
    if config.class_balanced:
        arg = targets.logits.argmax(axis=0)[targets.valid]
        pixel_weights = class_balanced_weights(np.bincount(arg, minlength=k),
                                               beta=config.class_balance_beta, method="inverse_power")
    use_ce = labels is not None and config.ce_weight > 0 and (labels != UNLABELLED).any()
    ce_weights = None
    centres = None
    if use_ce:
        assert labels is not None
        counts = np.bincount(labels[labels != UNLABELLED], minlength=k)
        ce_weights = class_balanced_weights(counts, beta=0.5, method="inverse_power")
        centres = labelled_pixels(labels[: shape[0], : shape[1]])
    block = config.target_match == "block" and factor > 1
    guide = (guide_image(inputs, cards)
             if config.target_interpolation == "guided" and not block and factor > 1 else None)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    steps_per_epoch = max(1, math.ceil(config.patches_per_epoch / config.batch_size))
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.learning_rate,
                                                total_steps=total, pct_start=0.15)
    history: list[dict[str, float]] = []
    step = 0
    average = WeightAverage(model, config.weight_average_decay, total)
    best = _BestEpoch(average, config.epochs)
    for epoch in range(config.epochs):
        model.train()
        sums = {"total": 0.0, "kd": 0.0, "feature": 0.0, "ce": 0.0}
        for _ in range(steps_per_epoch):
            feedback.check_cancelled()
            origins = batch_origins(rng, shape, size, config.batch_size, transfer_centres,
                                    centres, config.label_patch_fraction, factor)
            batch = training_batch(inputs, cards, origins, size,
                                   gen if config.augment else None)
            mask = torch.from_numpy(np.stack([transfer[r:r + size, c:c + size] for r, c in origins]))
            out = model(batch)
            temperature = temperature_at(
                (config.epochs - 1) * step / max(total - 1, 1), config.epochs,
                config.temperature_start, config.temperature_end)
            common = dict(labels=crop_labels(labels, origins, size) if use_ce else None,
                          ce_weight=config.ce_weight if use_ce else 0.0,
                          ce_class_weights=ce_weights, pixel_class_weights=pixel_weights)
            if block:
                loss = block_distillation_loss(
                    out.logits, crop_coarse(targets.logits, origins, size, factor), out.features,
                    crop_coarse(targets.features, origins, size, factor), mask & out.valid,
                    crop_coarse(targets.valid[None], origins, size, factor)[:, 0] > 0, factor,
                    temperature, config.feature_weight, **common)
            else:
                loss = distillation_loss(
                    out.logits, student_grid_logits(targets.logits, origins, size, factor, temperature,
                                                    config.target_interpolation, guide), out.features,
                    upsample_targets(targets.features, origins, size, factor), mask & out.valid,
                    temperature, config.feature_weight, **common)
            opt.zero_grad()
            loss["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            average.update()
            step += 1
            for key in sums:
                sums[key] += float(loss[key].detach()) / steps_per_epoch
            feedback.progress(100.0 * step / total)
        record = {"epoch": epoch + 1, "temperature": temperature, **sums}
        if (epoch + 1) % _eval_every(config.epochs) == 0 or epoch + 1 == config.epochs:
            score = best.consider(epoch + 1, lambda m: _select(
                m, inputs, cards, val_labels, class_names, valid, config.seed))
            if score is not None:
                record["val_score"] = score
        history.append(record)
        feedback.info(f"{label} epoch {epoch + 1}/{config.epochs}: loss {sums['total']:.4f} "
                      f"(kd {sums['kd']:.4f}, feature {sums['feature']:.4f}, ce {sums['ce']:.4f}), "
                      f"T {temperature:.2f}")
    return best.result(history)


__all__ = ["Targets", "StudentResult", "batch_origins", "compute_targets", "distil",
           "multispectral_bands", "student_grid_logits",
           "selection_score", "simulate_multispectral", "validation_metrics"]
