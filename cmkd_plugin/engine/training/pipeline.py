"""The two user-facing workflows, shared by the engine commands and the scripts:
:func:`run_teacher_training` (``trainteacher``) and :func:`run_distillation` (``distillstudent``).

Both check their outputs before any work, report progress in sub-ranges, check for cancellation
once per batch and write the model file, the HTML report and its JSON twin together through
:class:`~..atomic.AtomicOutputs`, so a failed or cancelled run leaves nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..atomic import AtomicOutputs, check_writable
from ..errors import InputError
from ..feedback import Feedback
from ..geo.labels import UNLABELLED
from ..geo.spectral import SpectralBands
from ..models.card import ClassCard, ModalityCard, ModelCard, Provenance
from ..models.config import RGB
from ..models.modelfile import load_model, save_model
from ..models.resample import upsample_area
from ..models.teacher import TeacherEnsemble
from .baseline import train_baseline
from .common import modality_card, predict_area, refined_classes, single_threaded
from .config import DataConfig, DistillConfig, TeacherTrainConfig
from .data import SceneData, load_scene, read_class_table
from .distill import (StudentResult, Targets, compute_targets, distil, multispectral_bands,
                      simulate_multispectral)
from .metrics import evaluate
from .report import build_report, json_twin, model_cost, write_report
from .teacher import train_teacher

TEACHER_TILE_PX = 128
TEACHER_OVERLAP_PX = 8
STUDENT_TILE_PX = 256
STUDENT_OVERLAP_PX = 16
# Tile of the teacher cost measurement: the teacher is ~20x heavier per pixel than the student,
# a small tile keeps the timing short (the per-pixel cost does not depend on the tile).
COST_TEACHER_TILE_PX = 48
EVALUATION_TEXT = ("Metrics on the validation blocks of the labels (spatial blocks held out from "
                   "training), on the RGB grid; the teacher's class probabilities are upsampled from "
                   "its grid and, when it reads the RGB on a grid at least twice as coarse, refined "
                   "by the RGB inside each of its pixels, as cmkd:classify maps it on its own grid.")


@dataclass
class TeacherRun:
    """Everything a teacher training produced (the command returns only ``outputs``)."""

    model: Any
    card: ModelCard
    scene: SceneData
    report: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class StudentRun:
    """Everything a distillation produced."""

    student: Any
    card: ModelCard
    baseline: Any | None
    intermediate: Any | None
    report: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    # Model-selection alternatives of "student" and "baseline" (StudentResult.alternatives).
    alternatives: dict[str, Any] = field(default_factory=dict)


def prepare_outputs(model_path: str | os.PathLike[str], report_path: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """Check, before any work, that the model file, the report and its JSON twin can be written.

    Returns:
        (model, report .html, report .json) paths.
    """
    model_p = check_writable(model_path)
    report_p = check_writable(report_path)
    if report_p.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"Report '{report_p}' must end in .html (a .json twin is written beside it).")
    if model_p.resolve() == report_p.resolve():
        raise InputError("The model file and the report must be different files.")
    return model_p, report_p, check_writable(json_twin(report_p))


def _reference_metrics(logits_coarse: np.ndarray, scene: SceneData, labels: np.ndarray,
                       valid: np.ndarray, rgb_card: ModalityCard | None = None) -> dict[str, Any]:
    """Metrics of a coarse model's map at ``labels``: its logits upsampled to the RGB grid, or
    with ``rgb_card`` its probabilities upsampled and refined by the RGB (normalised by that
    card) over one teacher pixel, as ``cmkd:classify`` maps it on its own grid."""
    if rgb_card is None:
        classes = upsample_area(logits_coarse, scene.factor, scene.grid.shape).argmax(axis=0)
    else:
        classes = refined_classes(logits_coarse, scene.factor, {RGB: scene.rgb}, {RGB: rgb_card},
                                  scene.factor, (labels != UNLABELLED) & valid)
    return evaluate(labels, classes, scene.class_names, valid)


def _refining_card(scene: SceneData, cards: Mapping[str, ModalityCard]) -> ModalityCard | None:
    """The teacher's RGB card when its map is refined by the RGB, as
    :func:`~..classify.inference.refinement_radius` decides for ``cmkd:classify``: the teacher
    reads the RGB and its grid is at least twice as coarse; None otherwise."""
    return cards[RGB] if scene.factor >= 2 and RGB in cards else None


def _predict_teacher(model: Any, inputs: Mapping[str, np.ndarray],
                     cards: Mapping[str, ModalityCard]) -> tuple[np.ndarray, list[np.ndarray]]:
    """A teacher's logits over its grid and, for an ensemble, each member's (one pass each:
    the ensemble's logits are combined from them exactly as :class:`TeacherEnsemble` does)."""
    if not isinstance(model, TeacherEnsemble):
        return predict_area(model, inputs, cards)[0], []
    members = [predict_area(m, inputs, cards)[0] for m in model.members]
    combined = TeacherEnsemble.combine([torch.from_numpy(z)[None] for z in members])
    return combined[0].numpy(), members


def _classes(scene: SceneData) -> tuple[ClassCard, ...]:
    return tuple(ClassCard(n, c) for n, c in zip(scene.class_names, scene.colours))


def save_outputs(model: Any, card: ModelCard, report: dict[str, Any], paths: tuple[Path, Path, Path]) -> None:
    """Write the model file, the HTML report and its JSON twin together (all or none)."""
    with AtomicOutputs() as outs:
        tmp_model = outs.add(paths[0])
        tmp_html = outs.add(paths[1])
        tmp_json = outs.add(paths[2])
        save_model(tmp_model, model, card)
        write_report(report, tmp_html, tmp_json)


@single_threaded
def run_teacher_training(
    rgb: str, hsi: str | None, dem: str | None, labels: str, output_model: str, output_report: str,
    data: DataConfig = DataConfig(), train: TeacherTrainConfig = TeacherTrainConfig(),
    class_table: str | None = None, feedback: Feedback | None = None,
) -> TeacherRun:
    """Train a teacher from rasters and labels; write the model file and the report.

    Returns:
        The run; ``run.outputs`` is the command's outputs dict (``OUTPUT_MODEL``,
        ``OUTPUT_REPORT``, ``TEACHER_OA``, ``TEACHER_KAPPA``, ``TEACHER_MACRO_F1``...).
    """
    feedback = feedback or Feedback()
    paths = prepare_outputs(output_model, output_report)
    table = read_class_table(class_table) if class_table else None
    scene = load_scene(rgb, hsi, dem, labels, data, table, feedback=feedback.step(0, 10))
    result = train_teacher(scene, train, feedback.step(10, 92))
    inputs = {k: np.where(scene.valid_coarse[None], v, np.nan) for k, v in scene.teacher_inputs().items()}
    logits, member_logits = _predict_teacher(result.model, inputs, result.cards)
    val = scene.val_labels(coarse=False)
    if not (val != UNLABELLED).any():
        val = scene.train_labels(coarse=False)
    rgb_card = _refining_card(scene, result.cards)
    metrics = {"teacher": _reference_metrics(logits, scene, val, scene.valid, rgb_card)}
    feedback.progress(95)
    cost = {"teacher": model_cost(result.model, {k: v.shape[0] for k, v in inputs.items()}, COST_TEACHER_TILE_PX)}
    training = {"teacher": train.to_dict(), "data": {
        "label_field": data.label_field, "validation_fraction": data.validation_fraction,
        "block_size_px": data.block_size_px, "buffer_px": data.buffer_px, "seed": data.seed},
        "grid_factor": scene.factor, "best_epoch": result.best_epoch,
        "class_weights": result.class_weights, "history": result.history,
        "split": scene.split.to_dict() if scene.split else {}}
    # An ensemble's members, each scored like the ensemble: what averaging them gave.
    member_oa = [_reference_metrics(m, scene, val, scene.valid, rgb_card)["oa"]
                 for m in member_logits] or None
    if member_oa:
        training["member_best_epochs"] = result.member_best_epochs
        training["member_validation_oa"] = member_oa
    if table is not None:
        training["class_table"] = {k: list(v) for k, v in table.extra.items()}
    headline = {"teacher_oa": metrics["teacher"]["oa"], "teacher_kappa": metrics["teacher"]["kappa"],
                "teacher_macro_f1": metrics["teacher"]["macro_f1"],
                "validation_pixels": metrics["teacher"]["pixels"]}
    if member_oa:
        headline["member_oa"] = member_oa
    card = ModelCard(
        kind="teacher", architecture=result.model.config,
        modalities=tuple(result.cards[m] for m in result.model.config.modality_names),
        classes=_classes(scene), tile_size_px=TEACHER_TILE_PX, tile_overlap_px=TEACHER_OVERLAP_PX,
        provenance=Provenance.now(scene.sources), pixel_size_m=scene.teacher_grid.pixel_size_m,
        training=training, metrics=headline)
    report = build_report("CMKD Survey teacher training", scene.class_names, metrics, cost,
                          EVALUATION_TEXT, inputs=scene.sources, training=training)
    if member_oa:
        report["headline"]["member_oa"] = member_oa
    save_outputs(result.model, card, report, paths)
    feedback.progress(100)
    outputs = {"OUTPUT_MODEL": str(paths[0]), "OUTPUT_REPORT": str(paths[1]),
               "OUTPUT_REPORT_JSON": str(paths[2]),
               "TEACHER_OA": metrics["teacher"]["oa"], "TEACHER_KAPPA": metrics["teacher"]["kappa"],
               "TEACHER_MACRO_F1": metrics["teacher"]["macro_f1"],
               "VALIDATION_PIXELS": metrics["teacher"]["pixels"], "BEST_EPOCH": result.best_epoch}
    return TeacherRun(result.model, card, scene, report, outputs)


def _teacher_data_config(card: ModelCard, label_field: str) -> DataConfig:
    """The teacher's own split settings, so its validation blocks stay unseen by the student."""
    d = card.training.get("data", {}) if isinstance(card.training, dict) else {}
    try:
        return DataConfig(label_field=label_field,
                          validation_fraction=float(d.get("validation_fraction", 0.25)),
                          block_size_px=int(d.get("block_size_px", 64)),
                          buffer_px=int(d.get("buffer_px", 2)), seed=int(d.get("seed", 0)))
    except (TypeError, ValueError):
        return DataConfig(label_field=label_field)


@dataclass
class DistillationInputs:
    """The scene and the teacher's targets, prepared once for one or many distillations.

    Attributes:
        teacher_path: the teacher model file.
        teacher: the teacher model; ``teacher_card`` its card.
        scene: the scene aligned on the RGB grid, split like the teacher's training.
        teacher_inputs: the teacher's inputs (NaN outside the valid area), on its grid.
        targets: the teacher's logits and features over its whole grid.
        student_cards: the student's modality cards (RGB normalisation).
        rgb: the student's input, ``{"rgb": (3, H, W)}`` with NaN outside the valid area.
        train_labels: (H, W) training labels on the RGB grid (None without labels).
        val_labels: (H, W) validation labels on the RGB grid (None without labels).
    """

    teacher_path: str
    teacher: Any
    teacher_card: ModelCard
    scene: SceneData
    teacher_inputs: dict[str, np.ndarray]
    targets: Targets
    student_cards: dict[str, ModalityCard]
    rgb: dict[str, np.ndarray]
    train_labels: np.ndarray | None
    val_labels: np.ndarray | None

    def distil(self, config: DistillConfig, feedback: Feedback | None = None,
               label: str = "Student", targets: Targets | None = None) -> StudentResult:
        """Distil an RGB student from these targets (or ``targets``, e.g. a chain's)."""
        return distil(self.rgb, self.student_cards, self.scene.valid, targets or self.targets,
                      self.scene.factor, self.scene.class_names, config, self.train_labels,
                      self.val_labels, feedback, label)


def prepare_distillation(
    teacher: str, rgb: str, hsi: str | None, dem: str | None, labels: str | None,
    label_field: str = "mineral", progressive: bool = False, feedback: Feedback | None = None,
) -> DistillationInputs:
    """Load the teacher and the scene and run the teacher once over it (the part of a
    distillation that does not depend on the distillation settings).

    Raises:
        InputError: a wrong model file, rasters or labels; progressive without an HSI.
    """
    feedback = feedback or Feedback()
    t_model, t_card = load_model(teacher, expect_kind="teacher")
    t_cards = {m.name: m for m in t_card.modalities}
    if "hsi" in t_cards and hsi is None:
        feedback.warning("No HSI given: the teacher predicts from its other inputs only, which "
                         "makes a weaker teacher.")
    if progressive and hsi is None:
        raise InputError("The progressive chain makes multispectral bands from the HSI; give an HSI "
                         "or turn progressive off.")
    hsi_target = None
    if "hsi" in t_cards:
        hc = t_cards["hsi"]
        hsi_target = SpectralBands(hc.wavelengths_nm or (), hc.fwhm_nm, None, "teacher model card")
    else:
        hsi = None if not progressive else hsi
    if "dem" not in t_cards and dem is not None:
        feedback.warning("The teacher was trained without a DEM; the DEM is ignored.")
        dem = None
    data = _teacher_data_config(t_card, label_field)
    scene = load_scene(rgb, hsi, dem, labels, data, class_names=t_card.class_names,
                       hsi_target=hsi_target, feedback=feedback.step(0, 67))
    t_inputs = {k: np.where(scene.valid_coarse[None], v, np.nan)
                for k, v in scene.teacher_inputs().items() if k in t_cards}
    targets = compute_targets(t_model, t_inputs, t_cards, feedback.step(67, 100))
    return DistillationInputs(
        teacher_path=str(teacher), teacher=t_model, teacher_card=t_card, scene=scene,
        teacher_inputs=t_inputs, targets=targets,
        student_cards={"rgb": modality_card("rgb", scene.rgb, scene.valid)},
        rgb={"rgb": np.where(scene.valid[None], scene.rgb, np.nan)},
        train_labels=scene.train_labels(coarse=False) if scene.labels is not None else None,
        val_labels=scene.val_labels(coarse=False) if scene.labels is not None else None)


@single_threaded
def run_distillation(
    teacher: str, rgb: str, hsi: str | None, dem: str | None, labels: str | None,
    output_model: str, output_report: str, config: DistillConfig = DistillConfig(),
    label_field: str = "mineral", feedback: Feedback | None = None,
) -> StudentRun:
    """Distil an RGB student from a teacher model file; train the RGB-only baseline when labels
    are given; write the student model file and the comparison report.

    Returns:
        The run; ``run.outputs`` holds ``OUTPUT_MODEL``, ``OUTPUT_REPORT``, ``TEACHER_OA``,
        ``STUDENT_OA``, ``BASELINE_OA``, ``RETENTION``, ``GAIN`` (None when not measurable).
    """
    feedback = feedback or Feedback()
    paths = prepare_outputs(output_model, output_report)
    prepared = prepare_distillation(teacher, rgb, hsi, dem, labels, label_field, config.progressive,
                                    feedback.step(0, 12))
    return finish_distillation(prepared, config, paths, feedback.step(12, 100))


def finish_distillation(
    prepared: DistillationInputs, config: DistillConfig, paths: tuple[Path, Path, Path],
    feedback: Feedback | None = None, extra_training: dict[str, Any] | None = None,
) -> StudentRun:
    """Distil the student from prepared inputs, train the baseline when there are labels, score
    all of them and write the model file and the report (``paths`` from ``prepare_outputs``).

    Args:
        extra_training: more provenance for the model card's ``training`` (e.g. a tuning summary).
    """
    feedback = feedback or Feedback()
    scene, targets, t_model, t_card = (prepared.scene, prepared.targets, prepared.teacher,
                                       prepared.teacher_card)
    teacher, t_inputs = prepared.teacher_path, prepared.teacher_inputs
    student_cards, rgb_in = prepared.student_cards, prepared.rgb
    train_lab, val_lab = prepared.train_labels, prepared.val_labels
    intermediate = None
    inter_metrics = None
    chain_targets = targets
    budget_end = 66 if train_lab is not None else 94
    if config.progressive:
        assert scene.hsi is not None and scene.hsi_bands is not None
        ms = simulate_multispectral(scene.hsi, scene.hsi_bands)
        ms_valid = scene.valid_coarse & np.isfinite(ms).all(axis=0)
        ms_bands = multispectral_bands()
        ms_card = modality_card("ms", ms, ms_valid, ms_bands.wavelengths_nm, ms_bands.fwhm_nm)
        ms_cfg = replace(config, patch_size_px=max(8, config.patch_size_px // scene.factor))
        inter = distil({"ms": np.where(ms_valid[None], ms, np.nan)}, {"ms": ms_card}, ms_valid,
                       targets, 1, scene.class_names, ms_cfg,
                       scene.train_labels(coarse=True) if scene.labels is not None else None,
                       scene.val_labels(coarse=True) if scene.labels is not None else None,
                       feedback.step(0, 26), "Multispectral student")
        intermediate = inter.model
        chain_targets = compute_targets(intermediate, {"ms": np.where(ms_valid[None], ms, np.nan)},
                                        {"ms": ms_card})
        if val_lab is not None:
            inter_metrics = _reference_metrics(chain_targets.logits, scene, val_lab, scene.valid)
        student_fb = feedback.step(26, budget_end)
    else:
        student_fb = feedback.step(0, budget_end)
    student = prepared.distil(config, student_fb, "Student", chain_targets)
    baseline = None
    if train_lab is not None:
        baseline = train_baseline(rgb_in, student_cards, train_lab, scene.class_names, config,
                                  val_lab, embed_dim=targets.features.shape[0],
                                  feedback=feedback.step(66, 94))
    s_logits, _, s_valid = predict_area(student.model, rgb_in, student_cards)
    metrics: dict[str, Any] = {}
    if val_lab is not None:
        if not (val_lab != UNLABELLED).any():
            val_lab = train_lab
        assert val_lab is not None
        evaluation = EVALUATION_TEXT
        metrics["teacher"] = _reference_metrics(
            targets.logits, scene, val_lab, scene.valid,
            _refining_card(scene, {m.name: m for m in t_card.modalities}))
        if inter_metrics is not None:
            metrics["intermediate"] = inter_metrics
        metrics["student"] = evaluate(val_lab, s_logits.argmax(axis=0), scene.class_names, s_valid)
        assert baseline is not None
        b_logits, _, b_valid = predict_area(baseline.model, rgb_in, student_cards)
        metrics["baseline"] = evaluate(val_lab, b_logits.argmax(axis=0), scene.class_names, b_valid)
    else:
        # Without labels the only reference is the teacher itself: agreement over the transfer set.
        evaluation = ("No labels given: the student is scored by its agreement with the teacher's "
                      "classes over every valid pixel; no baseline can be trained.")
        t_up = upsample_area(targets.logits, scene.factor, scene.grid.shape).argmax(axis=0).astype(np.uint8)
        t_up[~scene.valid] = UNLABELLED
        metrics["student"] = evaluate(t_up, s_logits.argmax(axis=0), scene.class_names, s_valid)
    feedback.progress(95)
    cost = {"teacher": model_cost(t_model, {k: v.shape[0] for k, v in t_inputs.items()}, COST_TEACHER_TILE_PX),
            "student": model_cost(student.model, {"rgb": 3}, STUDENT_TILE_PX)}
    if baseline is not None:
        cost["baseline"] = model_cost(baseline.model, {"rgb": 3}, STUDENT_TILE_PX)
    if intermediate is not None:
        cost["intermediate"] = model_cost(intermediate, {"ms": 8}, COST_TEACHER_TILE_PX)
    training = {"distill": config.to_dict(), "teacher_file": os.path.basename(str(teacher)),
                "teacher_created_utc": t_card.provenance.created_utc, "grid_factor": scene.factor,
                "best_epoch": student.best_epoch, "history": student.history,
                "best_score_epoch": student.best_score_epoch,
                "baseline_best_epoch": baseline.best_epoch if baseline else None,
                "baseline_best_score_epoch": baseline.best_score_epoch if baseline else None,
                **(extra_training or {})}
    report = build_report("CMKD Survey distillation: teacher, student and RGB-only baseline",
                          scene.class_names, metrics, cost, evaluation, inputs=scene.sources,
                          training=training)
    h = report["headline"]
    card = ModelCard(
        kind="student", architecture=student.model.config, modalities=(student_cards["rgb"],),
        classes=t_card.classes, tile_size_px=STUDENT_TILE_PX, tile_overlap_px=STUDENT_OVERLAP_PX,
        provenance=Provenance.now({**scene.sources, "teacher": os.path.basename(str(teacher))}),
        pixel_size_m=scene.grid.pixel_size_m, training=training,
        metrics={k: v for k, v in h.items() if v is not None})
    save_outputs(student.model, card, report, paths)
    feedback.progress(100)
    outputs = {"OUTPUT_MODEL": str(paths[0]), "OUTPUT_REPORT": str(paths[1]),
               "OUTPUT_REPORT_JSON": str(paths[2]),
               "TEACHER_OA": h["teacher_oa"], "STUDENT_OA": h["student_oa"],
               "BASELINE_OA": h["baseline_oa"], "RETENTION": h["retention"], "GAIN": h["gain"],
               "STUDENT_KAPPA": metrics["student"]["kappa"],
               "STUDENT_MACRO_F1": metrics["student"]["macro_f1"]}
    alternatives = {"student": student.alternatives,
                    **({"baseline": baseline.alternatives} if baseline else {})}
    return StudentRun(student.model, card, baseline.model if baseline else None, intermediate,
                      report, outputs, alternatives)
