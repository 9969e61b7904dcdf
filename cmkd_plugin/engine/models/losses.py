"""Masked losses for teacher training and cross-modal distillation.

Every loss takes a boolean ``valid`` mask (B, H, W): pixels outside it (nodata in any required
input) contribute nothing, neither to the sum nor to the normaliser. Label values -1 and 255 are
"unlabelled" and ignored by the cross-entropy terms. A batch without any usable pixel gives a
zero loss that still back-propagates (zero gradients), so training loops need no special case.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE_LABELS = (-1, 255)
BALANCING_METHODS = ("effective_number", "inverse_power")


def labelled_mask(labels: Tensor, valid: Tensor | None = None) -> Tensor:
    """(B, H, W) bool: pixels with a real label (not -1/255) and, if given, inside ``valid``."""
    mask = torch.ones_like(labels, dtype=torch.bool)
    for ignored in IGNORE_LABELS:
        mask &= labels != ignored
    if valid is not None:
        mask &= valid.to(torch.bool)
    return mask


def _zero_outside(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` (B, C, H, W) with pixels outside ``mask`` set to 0.

    Masked pixels may hold anything (even NaN from nodata); ``torch.where`` gives them a zero
    gradient, whereas arithmetic masking (``0 * NaN``) would poison the weights.
    """
    return torch.where(mask.unsqueeze(1), x, torch.zeros((), dtype=x.dtype, device=x.device))


def _weighted_mean(values: Tensor, mask: Tensor, weights: Tensor | None, anchor: Tensor) -> Tensor:
    """Mean of ``values`` (B, H, W) over ``mask``, weighted per pixel; 0 (with grad) if empty."""
    if weights is None:
        weights = torch.ones_like(values)
    w = weights[mask]
    total = w.sum()
    if not bool(mask.any()) or float(total) <= 0.0:
        return anchor.sum() * 0.0
    return (values[mask] * w).sum() / total


def masked_cross_entropy(
    logits: Tensor, labels: Tensor, valid: Tensor | None = None, class_weights: Tensor | None = None
) -> Tensor:
    """Class-weighted cross-entropy over labelled, valid pixels.

    ``sum_i w[y_i] * -log softmax(logits_i)[y_i] / sum_i w[y_i]`` over the pixels i that are valid
    and labelled (the same normalisation as ``torch.nn.functional.cross_entropy``).

    Args:
        logits: (B, K, H, W).
        labels: (B, H, W) integer class index, -1 or 255 for unlabelled.
        valid: (B, H, W) bool, optional.
        class_weights: (K,) per-class weights, optional (e.g. from :func:`class_balanced_weights`).

    Returns:
        Scalar tensor.
    """
    mask = labelled_mask(labels, valid)
    logits = _zero_outside(logits, mask)
    safe_labels = torch.where(mask, labels, torch.zeros_like(labels)).long()
    nll = -F.log_softmax(logits, dim=1).gather(1, safe_labels.unsqueeze(1)).squeeze(1)
    weights = None if class_weights is None else class_weights.to(logits.dtype)[safe_labels]
    return _weighted_mean(nll, mask, weights, logits)


def soft_cross_entropy(
    logits: Tensor, targets: Tensor, mask: Tensor, class_weights: Tensor | None = None
) -> Tensor:
    """Class-weighted cross-entropy against soft targets (B, K, H, W) over the pixels of
    ``mask``: ``sum_i sum_k w[k] t_ik * -log softmax(logits_i)[k] / sum_i sum_k w[k] t_ik``;
    equal to :func:`masked_cross_entropy` for one-hot targets."""
    logits = _zero_outside(logits, mask)
    t = _zero_outside(targets.to(logits.dtype), mask)
    if class_weights is not None:
        t = t * class_weights.to(logits.dtype).view(1, -1, 1, 1)
    pixel_weight = t.sum(dim=1)
    nll = -(t * F.log_softmax(logits, dim=1)).sum(dim=1) / pixel_weight.clamp_min(1e-12)
    return _weighted_mean(nll, mask, pixel_weight, logits)


