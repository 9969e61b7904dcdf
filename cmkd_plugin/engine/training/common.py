"""Torch helpers shared by teacher training, distillation and the baseline: determinism,
normalisation from model-card statistics, patch sampling and whole-area prediction."""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, Mapping, ParamSpec, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from ..feedback import Feedback
from ..geo.labels import UNLABELLED
from ..geo.tiling import StitchPlan, TilingConfig
from ..models.card import ModalityCard
from ..models.config import DEM, DEM_CHANNELS, HSI, MS, RGB
from ..models.preprocess import band_statistics
from ..models.resample import upsample_window

P = ParamSpec("P")
R = TypeVar("R")

RGB_BAND_NAMES = ("red", "green", "blue")
# Tiles for whole-area prediction: large enough to be efficient, small enough for memory.
PREDICT_TILE_PX = 256
PREDICT_OVERLAP_PX = 16


def single_threaded(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with one torch thread, then restore the previous count.

    Training steps work on a few hundred pixels: with several threads on a busy CPU each
    operator waits at OpenMP barriers for descheduled threads, measured 20-30x slower than one
    thread on the 2-core build machine (teacher step 2.4 s against 0.07 s).
    """
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return func(*args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    return wrapper


def seed_everything(seed: int) -> None:
    """Seed torch and ask it for deterministic kernels (cheap on the CPU)."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def modality_card(name: str, array: np.ndarray, valid: np.ndarray,
                  wavelengths_nm: Sequence[float] | None = None,
                  fwhm_nm: Sequence[float] | None = None) -> ModalityCard:
    """The card of one input: band names and the mean/std of its valid pixels."""
    mean, std = band_statistics(array, valid)
    if name == RGB:
        names = RGB_BAND_NAMES
    elif name == DEM:
        names = DEM_CHANNELS
    elif wavelengths_nm is not None:
        names = tuple(f"{w:.1f} nm" for w in wavelengths_nm)
    else:
        names = tuple(f"band {i + 1}" for i in range(array.shape[0]))
    return ModalityCard(
        name, tuple(names), mean, std,
        None if wavelengths_nm is None else tuple(float(v) for v in wavelengths_nm),
        None if fwhm_nm is None else tuple(float(v) for v in fwhm_nm))


def stats_tensors(card: ModalityCard) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, 1, 1) mean and std tensors of a modality card."""
    mean = torch.tensor(card.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(card.std, dtype=torch.float32).view(1, -1, 1, 1)
    return mean, std


def normalise_batch(x: torch.Tensor, card: ModalityCard) -> torch.Tensor:
    """``(x - mean) / std`` with the card's statistics (NaN stays NaN)."""
    mean, std = stats_tensors(card)
    return (x - mean) / std


