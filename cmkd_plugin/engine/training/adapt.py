"""Few-shot adaptation of a trained model (student or teacher) to a new site (``adaptsite``).

A model trained on one site meets another illumination, sensor gain and noise, and sometimes
another mix of minerals. With a handful of labelled points from the new site:

1. **Renormalise** (optional, off by default): each input's mean/std in the model card is
   re-estimated from the new scene's valid pixels. This unsupervised step (AdaBN-style) absorbs
   a pure gain/offset shift before any weight changes, but on the simulator's sites (different
   mineral mix, sun and noise, not only gain) it cost accuracy; see :class:`~.config.AdaptConfig`.
2. **Fine-tune** the later layers on the labelled pixels (class-balanced cross-entropy on
   patches centred on them, with augmentation), the encoders frozen (``freeze``).
3. **Keep** predictions elsewhere close to the original model: ``T^2 KL(original || adapted)``
   over every valid pixel of the new scene (patches drawn anywhere), the original model seeing
   the same (renormalised) inputs. This is the guard against catastrophic forgetting: ten points
   cannot redefine twelve classes, they can only correct the model where it is wrong.

With 10-20 points there is nothing to hold out: every point trains, and the report gives the
accuracy at the points before/after, and how much of the new scene changed class.

Labels must use the model's class names (case-insensitive); a class the model does not know
cannot be learnt from a few points and is refused with the list of the model's classes.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..feedback import Feedback
from ..geo.grid import display_name
from ..geo.labels import UNLABELLED, LabelConfig, read_labels
from ..geo.spectral import SpectralBands
from ..models.card import ModalityCard, ModelCard, Provenance
from ..models.losses import class_balanced_weights, kd_kl_per_pixel, masked_cross_entropy
from ..models.modelfile import load_model
from ..models.student import Student
from ..models.teacher import TeacherEnsemble
from .common import (crop_batch, crop_labels, labelled_pixels, modality_card, patch_origins,
                     predict_area, seed_everything, single_threaded, training_batch)
from .config import AdaptConfig
from .data import SceneData, coarse_labels, load_scene
from .metrics import evaluate
from .pipeline import prepare_outputs, save_outputs
from .report import build_report

EVALUATION_TEXT = ("Few-shot adaptation: every labelled point trains, so the accuracy at the "
                   "points is a training accuracy (it shows what was corrected, not how well the "
                   "model generalises). Agreement: share of the new scene's valid pixels where "
                   "the adapted model predicts the original model's class.")


@dataclass
class AdaptRun:
    """Everything an adaptation produced (the command returns only ``outputs``)."""

    model: nn.Module
    card: ModelCard
    report: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class SiteData:
    """The new site on the model's own grid (reference grid for a student, teacher grid for a
    teacher): raw inputs, validity, labels (255 = none) and the source description."""

    inputs: dict[str, np.ndarray]
    valid: np.ndarray
    labels: np.ndarray
    label_counts: dict[str, int]
    sources: dict[str, Any]


def _model_label_index(found: tuple[str, ...], model_names: tuple[str, ...], labels: str,
                       model_path: str) -> np.ndarray:
    """Index of each class found in the labels into the model's classes (case-insensitive).

    Raises:
        InputError: a class the model does not know, naming it and the model's classes.
    """
    folded = {n.lower(): i for i, n in enumerate(model_names)}
    unknown = [n for n in found if n.lower() not in folded]
    if unknown:
        raise InputError(
            f"Labels '{display_name(labels)}' use class(es) the model does not know: "
            + ", ".join(f"'{u}'" for u in unknown)
            + f". The model '{display_name(model_path)}' predicts "
            + ", ".join(f"'{c}'" for c in model_names)
            + ". Rename those labels to one of the model's classes or remove them: a new class "
              "cannot be learnt from a few points (train a teacher with it instead)."
        )
    return np.array([folded[n.lower()] for n in found], dtype=np.uint8)


def load_site(model_path: str, card: ModelCard, rgb: str, hsi: str | None, dem: str | None,
              labels: str, label_field: str, feedback: Feedback) -> SiteData:
    """Read the new site's rasters on the model's needs and its labels.

    Raises:
        InputError: unreadable inputs, unknown classes, no labelled pixel on valid data.
    """
    mods = {m.name: m for m in card.modalities}
    if card.kind == "student":
        for name, path in (("HSI", hsi), ("DEM", dem)):
            if path is not None:
                feedback.warning(f"The student uses RGB only; the {name} is ignored.")
        hsi = dem = None
    else:
        if "hsi" in mods and hsi is None:
            feedback.warning("No HSI given: this teacher was trained with one and predicts from "
                             "its other inputs only, which is much weaker; give the site's HSI.")
        if "dem" in mods and dem is None:
            feedback.warning("No DEM given: this teacher was trained with one; it predicts "
                             "without it.")
        if "hsi" not in mods:
            hsi = None
        if "dem" not in mods:
            dem = None
    hsi_target = None
    if hsi is not None:
        hc = mods["hsi"]
        hsi_target = SpectralBands(hc.wavelengths_nm or (), hc.fwhm_nm, None, "model card")
    scene: SceneData = load_scene(rgb, hsi, dem, None, class_names=card.class_names,
                                  hsi_target=hsi_target, feedback=feedback)
    pixels = read_labels(labels, scene.grid, LabelConfig(field=label_field, min_classes=1),
                         feedback)
    index = _model_label_index(pixels.class_names, card.class_names, labels, model_path)
    k = len(card.class_names)
    lab = np.full(scene.grid.shape, UNLABELLED, dtype=np.uint8)
    lab[pixels.rows, pixels.cols] = index[pixels.classes]
    lab[~scene.valid] = UNLABELLED
    if card.kind == "student":
        inputs = {"rgb": np.where(scene.valid[None], scene.rgb, np.nan)}
        valid = scene.valid
    else:
        valid = scene.valid_coarse
        inputs = {n: np.where(valid[None], a, np.nan) for n, a in scene.teacher_inputs().items()
                  if n in mods}
        lab = coarse_labels(lab, scene.factor, k)
        lab[~valid] = UNLABELLED
    n_lab = int((lab != UNLABELLED).sum())
    if n_lab == 0:
        raise InputError(
            f"None of the {len(pixels)} labelled pixel(s) of '{display_name(labels)}' lies on "
            "valid data of every input the model needs; adapting needs at least one labelled "
            "point inside the area the rasters cover (10-20 points are a good start).")
    counts = np.bincount(lab[lab != UNLABELLED], minlength=k)
    label_counts = {card.class_names[i]: int(c) for i, c in enumerate(counts) if c}
    sources = {**scene.sources, "labels": display_name(labels), "label_field": label_field,
               "label_counts": label_counts}
    return SiteData(inputs, valid, lab, label_counts, sources)


def site_cards(card: ModelCard, site: SiteData, renormalise: bool) -> dict[str, ModalityCard]:
    """The modality cards to use on the site: the model's, or re-estimated on its pixels."""
    cards = {m.name: m for m in card.modalities}
    if not renormalise:
        return cards
    out = {}
    for name, old in cards.items():
        if name not in site.inputs:
            out[name] = old  # a missing teacher input keeps its statistics
            continue
        new = modality_card(name, site.inputs[name], site.valid, old.wavelengths_nm, old.fwhm_nm)
        out[name] = replace(old, mean=new.mean, std=new.std)
    return out


