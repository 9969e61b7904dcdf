"""Model cost: parameters, multiply-adds per pixel, measured CPU throughput.

Multiply-adds (MACs) are counted with ``torch.utils.flop_counter`` on a small input (it counts
convolutions, linear layers and matrix products; element-wise work such as GELU or LayerNorm is
not counted, as is usual; nor are the teacher's per-pixel attention scores, computed
element-wise, 2*M*M*D multiply-adds for M modalities, under 1 % of its total) and divided by
the number of pixels. The models are fully
convolutional, so the per-pixel cost does not depend on the tile size.
"""

from __future__ import annotations

import time
from typing import Mapping

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode


def parameter_count(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _pixels(inputs: Mapping[str, Tensor | None]) -> int:
    x = next(v for v in inputs.values() if v is not None)
    return int(x.shape[0] * x.shape[2] * x.shape[3])


def macs_per_pixel(model: nn.Module, inputs: Mapping[str, Tensor | None]) -> float:
    """Multiply-adds per pixel of one eval-mode forward pass on ``inputs``.

    For the teacher the figure depends on how many modalities are given (each one adds an
    encoder, a projection and an attention token), so pass the inputs you mean to compare.
    """
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            model(inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 2.0 / _pixels(inputs)


def measure_throughput(model: nn.Module, inputs: Mapping[str, Tensor | None], repeats: int = 3) -> float:
    """Measured CPU inference speed in megapixels per second (best of ``repeats`` timed runs).

    One untimed warm-up run comes first. The best rather than the mean run is reported because
    other processes on the machine only ever make a run slower.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(inputs)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                model(inputs)
                best = min(best, time.perf_counter() - start)
    finally:
        model.train(was_training)
    return _pixels(inputs) / best / 1e6


def cost_summary(model: nn.Module, inputs: Mapping[str, Tensor | None], repeats: int = 3) -> dict[str, float | int]:
    """``{"parameters", "macs_per_pixel", "throughput_mpx_per_s", "threads"}`` for reports."""
    return {
        "parameters": parameter_count(model),
        "macs_per_pixel": macs_per_pixel(model, inputs),
        "throughput_mpx_per_s": measure_throughput(model, inputs, repeats),
        "threads": torch.get_num_threads(),
    }