def crop_batch(array: np.ndarray, origins: np.ndarray, size: int) -> torch.Tensor:
    """(B, C, size, size) tensor of square crops of a (C, H, W) array at (row, col) origins."""
    out = np.stack([array[:, r:r + size, c:c + size] for r, c in origins])
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def training_batch(inputs: Mapping[str, np.ndarray], cards: Mapping[str, ModalityCard],
                   origins: np.ndarray, size: int,
                   augment_with: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Normalised (B, C, size, size) crops of every input at ``origins``, each augmented by its
    modality's augmenter (:data:`.augment.AUGMENTERS`) drawing from ``augment_with`` (None: no
    augmentation)."""
    from .augment import AUGMENTERS

    batch = {}
    for name, arr in inputs.items():
        x = crop_batch(arr, origins, size)
        if augment_with is not None:
            x = AUGMENTERS[name](x, augment_with)
        batch[name] = normalise_batch(x, cards[name])
    return batch


def crop_labels(labels: np.ndarray, origins: np.ndarray, size: int) -> torch.Tensor:
    """(B, size, size) int64 label crops (255 = unlabelled)."""
    out = np.stack([labels[r:r + size, c:c + size] for r, c in origins])
    return torch.from_numpy(out.astype(np.int64))


def patch_origins(rng: np.random.Generator, shape: tuple[int, int], size: int, count: int,
                  centres: tuple[np.ndarray, np.ndarray] | None = None, align: int = 1,
                  jitter: bool = True) -> np.ndarray:
    """(count, 2) top-left corners of ``size`` patches inside ``shape``.

    With ``centres`` (rows, cols of e.g. labelled pixels) each patch contains a randomly chosen
    one at a random position (``jitter``) or at its centre, otherwise patches are uniform.
    Origins are multiples of ``align`` (whole teacher pixels when the student's grid is finer).
    """
    h, w = shape
    max_r, max_c = max(h - size, 0), max(w - size, 0)
    if centres is not None and centres[0].size:
        pick = rng.integers(0, centres[0].size, count)
        cr, cc = centres[0][pick], centres[1][pick]
        if jitter:
            r = cr - rng.integers(0, size, count)
            c = cc - rng.integers(0, size, count)
        else:
            r, c = cr - size // 2, cc - size // 2
        r = _aligned_around(r, cr, size, max_r, align)
        c = _aligned_around(c, cc, size, max_c, align)
    else:
        r = rng.integers(0, max_r + 1, count) // align * align
        c = rng.integers(0, max_c + 1, count) // align * align
    return np.stack([r, c], axis=1)


def _aligned_around(origin: np.ndarray, centre: np.ndarray, size: int, max_origin: int,
                    align: int) -> np.ndarray:
    """``origin`` clipped into the image and floored to a multiple of ``align``, then moved one
    step forward where flooring pushed ``centre`` out of its ``size`` patch (and the image allows)."""
    o = np.clip(origin, 0, max_origin) // align * align
    return np.where((o + size <= centre) & (o + align <= max_origin), o + align, o)


#: A weight average spans at most about 1 / AVERAGE_SPAN_DIVISOR of a run: its decay is capped
#: at ``1 - AVERAGE_SPAN_DIVISOR / total_steps`` (0.9917 for the default 960-step distillation,
#: above its 0.99; 0.75 for a 32-step trial, 0 — no averaging — at 8 steps or fewer).
AVERAGE_SPAN_DIVISOR = 8


class WeightAverage:
    """Exponential moving average of a model's parameters, updated after every optimiser step.

    ``decay`` 0 turns it off: :meth:`applied` then gives the model as it is. With
    ``total_steps`` the decay is capped (:data:`AVERAGE_SPAN_DIVISOR`) so that a short run
    averages over its last steps rather than leaning on its first ones.
    """

    def __init__(self, model: nn.Module, decay: float, total_steps: int | None = None) -> None:
        if total_steps is not None:
            decay = min(decay, max(0.0, 1.0 - AVERAGE_SPAN_DIVISOR / total_steps))
        self.model, self.decay = model, decay
        self.shadow = [p.detach().clone() for p in model.parameters()] if decay > 0 else None

    def update(self) -> None:
        if self.shadow is not None:
            with torch.no_grad():
                for s, p in zip(self.shadow, self.model.parameters()):
                    s.lerp_(p.detach(), 1.0 - self.decay)

    def _load(self, values: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, v in zip(self.model.parameters(), values):
                p.copy_(v)

    @contextlib.contextmanager
    def applied(self) -> Iterator[nn.Module]:
        """The model holding the averaged weights inside the block, its own ones after it."""
        if self.shadow is None:
            yield self.model
            return
        own = [p.detach().clone() for p in self.model.parameters()]
        self._load(self.shadow)
        try:
            yield self.model
        finally:
            self._load(own)

    def finalise(self) -> None:
        """Leave the averaged weights in the model."""
        if self.shadow is not None:
            self._load(self.shadow)


def labelled_pixels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of labelled pixels."""
    return np.nonzero(labels != UNLABELLED)


def predict_area(model: nn.Module, inputs: Mapping[str, np.ndarray],
                 cards: Mapping[str, ModalityCard], feedback: Feedback | None = None,
                 with_features: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Run ``model`` over whole (C, H, W) raw arrays, tile by tile.

    Returns:
        ``(logits (K, H, W) float32, features (D, H, W) float16 or None, valid (H, W))``.
    """
    feedback = feedback or Feedback()
    first = next(iter(inputs.values()))
    h, w = first.shape[1:]
    tile = TilingConfig(PREDICT_TILE_PX, PREDICT_OVERLAP_PX)
    plan = StitchPlan(w, h, tile)
    k = model.config.n_classes
    d = model.config.embed_dim
    logits = np.zeros((k, h, w), dtype=np.float32)
    features = np.zeros((d, h, w), dtype=np.float16) if with_features else None
    valid = np.zeros((h, w), dtype=bool)
    was_training = model.training
    model.eval()
    tasks = plan.tasks()
    with torch.inference_mode():
        for i, task in enumerate(tasks):
            feedback.check_cancelled()
            rs, cs = task.read.slices
            batch = {name: normalise_batch(torch.from_numpy(
                np.ascontiguousarray(arr[:, rs, cs], dtype=np.float32))[None], cards[name])
                for name, arr in inputs.items()}
            out = model(batch)
            cr, cc = task.crop
            ws, wc = task.write.slices
            logits[:, ws, wc] = out.logits[0][:, cr, cc].numpy()
            valid[ws, wc] = out.valid[0][cr, cc].numpy()
            if features is not None:
                features[:, ws, wc] = out.features[0][:, cr, cc].numpy().astype(np.float16)
            feedback.progress(100.0 * (i + 1) / len(tasks))
    model.train(was_training)
    return logits, features, valid


def predict_pixels(model: nn.Module, inputs: Mapping[str, np.ndarray],
                   cards: Mapping[str, ModalityCard], rows: np.ndarray, cols: np.ndarray,
                   size: int, batch_size: int = 256) -> np.ndarray:
    """Predicted class at given pixels, each from a ``size`` patch centred on it.

    Exact (same as a whole-area prediction) when ``size >= 2 * receptive radius + 1``; far
    cheaper than predicting the whole area when the pixels are sparse validation labels.
    """
    first = next(iter(inputs.values()))
    h, w = first.shape[1:]
    size = min(size, h, w)
    r0 = np.clip(rows - size // 2, 0, h - size)
    c0 = np.clip(cols - size // 2, 0, w - size)
    out = np.zeros(rows.size, dtype=np.int64)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for i in range(0, rows.size, batch_size):
            origins = np.stack([r0[i:i + batch_size], c0[i:i + batch_size]], axis=1)
            batch = {n: normalise_batch(crop_batch(a, origins, size), cards[n]) for n, a in inputs.items()}
            logits = model(batch).logits
            rr = torch.from_numpy(rows[i:i + batch_size] - origins[:, 0])
            cc = torch.from_numpy(cols[i:i + batch_size] - origins[:, 1])
            out[i:i + batch_size] = logits[torch.arange(len(origins)), :, rr, cc].argmax(dim=1).numpy()
    model.train(was_training)
    return out


def refined_classes(coarse_logits: np.ndarray, factor: int, guide: Mapping[str, np.ndarray],
                    guide_cards: Mapping[str, ModalityCard], radius: int, mask: np.ndarray,
                    tile_px: int = 256) -> np.ndarray:
    """(H, W) classes of a teacher's (K, h, w) logits as ``cmkd:classify`` maps them with
    ``TEACHER_GRID`` ``own``: made probabilities, upsampled bilinearly to the reference grid
    and refined with a guided filter of
    ``radius`` (:func:`~..models.guided.refine_probabilities`) by ``guide``, raw (C, H, W)
    inputs normalised by ``guide_cards`` (:func:`~..models.guided.guide_image`; e.g. the RGB);
    only at the pixels of ``mask`` (0 elsewhere).

    Works window by window (``tile_px`` plus the filter's reach of two radii, cut at the
    raster's edges like the filter's own windows), only where ``mask`` has pixels: equal to
    refining the whole raster, in the memory of one window (sparse validation labels on a
    large scene would otherwise need K full-resolution probability planes and their products).
    """
    from ..models.guided import guide_image, refine_probabilities

    h, w = mask.shape
    reach = 2 * radius
    out = np.zeros((h, w), dtype=np.int64)
    for r in range(0, h, tile_px):
        for c in range(0, w, tile_px):
            inner = mask[r:r + tile_px, c:c + tile_px]
            if not inner.any():
                continue
            r0, c0 = max(0, r - reach), max(0, c - reach)
            r1, c1 = min(h, r + tile_px + reach), min(w, c + tile_px + reach)
            probs = upsample_window(coarse_logits, r0, c0, r1 - r0, c1 - c0, factor,
                                    before=functools.partial(torch.softmax, dim=1))[None]
            g = torch.from_numpy(guide_image({k: v[:, r0:r1, c0:c1] for k, v in guide.items()},
                                             guide_cards))[None]
            cls = refine_probabilities(g, probs, radius)[0].argmax(dim=0).numpy()
            ih, iw = inner.shape
            out[r:r + ih, c:c + iw] = cls[r - r0:r - r0 + ih, c - c0:c - c0 + iw]
    return np.where(mask, out, 0)


__all__ = [
    "HSI", "MS", "RGB", "DEM", "single_threaded", "seed_everything", "modality_card",
    "normalise_batch", "crop_batch", "training_batch",
    "crop_labels", "patch_origins", "labelled_pixels", "predict_area", "refined_classes",
]
