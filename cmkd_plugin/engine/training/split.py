"""Spatial block split of sparse labels into training and validation (no neighbour leakage).

Whole square blocks of the teacher grid go to validation, chosen at random among the blocks that
hold labels until the requested share of labelled pixels is reached. Neighbouring pixels are
strongly correlated, so a random pixel split would grade the model on near-copies of its training
pixels; blocks avoid that, and training labels within ``buffer_px`` of a validation block are
dropped as well, so no training patch's receptive field sees a validation pixel's label area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..feedback import Feedback
from ..geo.labels import UNLABELLED
from ..models.resample import upsample_mask
from .config import DataConfig


@dataclass
class BlockSplit:
    """Boolean masks of training and validation areas on both grids.

    Attributes:
        train, val: (H, W) reference grid.
        train_coarse, val_coarse: (h, w) teacher grid.
        val_blocks: number of validation blocks.
        block_size_coarse_px: block side in teacher-grid pixels.
    """

    train: np.ndarray
    val: np.ndarray
    train_coarse: np.ndarray
    val_coarse: np.ndarray
    val_blocks: int
    block_size_coarse_px: int

    def to_dict(self) -> dict[str, int]:
        return {"val_blocks": self.val_blocks, "block_size_coarse_px": self.block_size_coarse_px}


def block_split(labels: np.ndarray, labels_coarse: np.ndarray, factor: int, config: DataConfig,
                n_classes: int, feedback: Feedback | None = None) -> BlockSplit:
    """Split labelled pixels into spatial blocks for training and validation.

    Args:
        labels: (H, W) reference-grid labels (255 unlabelled).
        labels_coarse: (h, w) teacher-grid labels.
        factor: reference pixels per teacher pixel.
        config: fraction, block size (reference pixels), buffer and seed.
        n_classes: number of classes.
        feedback: receives a warning when a class has no training or validation label.

    Raises:
        InputError: the labels fill fewer than two blocks while validation was requested.
    """
    from scipy import ndimage

    feedback = feedback or Feedback()
    h, w = labels_coarse.shape
    bc = max(1, config.block_size_px // factor)
    nbx = -(-w // bc)
    rr, cc = np.indices((h, w))
    block_id = (rr // bc) * nbx + cc // bc
    labelled = labels_coarse != UNLABELLED
    val_c = np.zeros((h, w), dtype=bool)
    n_val_blocks = 0
    if config.validation_fraction > 0:
        ids, counts = np.unique(block_id[labelled], return_counts=True)
        if ids.size < 2:
            raise InputError(
                f"All labels fall in one {config.block_size_px}-pixel block, so none can be held "
                "out for validation; spread the labels, reduce the block size or set the "
                "validation fraction to 0."
            )
        rng = np.random.default_rng(config.seed)
        order = rng.permutation(ids.size)
        target = config.validation_fraction * labelled.sum()
        chosen, total = [], 0
        for i in order:
            if total >= target or len(chosen) >= ids.size - 1:
                break
            chosen.append(ids[i])
            total += counts[i]
        val_c = np.isin(block_id, np.asarray(chosen))
        n_val_blocks = len(chosen)
    radius = config.buffer_px
    near_val = ndimage.binary_dilation(val_c, iterations=radius) if radius and val_c.any() else val_c
    train_c = ~near_val
    train_lab = labels_coarse[train_c & labelled]
    val_lab = labels_coarse[val_c & labelled]
    if np.unique(train_lab).size < 2:
        raise InputError(
            "After holding out validation blocks, fewer than two classes are left for training; "
            "label more places, use a smaller block size or a smaller validation fraction."
        )
    missing_train = sorted(set(range(n_classes)) & set(np.unique(labels_coarse[labelled]).tolist())
                           - set(np.unique(train_lab).tolist()))
    if missing_train:
        feedback.warning(f"{len(missing_train)} class(es) are labelled only inside validation "
                         "blocks and cannot be learnt; label them in more places.")
    if config.validation_fraction > 0 and val_lab.size == 0:
        feedback.warning("No validation label survived the split; metrics use training labels.")
    shape = labels.shape
    return BlockSplit(upsample_mask(train_c, factor, shape), upsample_mask(val_c, factor, shape),
                      train_c, val_c, n_val_blocks, bc)
