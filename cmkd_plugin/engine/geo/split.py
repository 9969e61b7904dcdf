"""Train / validation split of labelled pixels by spatial blocks (no neighbouring-pixel leakage).

The grid is cut into square blocks of ``block_size_px``; whole blocks go to validation, so a
validation pixel never shares a block with a training pixel. Optionally, training pixels within
``buffer_px`` of a validation block are left out too (a network with a receptive field of that
radius cannot then see validation pixels while training).

Choice of validation blocks (deterministic for a seed):

1. blocks are shuffled with ``numpy.random.default_rng(seed)``;
2. for each class, rarest first, that has no validation pixel yet, the first block holding it
   whose move keeps every class in training is moved to validation;
3. further blocks are moved, in shuffled order, while the validation share stays at or below
   ``validation_fraction`` and every class keeps training pixels.

A class labelled in a single block stays in training (it cannot be validated; the result says
which classes have no validation pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class SplitConfig:
    """Spatial block split settings.

    Attributes:
        block_size_px: side of a block in pixels.
        validation_fraction: target share of labelled pixels in validation.
        buffer_px: training pixels closer than this to a validation block are dropped
            (at most ``block_size_px``).
        seed: random seed (same seed, same split).
    """

    block_size_px: int = 32
    validation_fraction: float = 0.2
    buffer_px: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.block_size_px < 1:
            raise InputError(f"Block size must be at least 1 pixel; got {self.block_size_px}.")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise InputError("Validation fraction must be in [0, 1); got "
                             f"{self.validation_fraction}.")
        if not 0 <= self.buffer_px <= self.block_size_px:
            raise InputError(f"Buffer ({self.buffer_px} px) must be between 0 and the block size "
                             f"({self.block_size_px} px).")


@dataclass
class SplitResult:
    """Which labelled pixels train and which validate (masks over the input pixel arrays).

    Attributes:
        train: bool per pixel.
        validation: bool per pixel.
        dropped: bool per pixel: training pixels inside the buffer around validation blocks.
        block_ids: block index of each pixel (row-major over the grid of blocks).
        validation_blocks: ids of the validation blocks.
        classes_without_validation: class indexes that have no validation pixel.
    """

    train: np.ndarray
    validation: np.ndarray
    dropped: np.ndarray
    block_ids: np.ndarray
    validation_blocks: np.ndarray
    classes_without_validation: list[int] = field(default_factory=list)

    def counts(self, classes: np.ndarray, n_classes: int) -> dict[str, list[int]]:
        """Pixels per class in training and validation."""
        return {
            "train": np.bincount(classes[self.train], minlength=n_classes).tolist(),
            "validation": np.bincount(classes[self.validation], minlength=n_classes).tolist(),
        }


def block_ids(rows: np.ndarray, cols: np.ndarray, block_size_px: int, width_px: int) -> np.ndarray:
    """Row-major id of the block holding each pixel of a grid ``width_px`` wide."""
    blocks_per_row = -(-width_px // block_size_px)
    return (rows // block_size_px) * blocks_per_row + (cols // block_size_px)


def spatial_block_split(rows: np.ndarray, cols: np.ndarray, classes: np.ndarray, width_px: int,
                        config: SplitConfig = SplitConfig(),
                        n_classes: int | None = None) -> SplitResult:
    """Split labelled pixels into training and validation by spatial blocks.

    Args:
        rows, cols: pixel coordinates of the labelled pixels.
        classes: class index of each pixel.
        width_px: grid width (to number the blocks).
        config: block size, validation share, buffer, seed.
        n_classes: number of classes (default: max class + 1).

    Returns:
        Masks over the pixels (see :class:`SplitResult`).
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    classes = np.asarray(classes, dtype=np.int64)
    if not (rows.shape == cols.shape == classes.shape):
        raise ValueError("rows, cols and classes must have the same shape")
    n_classes = int(n_classes if n_classes is not None else (classes.max() + 1 if classes.size else 0))
    b = config.block_size_px
    ids = block_ids(rows, cols, b, width_px)
    uniq, inverse = np.unique(ids, return_inverse=True)
    # pixels per (block, class)
    table = np.zeros((uniq.size, max(n_classes, 1)), dtype=np.int64)
    np.add.at(table, (inverse, classes), 1)
    train_left = table.sum(axis=0)
    total = int(table.sum())
    target = config.validation_fraction * total

    rng = np.random.default_rng(config.seed)
    order = rng.permutation(uniq.size)
    in_val = np.zeros(uniq.size, dtype=bool)
    val_count = 0

    def can_move(k: int) -> bool:
        present = table[k] > 0
        return bool(np.all(train_left[present] - table[k][present] > 0))

    def move(k: int) -> None:
        nonlocal val_count
        in_val[k] = True
        train_left[:] -= table[k]
        val_count += int(table[k].sum())

    if target > 0:
        # 1. one validation block per class where possible, rarest classes first
        for c in np.argsort(table.sum(axis=0), kind="stable"):
            if table[:, c].sum() == 0 or table[in_val, c].sum() > 0:
                continue
            for k in order:
                if not in_val[k] and table[k, c] > 0 and can_move(k) \
                        and val_count + table[k].sum() <= max(target, 1) * 1.5:
                    move(k)
                    break
        # 2. fill up to the target share
        for k in order:
            if val_count >= target:
                break
            if not in_val[k] and val_count + table[k].sum() <= target and can_move(k):
                move(k)

    validation = in_val[inverse]
    train = ~validation
    dropped = np.zeros_like(train)
    if config.buffer_px > 0 and in_val.any():
        val_set = uniq[in_val]
        g = config.buffer_px
        # with g <= block size, the blocks within g of a pixel are those of the 9 probe points
        near = np.zeros(train.sum(), dtype=bool)
        tr, tc = rows[train], cols[train]
        for dr in (-g, 0, g):
            for dc in (-g, 0, g):
                r, c = tr + dr, tc + dc
                ok = (r >= 0) & (c >= 0) & (c < width_px)
                probe = block_ids(np.where(ok, r, 0), np.where(ok, c, 0), b, width_px)
                near |= ok & np.isin(probe, val_set)
        dropped[np.flatnonzero(train)[near]] = True
        train &= ~dropped
    missing = [int(c) for c in range(n_classes)
               if table[:, c].sum() > 0 and not np.any(classes[validation] == c)]
    return SplitResult(train, validation, dropped, ids, uniq[in_val], missing)
