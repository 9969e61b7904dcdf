"""Batches of tiles -> class probabilities with a loaded teacher or student."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..models.card import ModelCard
from ..models.preprocess import normalise


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


def confidence(probs: np.ndarray) -> np.ndarray:
    """``(2, h, w)``: maximum probability and entropy normalised to [0, 1] by ``log K``."""
    k = probs.shape[0]
    p = np.clip(probs, 1e-12, 1.0)
    entropy = -(probs * np.log(p)).sum(axis=0) / np.log(k)
    return np.stack([probs.max(axis=0), np.clip(entropy, 0.0, 1.0)]).astype(np.float32)