def class_balanced_weights(
    counts: Sequence[float] | np.ndarray | Tensor, beta: float = 0.999, method: str = "effective_number"
) -> Tensor:
    """Per-class weights that make rare classes weigh more.

    * ``effective_number`` (Cui et al., 2019): ``w_c = (1 - beta) / (1 - beta ** n_c)``,
      ``beta`` in [0, 1); beta = 0 gives equal weights, beta -> 1 tends to inverse frequency.
    * ``inverse_power``: ``w_c = 1 / n_c ** beta``; beta = 1 is inverse frequency, 0.5 its
      square root, 0 equal weights.

    Classes with a zero count get weight 0 (they have no pixels to weigh). The weights are scaled
    so that they sum to the number of classes present.

    Args:
        counts: (K,) pixel (or sample) count per class.
        beta: see above.
        method: one of :data:`BALANCING_METHODS`.

    Returns:
        (K,) float32 tensor.
    """
    n = torch.as_tensor(np.asarray(counts, dtype=np.float64), dtype=torch.float64)
    if n.ndim != 1 or bool((n < 0).any()) or not bool(torch.isfinite(n).all()):
        raise ValueError("counts must be a 1-D sequence of non-negative finite numbers")
    present = n > 0
    if not bool(present.any()):
        raise ValueError("counts are all zero: no class has any pixel")
    if method == "effective_number":
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1) for the effective number, got {beta}")
        raw = torch.where(present, (1.0 - beta) / (1.0 - beta ** n.clamp(min=1.0)), torch.zeros_like(n))
    elif method == "inverse_power":
        if beta < 0.0:
            raise ValueError(f"beta must be >= 0 for inverse_power, got {beta}")
        raw = torch.where(present, n.clamp(min=1.0) ** -beta, torch.zeros_like(n))
    else:
        raise ValueError(f"unknown balancing method '{method}'; use one of {', '.join(BALANCING_METHODS)}")
    return (raw * present.sum() / raw.sum()).to(torch.float32)


def kd_kl_per_pixel(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """(B, H, W) ``T^2 * KL(softmax(teacher/T) || softmax(student/T))``; the teacher gets no gradient."""
    t = float(temperature)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / t, dim=1)
    log_p_student = F.log_softmax(student_logits / t, dim=1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)
    return kl * (t * t)


def _check_weights(temperature: float, feature_weight: float, ce_weight: float) -> None:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if feature_weight < 0 or ce_weight < 0:
        raise ValueError("feature_weight and ce_weight must be >= 0")


def _weighted_terms(kl: Tensor, student_features: Tensor, teacher_features: Tensor,
                    teacher_logits: Tensor, mask: Tensor, pixel_class_weights: Tensor | None,
                    kd_anchor: Tensor, feature_anchor: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The kd and feature terms: means over ``mask`` of ``kl`` (B, H, W) and of
    ``1 - cos(student_features, teacher_features)``, each pixel weighted by
    ``pixel_class_weights`` of the teacher's arg-max class (unweighted without them)."""
    weights = None
    if pixel_class_weights is not None:
        weights = pixel_class_weights.to(kl.dtype)[teacher_logits.detach().argmax(dim=1)]
    cos = F.cosine_similarity(student_features, teacher_features.detach(), dim=1, eps=1e-8)
    return (_weighted_mean(kl, mask, weights, kd_anchor),
            _weighted_mean(1.0 - cos, mask, weights,
                           student_features if feature_anchor is None else feature_anchor))


def _combine(kd: Tensor, feature: Tensor, feature_weight: float, student_logits: Tensor,
             mask: Tensor, labels: Tensor | None, ce_weight: float,
             ce_class_weights: Tensor | None) -> dict[str, Tensor]:
    """``kd + feature_weight * feature (+ ce_weight * CE on labels)`` and its detached parts."""
    total = kd + feature_weight * feature
    if labels is not None and ce_weight > 0:
        ce = masked_cross_entropy(student_logits, labels, mask, ce_class_weights)
        total = total + ce_weight * ce
    else:
        ce = student_logits.new_zeros(())
    return {"total": total, "kd": kd.detach(), "feature": feature.detach(), "ce": ce.detach()}


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    student_features: Tensor,
    teacher_features: Tensor,
    valid: Tensor,
    temperature: float,
    feature_weight: float = 0.5,
    labels: Tensor | None = None,
    ce_weight: float = 0.0,
    ce_class_weights: Tensor | None = None,
    pixel_class_weights: Tensor | None = None,
) -> dict[str, Tensor]:
    """Cross-modal distillation loss over valid pixels.

    ``total = kd + feature_weight * feature + ce_weight * ce`` with

    * ``kd``: mean over valid pixels of ``T^2 * KL(teacher || student)`` at temperature T;
    * ``feature``: mean over valid pixels of ``1 - cos(student_features, teacher_features)``
      (cosine over the channel axis);
    * ``ce``: :func:`masked_cross_entropy` on ``labels`` (only when given and ``ce_weight > 0``).

    With ``pixel_class_weights`` (K,) the kd and feature means are weighted per pixel by the
    weight of the teacher's arg-max class (class-balanced distillation: rare minerals weigh more).
    Teacher tensors are detached.

    Args:
        student_logits, teacher_logits: (B, K, H, W).
        student_features, teacher_features: (B, D, H, W), same D.
        valid: (B, H, W) bool, pixels where the teacher's and the student's inputs exist.
        temperature: T > 0.
        feature_weight: weight of the feature term (>= 0).
        labels: (B, H, W) optional labels (-1/255 = none).
        ce_weight: weight of the label term (>= 0).
        ce_class_weights: (K,) class weights of the label term.
        pixel_class_weights: (K,) weights of the teacher's arg-max classes.

    Returns:
        ``{"total": loss to back-propagate, "kd", "feature", "ce": detached components}``.
    """
    _check_weights(temperature, feature_weight, ce_weight)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits differ in shape: {tuple(student_logits.shape)} vs "
            f"{tuple(teacher_logits.shape)} (same classes and tile needed)"
        )
    if student_features.shape != teacher_features.shape:
        raise ValueError(
            f"student and teacher features differ in shape: {tuple(student_features.shape)} vs "
            f"{tuple(teacher_features.shape)} (the student's embed_dim must equal the teacher's)"
        )
    mask = valid.to(torch.bool)
    student_logits = _zero_outside(student_logits, mask)
    teacher_logits = _zero_outside(teacher_logits.detach(), mask)
    student_features = _zero_outside(student_features, mask)
    teacher_features = _zero_outside(teacher_features.detach(), mask)
    kd, feature = _weighted_terms(kd_kl_per_pixel(student_logits, teacher_logits, temperature),
                                  student_features, teacher_features, teacher_logits, mask,
                                  pixel_class_weights, student_logits)
    return _combine(kd, feature, feature_weight, student_logits, mask, labels, ce_weight, ce_class_weights)


