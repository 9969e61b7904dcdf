"""Batches of tiles -> class probabilities with a loaded teacher or student."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..models.card import ModelCard
from ..models.config import RGB
from ..models.preprocess import normalise
from ..models.resample import upsample_window
from .inputs import COARSE, COARSE_VALID, COARSE_WINDOW, coarse_factor, under_window


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cuda`` without a GPU is an input error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("Device 'cuda' was asked for but no CUDA GPU is available; choose "
                         "'auto' or 'cpu'.")
    return torch.device(name)


def receptive_radius_px(card: ModelCard) -> int:
    """Receptive-field radius of the architectures: one pixel per 3x3 convolution."""
    return int(card.architecture.encoder_depth)


class Predictor:
    """A model ready for inference on batches of raw (scaled, unnormalised) tiles."""

    def __init__(self, model: nn.Module, card: ModelCard, device: torch.device) -> None:
        self.card = card
        self.device = device
        self.model = model.to(device).eval()
        self._stats = {m.name: (m.mean, m.std) for m in card.modalities}

    def predict(self, batch: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities of a batch of same-sized tiles.

        Args:
            batch: one dict ``{modality: (C, h, w) float32}`` per tile (NaN = nodata).

        Returns:
            ``(probabilities (B, K, h, w) float32, model-valid (B, h, w) bool)``.
        """
        names = list(batch[0])
        inputs = {}
        for name in names:
            stacked = np.stack([tile[name] for tile in batch])
            mean, std = self._stats[name]
            inputs[name] = torch.from_numpy(normalise(stacked, mean, std)).to(self.device)
        with torch.inference_mode():
            out = self.model(inputs)
            probs = torch.softmax(out.logits.float(), dim=1)
        return probs.cpu().numpy(), out.valid.cpu().numpy()


def refinement_radius(card: ModelCard, grid_pixel_m: float, overlap_px: int,
                      students: bool = False) -> int:
    """Radius (processing-grid pixels) of the refinement by the RGB, 0 for none.

    A teacher trained on a grid coarser than the RGB (its card's ``pixel_size_m``, the HSI's
    pixel) is refined with a radius of one of its pixels; with ``students``, a student too,
    with one pixel of the teacher it was distilled from (its card's ``grid_factor`` times its
    own pixel). The radius is capped so that the filter's reach
    (two radii) plus the model's receptive field stays inside the half overlap each tile
    gives up when stitched: the map then equals refining the whole raster. At the default
    overlap of 32 px a 2 m teacher over 0.25 m RGB gets its full 8 px with the default
    per-pixel encoders, 7 px with 2-layer ones. Teachers without RGB, cards without a pixel
    size and models whose teacher is at most twice as coarse as the RGB are not refined; nor
    are students unless ``students``. Pixel sizes are ground metres
    (:attr:`~..geo.grid.Grid.pixel_size_m`), on geographic grids too.
    """
    if card.pixel_size_m is None or RGB not in card.architecture.modality_names:
        return 0
    if card.kind == "teacher":
        coarse_m = card.pixel_size_m
    else:
        factor = card.training.get("grid_factor")
        if not students or isinstance(factor, bool) or not isinstance(factor, int):
            return 0
        coarse_m = factor * card.pixel_size_m
    factor = coarse_factor(coarse_m, grid_pixel_m)
    if factor == 1:
        return 0
    return max(0, min(factor, (overlap_px // 2 - receptive_radius_px(card)) // 2))


class CoarseTeacher:
    """A teacher run on its own, coarser grid, its map upsampled to the processing grid.

    Each tile carries the teacher's inputs on its grid (:class:`~.inputs.ModelInputs`, keys
    ``coarse:…``); the teacher maps them, and its class probabilities are upsampled
    bilinearly to the tile's pixels (pixels without inputs count as uniform): a pixel between
    two teacher pixels gets the mixture of their distributions, which mapped the simulator's
    scenes better than interpolating log-probabilities (mars 0.912 against 0.902 after
    refinement). A 2 m teacher over 0.25 m RGB so evaluates 64 times fewer pixels than it
    would on the RGB's grid, on the inputs it was trained on.
    """

    def __init__(self, inner: "Predictor") -> None:
        self.inner = inner
        self.card = inner.card

    def predict(self, batch: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        probs_out, valid_out = [], []
        for tile in batch:
            fr, fc, fh, fw, cr, cc, f = (int(v) for v in tile[COARSE_WINDOW])
            inputs = {k[len(COARSE):]: v for k, v in tile.items()
                      if k.startswith(COARSE) and k not in (COARSE_WINDOW, COARSE_VALID)}
            probs, valid = self.inner.predict([inputs])
            valid = valid & tile[COARSE_VALID][None]
            k = probs.shape[1]
            p = np.where(valid[0][None] & np.isfinite(probs[0]), probs[0], 1.0 / k).astype(np.float32)
            # The crop holds one teacher pixel beyond the window wherever the grid goes on.
            probs_out.append(upsample_window(p, fr - cr * f, fc - cc * f, fh, fw, f).numpy())
            valid_out.append(under_window(valid[0], fr, fc, fh, fw, f, cr, cc))
        return np.stack(probs_out).astype(np.float32), np.stack(valid_out)


class RefinedMap:
    """A predictor whose class probabilities are refined by the RGB of each tile.

    A teacher sees the minerals through its coarse HSI pixels; a guided filter
    (:mod:`~..models.guided`) with the tile's RGB as guide makes its probabilities follow the
    RGB's edges inside each of them. On the simulator's test scenes this put the teacher's map
    about 3 points closer to the 0.25 m truth (docs/DISTILLATION.md, *Sharper teacher maps*).
    On a student's probabilities the same filter is an edge-aware spatial smoothing (mars
    students +4.8, earth +2.3 points there).
    """

    def __init__(self, inner: "Predictor", radius: int) -> None:
        self.inner = inner
        self.card = inner.card
        self.radius = radius
        self._rgb_card = {RGB: self.card.modality(RGB)}

    def predict(self, batch: Sequence[Mapping[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        from ..models.guided import guide_image, refine_probabilities

        probs, valid = self.inner.predict(batch)
        guide = guide_image({RGB: np.stack([tile[RGB] for tile in batch])}, self._rgb_card)
        # Outside the model's valid pixels the probabilities carry no information: uniform, so
        # they pull their neighbours towards no class in particular.
        k = probs.shape[1]
        src = np.where(np.isfinite(probs) & valid[:, None], probs, 1.0 / k).astype(np.float32)
        with torch.inference_mode():
            refined = refine_probabilities(torch.from_numpy(guide), torch.from_numpy(src), self.radius)
        return refined.numpy(), valid


def confidence(probs: np.ndarray) -> np.ndarray:
    """``(2, h, w)``: maximum probability and entropy normalised to [0, 1] by ``log K``."""
    k = probs.shape[0]
    p = np.clip(probs, 1e-12, 1.0)
    entropy = -(probs * np.log(p)).sum(axis=0) / np.log(k)
    return np.stack([probs.max(axis=0), np.clip(entropy, 0.0, 1.0)]).astype(np.float32)
