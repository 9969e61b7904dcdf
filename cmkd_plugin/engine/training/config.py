"""Training configurations (torch-free): one frozen dataclass per stage, units in field names.

An *epoch* is a fixed number of random patches (``patches_per_epoch``), not a pass over the
image: labels are sparse points, so whole-image epochs would mostly compute on unlabelled
pixels, and a fixed patch count makes ``EPOCHS`` mean the same amount of work on any scene.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError
from ..models.config import MAX_MEMBERS

# Sentinel-2-like bands of the simulated multispectral step of the progressive chain
# (centre nm, FWHM nm): B2, B3, B4, B5, B7, B8A, B11, B12.
MULTISPECTRAL_BANDS_NM: tuple[tuple[float, float], ...] = (
    (490.0, 65.0), (560.0, 35.0), (665.0, 30.0), (705.0, 15.0),
    (783.0, 20.0), (865.0, 20.0), (1610.0, 90.0), (2190.0, 180.0),
)


def _budget_at_least_one(config: Any) -> None:
    """Epochs, patches per epoch, batch size and patch size of a training stage are >= 1."""
    for name in ("epochs", "patches_per_epoch", "batch_size", "patch_size_px"):
        if getattr(config, name) < 1:
            raise InputError(f"{name.replace('_', ' ').capitalize()} must be at least 1 "
                             f"(got {getattr(config, name)}).")


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise InputError(f"{name} must be greater than 0 (got {value}).")


@dataclass(frozen=True)
class DataConfig:
    """How training data is assembled from the rasters and labels.

    Attributes:
        label_field: attribute of the label layer holding the class name.
        validation_fraction: share of the labelled pixels held out (whole blocks) for validation,
            reached only as far as no class loses more than twice that share of its labels
            from training (:data:`.split.MAX_CLASS_LOSS`).
        block_size_px: side of a spatial validation block, in reference (RGB) pixels.
        buffer_px: training labels within this distance (teacher-grid pixels) of a validation
            block are dropped, so no training pixel sees a validation pixel through the
            convolutions.
        seed: seed of the block split.
    """

    label_field: str = "mineral"
    validation_fraction: float = 0.25
    block_size_px: int = 64
    buffer_px: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.validation_fraction <= 0.9:
            raise InputError(
                f"Validation fraction must be between 0 and 0.9 (got {self.validation_fraction})."
            )
        if self.block_size_px < 1:
            raise InputError(f"Block size must be at least 1 pixel (got {self.block_size_px}).")
        if self.buffer_px < 0:
            raise InputError(f"Buffer must be >= 0 pixels (got {self.buffer_px}).")


@dataclass(frozen=True)
class TeacherTrainConfig:
    """Teacher training (on the teacher grid, usually the HSI resolution).

    Attributes:
        epochs: maximum epochs.
        patches_per_epoch: random patches per epoch (centred on training labels).
        batch_size: patches per optimiser step.
        patch_size_px: patch side in teacher-grid pixels, centred on a training label; at
            least the receptive field (2 x encoder depth + 1) so the label sees real context.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        modality_dropout: probability of hiding a modality for a sample (robustness to a
            missing input at inference).
        patience_epochs: early stopping: epochs without validation improvement.
        augment: apply the modality-specific augmentations.
        mixing: probability that a training sample becomes an areal mixture of itself and
            another labelled sample, with the matching soft target
            (:func:`~.augment.mix_areas`); 0 trains on the labelled pixels as they are.
        encoder_width: channels of each modality encoder.
        encoder_depth: 3x3 convs per modality encoder. 0 (per-pixel 1x1 encoders) by default:
            with a few hundred labelled pixels, spatial context lets the teacher memorise the
            surroundings of each label (measured on the simulator: validation OA 0.38 with
            depth 2 against a per-pixel model's 0.69 on the same labels).
        embed_dim: shared fused feature space (256 in the design; smaller only for tests).
        n_heads: attention heads (8 in the design).
        members: teachers trained (seeds ``seed``, ``seed + 1``, ...) and kept together as an
            ensemble that averages their class probabilities and features (1: one teacher).
            3 by default: on the simulator (20 labels per class, four unseen scenes) single
            teachers scored 0.80–0.88 (mars_analogue) and 0.55–0.69 (earth_carbonation) by
            seed, ensembles of three 0.87–0.89 and 0.61–0.68, each above the mean of its own
            members (docs/DISTILLATION.md, *What limits the mars gain now*); three times the
            training time (seconds on a 512 px scene) and three times the teacher's inference.
        seed: seed of weights, sampling and augmentation.
    """

    epochs: int = 30
    patches_per_epoch: int = 128
    batch_size: int = 32
    patch_size_px: int = 3
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    modality_dropout: float = 0.15
    patience_epochs: int = 8
    augment: bool = True
    mixing: float = 0.0
    encoder_width: int = 32
    encoder_depth: int = 0
    embed_dim: int = 256
    n_heads: int = 8
    members: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        _budget_at_least_one(self)
        _positive("Learning rate", self.learning_rate)
        if not 1 <= self.members <= MAX_MEMBERS:
            raise InputError(f"A teacher ensemble has 1 to {MAX_MEMBERS} members (got {self.members}).")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise InputError(f"Modality dropout must be in [0, 1) (got {self.modality_dropout}).")
        if not 0.0 <= self.mixing <= 1.0:
            raise InputError(f"Mixing must be in [0, 1] (got {self.mixing}).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: What is interpolated between a coarser teacher's pixels (:class:`DistillConfig`
#: ``target_interpolation``).
TARGET_INTERPOLATIONS = ("probabilities", "logits", "guided")
#: How distillation matches a coarser teacher (:class:`DistillConfig` ``target_match``).
TARGET_MATCHES = ("pixel", "block")
#: Most 3x3 conv layers a student may have (``encoder_depth``, STUDENT_LAYERS): it must stay a
#: small model for edge devices.
MAX_STUDENT_LAYERS = 6


@dataclass(frozen=True)
class DistillConfig:
    """Distillation of a student (and the RGB-only baseline trained with the same budget).

    Attributes:
        epochs: epochs (each ``patches_per_epoch`` patches). 120 since 2026-12-02 (last), with
            three conv layers and guided targets (``encoder_depth``, ``target_interpolation``):
            on the never-seen test scenes the earth_carbonation student rose from 0.649 to
            0.674 (five seeds; retention 0.939 -> 0.975) and the mars_analogue one from 0.712
            to 0.752 (two seeds), at about twice the training time (docs/DISTILLATION.md,
            *A larger student learning guided targets*). 60 from earlier on 2026-12-02, 30
            before: without colour jitter the students were still improving at the last of 30.
        patches_per_epoch: random patches per epoch over the transfer set. 256: with 64 the
            student was still improving at the last epoch (earth_carbonation test scenes: student
            OA 0.32-0.38 with 64, 0.42-0.46 with 256; baseline 0.23-0.35 and 0.33-0.36).
        batch_size: patches per step.
        patch_size_px: patch side in student-grid pixels (rounded to whole teacher pixels). 32
            by default: the student sees 5 x 5 pixels, and the 256-d projection and classifier
            at every pixel dominate the cost (64 px patches took ~19 s per epoch on 2 busy cores).
        learning_rate: AdamW learning rate.
        temperature_start: distillation temperature of the first epoch. 1 by default (no
            softening): over 3 seeds and up to 4 test scenes T = 1 throughout gave the
            earth_carbonation student +1.9 to +6.0 points over annealing 4 -> 1 and was level on
            mars_analogue (-0.8 to +0.9); docs/DISTILLATION.md, *Which term earns the gain*.
        temperature_end: distillation temperature of the last epoch (annealed linearly).
        feature_weight: weight of the feature-alignment term (1 - cosine).
        ce_weight: weight of the cross-entropy on labels (0 or no labels: pure distillation).
        label_patch_fraction: share of each batch's patches drawn around a training label (the
            label at a random place in the patch; when there are labels and ``ce_weight`` > 0),
            the rest around a transfer-set pixel. The distillation terms apply to every
            transfer pixel of every patch. 0.5 by default: on earth_carbonation
            (three seeds) 0.25 and 0.75 lost 6.6 and 3.5 points of student OA, 0.375 lost 2.8;
            mars_analogue gained at most 1.5 from any other share (docs/DISTILLATION.md,
            *Patch sampling*).
        class_balanced: weigh pixels by the rarity of the teacher's class.
        class_balance_beta: strength of that weighting, the exponent of ``1 / n_c ** beta``
            (n_c: pixels of the teacher's class c over the transfer set); 0 weighs every class
            equally, 1 is inverse frequency, 0.5 (default) its square root. Dimensionless, >= 0.
        progressive: distil HSI -> simulated multispectral -> RGB via an intermediate student.
        augment: colour jitter on the student's RGB (per-channel gain ±8 % and a brightness
            offset on the normalised bands), for the student and the baseline alike. Off by
            default since 2026-12-02: minerals that RGB can tell apart at all differ by small
            colour shifts, and the jitter blurred exactly those. Without it, on the simulator's
            never-seen test scenes (three seeds), the mars_analogue student rose from 0.624 to
            0.694 and its baseline from 0.580 to 0.620; earth_carbonation 0.443 -> 0.593 and
            0.328 -> 0.532 (docs/DISTILLATION.md, *Colour jitter*). For a student that must
            map imagery with other colours than its training site, adapt it there
            (``cmkd:adaptsite``) rather than jitter it.
        encoder_width: student conv channels.
        encoder_depth: student 3x3 conv layers (receptive field 2 x depth + 1 pixels). 3 since
            2026-12-02 (last), 2 before: with 120 epochs the third layer alone lifted the
            earth_carbonation student from 0.649 to 0.662 (five seeds), for 15 % more
            parameters (70 764 against 61 516 with 12 classes) and FLOPs per pixel.
        target_match: how a teacher coarser than the student is matched: ``pixel`` upsamples its
            outputs bilinearly onto every student pixel; ``block`` compares each teacher pixel
            with the mean of the student's probabilities (and features) over the student pixels
            under it, reading the teacher's probabilities as class proportions.
        target_interpolation: with ``pixel`` matching, what is interpolated between the teacher's
            pixels: its ``logits`` (the default until 2026-12-02; the arg-max then flips where
            the logits cross, which follows the more confident pixel) or its class ``probabilities`` at the current
            temperature (a student pixel between two teacher pixels gets the mixture of their
            distributions). Probabilities make the teacher's own 0.25 m map 0.4–1.4 points better
            but the students level over three seeds (mars +0.5, earth −0.5; docs/DISTILLATION.md,
            *What limits the mars gain now*). ``guided``: those probabilities refined by the
            student's own image with a guided filter (:mod:`~..models.guided`), so that inside each
            teacher pixel they follow the edges of the RGB; it puts the ensemble teacher's 0.25 m
            map 2.8 (mars_analogue) and 1.9 (earth_carbonation) points closer to the truth of the
            four test scenes than bilinear probabilities. The default since 2026-12-02 (last):
            with three layers and 120 epochs it lifted the earth_carbonation student by 1.4
            points over logits (seed 0; 0.3 with two layers and 60 epochs).
        weight_average_decay: the student kept (and scored for model selection) is an
            exponential moving average of its weights with this decay per step; 0 keeps the
            weights themselves. The baseline uses the same. 0.99 by default (about the last
            3 of 30 epochs; capped for short runs, see ``common.WeightAverage``): over three
            seeds it made the students of both presets steadier and slightly better
            (docs/DISTILLATION.md, *Patch sampling, the share of label patches, weight averaging*).
        seed: seed of weights, sampling and augmentation.
    """

    epochs: int = 120
    patches_per_epoch: int = 256
    batch_size: int = 8
    patch_size_px: int = 32
    learning_rate: float = 3e-3
    temperature_start: float = 1.0
    temperature_end: float = 1.0
    feature_weight: float = 0.5
    ce_weight: float = 0.5
    label_patch_fraction: float = 0.5
    class_balanced: bool = True
    class_balance_beta: float = 0.5
    progressive: bool = False
    augment: bool = False
    encoder_width: int = 32
    encoder_depth: int = 3
    target_match: str = "pixel"
    target_interpolation: str = "guided"
    weight_average_decay: float = 0.99
    seed: int = 0

    def __post_init__(self) -> None:
        _budget_at_least_one(self)
        if self.target_match not in TARGET_MATCHES:
            raise InputError(f"Target matching must be one of {', '.join(TARGET_MATCHES)} "
                             f"(got '{self.target_match}').")
        if self.target_interpolation not in TARGET_INTERPOLATIONS:
            raise InputError(f"Target interpolation must be one of {', '.join(TARGET_INTERPOLATIONS)} "
                             f"(got '{self.target_interpolation}').")
        _positive("Start temperature", self.temperature_start)
        _positive("End temperature", self.temperature_end)
        _positive("Learning rate", self.learning_rate)
        if self.feature_weight < 0 or self.ce_weight < 0:
            raise InputError("Feature weight and cross-entropy weight must be >= 0.")
        if not 1 <= self.encoder_depth <= MAX_STUDENT_LAYERS:
            raise InputError(f"A student has 1 to {MAX_STUDENT_LAYERS} conv layers "
                             f"(got {self.encoder_depth}).")
        if not 0.0 <= self.class_balance_beta <= 4.0:
            raise InputError(f"Class-balance strength must be between 0 and 4 "
                             f"(got {self.class_balance_beta}).")
        if not 0.0 <= self.weight_average_decay < 1.0:
            raise InputError(f"The weight-average decay must be at least 0 and below 1 "
                             f"(got {self.weight_average_decay}).")
        if not 0.0 <= self.label_patch_fraction <= 1.0:
            raise InputError(f"The share of patches drawn around labels must be between 0 and 1 "
                             f"(got {self.label_patch_fraction}).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Search methods of the distillation tuning (:mod:`.tune`): differential evolution, a regular
#: grid, uniform random sampling; all three score candidates through the same objective.
TUNING_METHODS = ("de", "grid", "random")


@dataclass(frozen=True)
class TuningConfig:
    """Search for distillation settings (``tunedistillation``).

    Attributes:
        method: one of :data:`TUNING_METHODS`.
        max_evaluations: hard bound on the short distillation runs of the search (each one is
            an evaluation, a row of the table).
        eval_epochs: epochs of each short distillation (the final student gets the full
            ``DistillConfig.epochs``).
        eval_patches_per_epoch: random patches per epoch of each short distillation.
        tune_class_balance: also search the class-balance strength (else it stays at the base
            configuration's ``class_balance_beta``).
        seed: seed of the search (DE, random sampling) and of every distillation.
    """

    method: str = "de"
    max_evaluations: int = 20
    eval_epochs: int = 6
    eval_patches_per_epoch: int = 128
    tune_class_balance: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in TUNING_METHODS:
            raise InputError(f"Unknown search method '{self.method}'; use one of "
                             f"{', '.join(TUNING_METHODS)}.")
        if self.max_evaluations < 1:
            raise InputError(f"Maximum evaluations must be at least 1 (got {self.max_evaluations}).")
        for name in ("eval_epochs", "eval_patches_per_epoch"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', ' ').capitalize()} must be at least 1 "
                                 f"(got {getattr(self, name)}).")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: What stays fixed while adapting a model to a new site (see :class:`AdaptConfig`).
FREEZE_CHOICES = ("encoder", "features", "none")


@dataclass(frozen=True)
class AdaptConfig:
    """Few-shot adaptation of a trained model to a new site (``adaptsite``).

    Attributes:
        epochs: epochs (each ``patches_per_epoch`` patches); no early stopping: with a handful
            of points there is nothing to hold out.
        patches_per_epoch: patches per epoch, half centred (with jitter) on a labelled pixel,
            half anywhere on the new scene (for the keep term).
        batch_size: patches per step.
        patch_size_px: patch side in pixels of the model's grid (clipped to the scene).
        learning_rate: AdamW learning rate of the trainable layers.
        freeze: ``encoder`` (default: the convolutional encoders stay as trained, the later
            layers adapt), ``features`` (only the classifier adapts) or ``none``.
        keep_weight: weight of the keep term ``T^2 KL(original || adapted)`` over every valid
            pixel of the new scene, which holds predictions away from the labels close to the
            original model's (guards against catastrophic forgetting; 0 turns it off).
        keep_temperature: temperature T of the keep term.
        renormalise: re-estimate each input's mean/std from the new scene's valid pixels
            (unsupervised, AdaBN-style) before fine-tuning; the adapted model then carries the
            new site's statistics. Off by default: measured on the simulator
            (``scripts/bench_adaptation.py``, bundled earth_carbonation student) it lifts a site
            flown under a lower sun with a white-balance error and 3x noise (0.234 -> 0.314 OA
            without labels; 0.319 / 0.294 after fine-tuning with 10 / 20 points against 0.304 /
            0.291 without it) but costs the original site 15-21 points instead of 7-8, and does
            nothing on a site under the same conditions. It helps most when a site differs by a
            pure gain or offset (unit tests).
        augment: modality-specific augmentation of the patches (colour jitter for RGB). Off by
            default since 2026-12-02, like distillation's: adapting the jitter-free bundled
            earth student with it cost earth_other 15-19 points and the original site 18-19;
            without it +4.3 / +1.8 and +4.5 / -0.5 (``scripts/bench_adaptation.py``, 10 / 20
            points).
        seed: seed of sampling, augmentation and dropout.
    """

    epochs: int = 30
    patches_per_epoch: int = 64
    batch_size: int = 8
    patch_size_px: int = 32
    learning_rate: float = 1e-3
    freeze: str = "encoder"
    keep_weight: float = 1.0
    keep_temperature: float = 2.0
    renormalise: bool = False
    augment: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        _budget_at_least_one(self)
        _positive("Learning rate", self.learning_rate)
        _positive("Keep temperature", self.keep_temperature)
        if self.keep_weight < 0:
            raise InputError(f"Keep weight must be >= 0 (got {self.keep_weight}).")
        if self.freeze not in FREEZE_CHOICES:
            raise InputError(f"Freeze must be one of {', '.join(FREEZE_CHOICES)} "
                             f"(got '{self.freeze}').")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