def freeze_layers(model: nn.Module, freeze: str) -> list[str]:
    """Turn off gradients of the frozen part of ``model``; return the frozen module names.

    ``encoder``: the convolutional encoder(s); ``features``: everything but the classifier;
    ``none``: nothing. A teacher ensemble freezes the same part of every member.
    """
    if freeze == "none":
        return []
    if isinstance(model, TeacherEnsemble):
        return [f"members.{i}.{name}" for i, member in enumerate(model.members)
                for name in freeze_layers(member, freeze)]
    if isinstance(model, Student):
        names = ["encoder"] if freeze == "encoder" else ["encoder", "projection"]
    else:
        names = ["encoders"] if freeze == "encoder" else ["encoders", "projections", "attention"]
    for name in names:
        for p in getattr(model, name).parameters():
            p.requires_grad_(False)
    return names


def _crop_mask(mask: np.ndarray, origins: np.ndarray, size: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([mask[r:r + size, c:c + size] for r, c in origins]))


@single_threaded
def fine_tune(model: nn.Module, anchor_logits: np.ndarray, inputs: Mapping[str, np.ndarray],
              cards: Mapping[str, ModalityCard], valid: np.ndarray, labels: np.ndarray,
              config: AdaptConfig, feedback: Feedback | None = None) -> list[dict[str, float]]:
    """Fine-tune ``model`` in place on the labelled pixels, keeping it close to the anchor.

    Args:
        model: the copy to adapt (its frozen layers already set by :func:`freeze_layers`).
        anchor_logits: (K, H, W) the original model's logits on the same inputs.
        inputs: raw (C, H, W) arrays on the model's grid, NaN nodata.
        cards: normalisation of each input.
        valid: (H, W) pixels where every input exists.
        labels: (H, W) uint8 class index, 255 unlabelled (at least one labelled pixel).
        config: adaptation parameters.
        feedback: progress, messages, cancel (checked once per step).

    Returns:
        Per-epoch loss history (``total``, ``ce``, ``keep``).
    """
    feedback = feedback or Feedback()
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed + 1)
    gen = torch.Generator().manual_seed(config.seed + 1)
    shape = valid.shape
    size = min(config.patch_size_px, shape[0], shape[1])
    centres = labelled_pixels(labels)
    k = anchor_logits.shape[0]
    counts = np.bincount(labels[labels != UNLABELLED], minlength=k)
    ce_weights = class_balanced_weights(counts, beta=0.5, method="inverse_power")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=1e-4)
    steps_per_epoch = max(1, math.ceil(config.patches_per_epoch / config.batch_size))
    total = steps_per_epoch * config.epochs
    n_lab = max(1, config.batch_size // 2)
    history: list[dict[str, float]] = []
    step = 0
    for epoch in range(config.epochs):
        model.train()
        sums = {"total": 0.0, "ce": 0.0, "keep": 0.0}
        for _ in range(steps_per_epoch):
            feedback.check_cancelled()
            origins = np.concatenate([
                patch_origins(rng, shape, size, config.batch_size - n_lab),
                patch_origins(rng, shape, size, n_lab, centres)])
            batch = training_batch(inputs, cards, origins, size,
                                   gen if config.augment else None)
            out = model(batch)
            mask = _crop_mask(valid, origins, size) & out.valid
            ce = masked_cross_entropy(out.logits, crop_labels(labels, origins, size), mask,
                                      ce_weights)
            keep = out.logits.new_zeros(())
            if config.keep_weight > 0 and bool(mask.any()):
                anchor = crop_batch(anchor_logits, origins, size)
                kl = kd_kl_per_pixel(out.logits, anchor, config.keep_temperature)
                keep = kl[mask].mean()
            loss = ce + config.keep_weight * keep
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            step += 1
            for key, value in (("total", loss), ("ce", ce), ("keep", keep)):
                sums[key] += float(value.detach()) / steps_per_epoch
            feedback.progress(100.0 * step / total)
        history.append({"epoch": epoch + 1, **sums})
        feedback.info(f"Adaptation epoch {epoch + 1}/{config.epochs}: loss {sums['total']:.4f} "
                      f"(labels {sums['ce']:.4f}, keep {sums['keep']:.4f})")
    model.eval()
    return history


def _agreement(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    return float((a == b)[valid].mean()) if valid.any() else 0.0


@single_threaded
def run_adaptation(
    model_path: str, rgb: str, hsi: str | None, dem: str | None, labels: str,
    output_model: str, output_report: str, config: AdaptConfig = AdaptConfig(),
    label_field: str = "mineral", feedback: Feedback | None = None,
) -> AdaptRun:
    """Adapt a model file to a new site with a few labelled points; write model and report.

    Returns:
        The run; ``run.outputs`` holds ``OUTPUT_MODEL``, ``OUTPUT_REPORT``,
        ``OUTPUT_REPORT_JSON``, ``LABELLED_PIXELS``, ``POINTS_OA_BEFORE``, ``POINTS_OA_AFTER``,
        ``AGREEMENT`` (share of the site's pixels whose class did not change) and
        ``CHANGED_SHARE``.

    Raises:
        InputError: unusable inputs or outputs, an output replacing an input, labels of classes
            the model does not know, no labelled pixel on valid data.
        ModelFileError: unreadable model file.
    """
    from ..atomic import refuse_inputs_as_outputs

    feedback = feedback or Feedback()
    paths = prepare_outputs(output_model, output_report)
    refuse_inputs_as_outputs([model_path, rgb, hsi, dem, labels], [str(p) for p in paths])
    original, card = load_model(model_path)
    site = load_site(model_path, card, rgb, hsi, dem, labels, label_field, feedback.step(0, 10))
    names = card.class_names
    old_cards = {m.name: m for m in card.modalities}
    new_cards = site_cards(card, site, config.renormalise)
    before_logits, _, before_valid = predict_area(original, site.inputs, old_cards,
                                                  feedback.step(10, 15))
    before = before_logits.argmax(axis=0)
    anchor_logits = before_logits
    if config.renormalise:
        anchor_logits, _, _ = predict_area(original, site.inputs, new_cards, feedback.step(15, 20))
    adapted = copy.deepcopy(original)
    frozen = freeze_layers(adapted, config.freeze)
    trainable = sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    feedback.info(f"Adapting a {card.kind} on {int((site.labels != UNLABELLED).sum())} labelled "
                  f"pixel(s) of {len(site.label_counts)} class(es); frozen: "
                  f"{', '.join(frozen) or 'nothing'}; {trainable:,} trainable parameters.")
    history = fine_tune(adapted, anchor_logits, site.inputs, new_cards, site.valid, site.labels,
                        config, feedback.step(20, 92))
    after_logits, _, after_valid = predict_area(adapted, site.inputs, new_cards,
                                                feedback.step(92, 97))
    after = after_logits.argmax(axis=0)
    scored = before_valid & after_valid & site.valid
    metrics = {"original": evaluate(site.labels, before, names, scored),
               "adapted": evaluate(site.labels, after, names, scored)}
    agreement = _agreement(before, after, scored)
    anchor_agreement = _agreement(anchor_logits.argmax(axis=0), after, scored)
    n_lab = int((site.labels != UNLABELLED).sum())
    adaptation = {
        "adapted_from": os.path.basename(str(model_path)),
        "adapted_from_created_utc": card.provenance.created_utc,
        "settings": config.to_dict(), "label_field": label_field,
        "labelled_pixels": n_lab, "points_per_class": site.label_counts,
        "frozen": frozen, "trainable_parameters": int(trainable),
        "agreement_with_original": agreement, "changed_share": 1.0 - agreement,
        "agreement_with_renormalised_original": anchor_agreement if config.renormalise else None,
        "normalisation": {n: {"mean_before": list(old_cards[n].mean), "std_before": list(old_cards[n].std),
                              "mean_after": list(new_cards[n].mean), "std_after": list(new_cards[n].std)}
                          for n in new_cards},
        "history": history,
    }
    headline = {"points_oa_before": metrics["original"]["oa"],
                "points_oa_after": metrics["adapted"]["oa"], "labelled_pixels": n_lab,
                "agreement_with_original": agreement, "changed_share": 1.0 - agreement}
    report = build_report(f"CMKD Survey site adaptation of a {card.kind}", names, metrics, {},
                          EVALUATION_TEXT, inputs=site.sources, adaptation=adaptation)
    report["headline"] = headline
    previous = card.training.get("adaptations", []) if isinstance(card.training, dict) else []
    training = {**card.training, "adaptations": [*previous, {
        k: v for k, v in adaptation.items() if k not in ("history", "normalisation")}]}
    new_card = replace(
        card, modalities=tuple(new_cards[m.name] for m in card.modalities), training=training,
        metrics={**{k: v for k, v in headline.items() if v is not None},
                 "original": dict(card.metrics)},
        provenance=Provenance.now({**site.sources, "adapted_from": os.path.basename(str(model_path)),
                                   "original_provenance": card.provenance.data}))
    save_outputs(adapted, new_card, report, paths)
    feedback.progress(100)
    outputs = {"OUTPUT_MODEL": str(paths[0]), "OUTPUT_REPORT": str(paths[1]),
               "OUTPUT_REPORT_JSON": str(paths[2]), "LABELLED_PIXELS": n_lab,
               "POINTS_OA_BEFORE": metrics["original"]["oa"],
               "POINTS_OA_AFTER": metrics["adapted"]["oa"], "AGREEMENT": agreement,
               "CHANGED_SHARE": 1.0 - agreement}
    return AdaptRun(adapted, new_card, report, outputs)


__all__ = ["AdaptRun", "SiteData", "fine_tune", "freeze_layers", "load_site", "run_adaptation",
           "site_cards"]
