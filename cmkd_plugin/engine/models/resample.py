"""Between a teacher's grid and the reference (RGB) grid nested in it, ``factor`` reference
pixels per teacher pixel and side: crops, bilinear upsampling and nearest masks.

Upsampling is bilinear with ``align_corners=False`` and the coarse array's edges clamped, as
``torch.nn.functional.interpolate`` does it over a whole array. Every function here gives, for
any window, exactly the values that upsampling the whole array and cropping would give: the
distillation targets of each training patch (:func:`upsample_targets`), a teacher's map
upsampled window by window in training reports and in ``cmkd:classify``
(:func:`upsample_window`), and whole scenes in the benchmarks (:func:`upsample_area`).

Importing this module does not import torch (the block split of training data, numpy only,
uses :func:`upsample_mask`); the functions that return tensors import it when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import torch


def crop_coarse(coarse: np.ndarray, origins_fine: np.ndarray, size_fine: int,
                factor: int) -> torch.Tensor:
    """(B, C, size_fine / factor, ...) float32 crops of (C, h, w) teacher-grid arrays under
    ``size_fine`` patches of the reference grid whose origins are multiples of ``factor``
    (no resampling: one value per teacher pixel)."""
    import torch

    n = size_fine // factor
    out = np.stack([coarse[:, r // factor:r // factor + n, c // factor:c // factor + n]
                    for r, c in origins_fine])
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def crop_padded(image: np.ndarray, origins: np.ndarray, size: int | tuple[int, int]) -> torch.Tensor:
    """(B, C, size, size) (or (B, C, height, width) for a ``size`` pair) float32 crops of a
    (C, H, W) array at ``origins`` that may reach beyond it: outside rows and columns repeat
    the nearest edge."""
    import torch

    _, h, w = image.shape
    size_h, size_w = (size, size) if isinstance(size, (int, np.integer)) else size
    crops = []
    for r, c in origins:
        rows = np.clip(np.arange(r, r + size_h), 0, h - 1)
        cols = np.clip(np.arange(c, c + size_w), 0, w - 1)
        crops.append(image[:, rows[:, None], cols[None, :]])
    return torch.from_numpy(np.ascontiguousarray(np.stack(crops), dtype=np.float32))


def _upsampled_crops(coarse: np.ndarray, origins_fine: np.ndarray, size_h: int, size_w: int,
                     factor: int, before: Callable[[torch.Tensor], torch.Tensor] | None
                     ) -> torch.Tensor:
    """(B, C, size_h, size_w) for origins and sizes that are multiples of ``factor`` > 1: a
    one-pixel replicated margin around each coarse crop makes the result identical to
    upsampling the whole array (``align_corners=False``) and cropping."""
    import torch.nn.functional as F

    t = crop_padded(coarse, np.asarray(origins_fine) // factor - 1,
                    (size_h // factor + 2, size_w // factor + 2))
    if before is not None:
        t = before(t)
    up = F.interpolate(t, scale_factor=factor, mode="bilinear", align_corners=False)
    return up[:, :, factor:factor + size_h, factor:factor + size_w]


def upsample_targets(coarse: np.ndarray, origins_fine: np.ndarray, size_fine: int,
                     factor: int, before: Callable[[torch.Tensor], torch.Tensor] | None = None
                     ) -> torch.Tensor:
    """Bilinear upsampling of (C, h, w) teacher-grid targets onto ``size_fine`` patches of the
    reference grid whose origins are multiples of ``factor``; ``before`` transforms each
    (B, C, h', w') coarse crop first (e.g. logits into probabilities)."""
    # Crop before converting: the targets hold 256 float16 feature channels over the whole
    # teacher grid, and converting all of it per step cost more than the training itself.
    if factor == 1:
        out = crop_coarse(coarse, origins_fine, size_fine, 1)
        return before(out) if before is not None else out
    return _upsampled_crops(coarse, origins_fine, size_fine, size_fine, factor, before)


def upsample_window(coarse: np.ndarray, row: int, col: int, height: int, width: int,
                    factor: int, before: Callable[[torch.Tensor], torch.Tensor] | None = None
                    ) -> torch.Tensor:
    """(C, height, width): the reference-grid window at ``row``/``col`` (reference pixels from
    the origin of the (C, h, w) array ``coarse``, which may be a crop of a teacher grid that
    holds one teacher pixel beyond the window on every side where the grid goes on) upsampled
    bilinearly; ``before`` transforms the coarse crop first. Any origin and size, also beyond
    whole teacher pixels (where the edge is clamped)."""
    ar, ac = row - row % factor, col - col % factor
    if factor == 1:
        up = crop_padded(coarse, np.array([[ar, ac]]), (height, width))
        up = before(up) if before is not None else up
    else:
        whole = lambda n: -(-n // factor) * factor  # noqa: E731 - whole teacher pixels
        up = _upsampled_crops(coarse, np.array([[ar, ac]]), whole(row + height - ar),
                              whole(col + width - ac), factor, before)
    return up[0, :, row - ar:row - ar + height, col - ac:col - ac + width]


def upsample_area(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a whole (C, h, w) array to the reference grid ``shape`` (edges
    beyond whole teacher pixels repeat the last row/column)."""
    return upsample_window(coarse, 0, 0, shape[0], shape[1], factor).numpy()


def upsample_mask(mask: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Nearest upsampling of a (h, w) bool mask; beyond whole teacher pixels is False."""
    big = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    out = np.zeros(shape, dtype=bool)
    hh, ww = min(shape[0], big.shape[0]), min(shape[1], big.shape[1])
    out[:hh, :ww] = big[:hh, :ww]
    return out


__all__ = ["crop_coarse", "crop_padded", "upsample_area", "upsample_mask", "upsample_targets",
           "upsample_window"]