def block_distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    student_features: Tensor,
    teacher_features: Tensor,
    valid: Tensor,
    teacher_valid: Tensor,
    factor: int,
    temperature: float,
    feature_weight: float = 0.5,
    labels: Tensor | None = None,
    ce_weight: float = 0.0,
    ce_class_weights: Tensor | None = None,
    pixel_class_weights: Tensor | None = None,
) -> dict[str, Tensor]:
    """Distillation against a teacher ``factor`` times coarser, matched per teacher pixel.

    Each teacher pixel's class probabilities are read as the class *proportions* of the
    ``factor x factor`` student pixels under it (learning from label proportions): the student's
    probabilities are averaged over the block and compared with the teacher's, so a student that
    tells the sub-pixels apart from the RGB is not pulled towards the block's mixture at every
    pixel. ``kd`` is ``T^2 KL(softmax(teacher/T) || mean_block softmax(student/T))``; ``feature``
    is ``1 - cos`` between the block mean of the student's features and the teacher's. Both are
    averaged over the teacher pixels that have inputs and at least half of their student pixels
    valid, weighted by ``pixel_class_weights`` of the teacher's arg-max class.
    ``ce`` (per student pixel) is as in :func:`distillation_loss`.

    Args:
        student_logits: (B, K, H, W); student_features: (B, D, H, W); H, W multiples of factor.
        teacher_logits: (B, K, H / factor, W / factor); teacher_features: (B, D, ...).
        valid: (B, H, W) student pixels with inputs (and in the transfer set).
        teacher_valid: (B, H / factor, W / factor) teacher pixels with inputs.
        other arguments: as :func:`distillation_loss`.
    """
    _check_weights(temperature, feature_weight, ce_weight)
    b, k, h, w = student_logits.shape
    if factor < 1 or h % factor or w % factor:
        raise ValueError(f"the student patch ({h} x {w}) must be whole blocks of {factor} pixels")
    if tuple(teacher_logits.shape) != (b, k, h // factor, w // factor):
        raise ValueError(f"teacher logits {tuple(teacher_logits.shape)} do not match student "
                         f"{tuple(student_logits.shape)} at factor {factor}")
    mask = valid.to(torch.bool)
    t = float(temperature)
    cover = F.avg_pool2d(mask.unsqueeze(1).to(student_logits.dtype), factor)  # (B, 1, h, w)
    denom = cover.clamp_min(1e-6)
    p_student = _zero_outside(F.softmax(_zero_outside(student_logits, mask) / t, dim=1), mask)
    p_block = F.avg_pool2d(p_student, factor) / denom
    f_block = F.avg_pool2d(_zero_outside(student_features, mask), factor) / denom
    block_mask = teacher_valid.to(torch.bool) & (cover[:, 0] >= 0.5)
    teacher_logits = _zero_outside(teacher_logits.detach(), block_mask)
    teacher_features = _zero_outside(teacher_features.detach(), block_mask)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=1)
    kl = (log_p_teacher.exp() * (log_p_teacher - torch.log(p_block.clamp_min(1e-8)))).sum(dim=1) * (t * t)
    kd, feature = _weighted_terms(kl, f_block, teacher_features, teacher_logits, block_mask,
                                  pixel_class_weights, student_logits, student_features)
    return _combine(kd, feature, feature_weight, student_logits, mask, labels, ce_weight, ce_class_weights)
