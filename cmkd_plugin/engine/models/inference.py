"""Prediction helper shared by classification and evaluation."""

from __future__ import annotations

from typing import Mapping, NamedTuple

import torch
from torch import Tensor, nn


class Prediction(NamedTuple):
    """Per-pixel class probabilities of one batch.

    Attributes:
        probabilities: (B, K, H, W) float32 softmax, NaN where not ``valid``.
        classes: (B, H, W) int64 arg-max class, -1 where not ``valid``.
        valid: (B, H, W) bool, pixels with at least one usable input.
        used: modalities the model used.
    """

    probabilities: Tensor
    classes: Tensor
    valid: Tensor
    used: tuple[str, ...]


def predict(model: nn.Module, inputs: Mapping[str, Tensor | None]) -> Prediction:
    """Run ``model`` in eval mode without autograd and turn logits into probabilities.

    The model's training/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(inputs)
            probs = torch.softmax(out.logits.float(), dim=1)
            mask = out.valid.unsqueeze(1)
            probs = torch.where(mask, probs, torch.full_like(probs, float("nan")))
            classes = torch.where(out.valid, probs.argmax(dim=1), torch.full_like(out.valid, -1, dtype=torch.int64))
    finally:
        model.train(was_training)
    return Prediction(probs, classes, out.valid, out.used)
