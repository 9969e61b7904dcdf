"""Spatial block split of the training labels (``training.split.block_split``): whole blocks to
validation, a buffer around them, deterministic per seed, and no class stripped of its labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.geo.labels import UNLABELLED
from cmkd_plugin.engine.training.config import DataConfig
from cmkd_plugin.engine.training.split import MAX_CLASS_LOSS, block_split

H = W = 64      # teacher grid
FACTOR = 2      # reference pixels per teacher pixel
BLOCK = 8       # teacher pixels per block side (block_size_px = BLOCK * FACTOR)


def clustered_labels(seed: int = 0, n_classes: int = 6, per_class: int = 20) -> np.ndarray:
    """Sparse labels of each class in two or three outcrops, like field points: (H, W) coarse."""
    rng = np.random.default_rng(seed)
    lab = np.full((H, W), UNLABELLED, dtype=np.uint8)
    for c in range(n_classes):
        outcrops = rng.integers(0, H, size=(rng.integers(2, 4), 2))
        placed = 0
        while placed < per_class:
            r, q = outcrops[placed % len(outcrops)] + rng.integers(-3, 4, size=2)
            r, q = int(np.clip(r, 0, H - 1)), int(np.clip(q, 0, W - 1))
            if lab[r, q] == UNLABELLED:
                lab[r, q] = c
                placed += 1
    return lab


def split(lab: np.ndarray, fraction: float = 0.25, buffer: int = 1, seed: int = 0,
          feedback: Feedback | None = None):
    fine = np.kron(lab, np.ones((FACTOR, FACTOR), dtype=lab.dtype))
    config = DataConfig(validation_fraction=fraction, block_size_px=BLOCK * FACTOR, buffer_px=buffer,
                        seed=seed)
    return block_split(fine, lab, FACTOR, config, int(lab[lab != UNLABELLED].max()) + 1, feedback)


def counts(lab: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(lab[mask & (lab != UNLABELLED)], minlength=k)


@pytest.mark.parametrize("seed", range(6))
def test_validation_blocks_and_their_buffer_hold_no_training_pixel(seed: int) -> None:
    lab = clustered_labels(seed)
    s = split(lab, buffer=2, seed=seed)
    assert s.val_coarse.any() and s.val_blocks > 0
    assert not (ndimage.binary_dilation(s.val_coarse, iterations=2) & s.train_coarse).any()
    # whole blocks: a block is either all validation or not validation at all
    blocks = s.val_coarse.reshape(H // BLOCK, BLOCK, W // BLOCK, BLOCK)
    assert np.all(blocks.all(axis=(1, 3)) == blocks.any(axis=(1, 3)))
    # the reference-grid masks are the teacher-grid ones upsampled
    assert np.array_equal(s.val[::FACTOR, ::FACTOR], s.val_coarse)
    assert np.array_equal(s.train[::FACTOR, ::FACTOR], s.train_coarse)
    # the counts reported are those of the masks
    k = int(lab[lab != UNLABELLED].max()) + 1
    assert s.train_counts == counts(lab, s.train_coarse, k).tolist()
    assert s.val_counts == counts(lab, s.val_coarse, k).tolist()


@pytest.mark.parametrize("seed", range(6))
def test_no_class_loses_more_than_its_allowance_of_labels(seed: int) -> None:
    lab = clustered_labels(seed)
    k = int(lab.max(initial=0, where=lab != UNLABELLED)) + 1
    totals = counts(lab, np.ones_like(lab, dtype=bool), k)
    for fraction in (0.1, 0.25, 0.4):
        s = split(lab, fraction, buffer=2, seed=seed)
        lost = totals - np.asarray(s.train_counts)   # in validation or dropped in the buffer
        assert np.all(lost <= MAX_CLASS_LOSS * fraction * totals + 1e-9), (fraction, lost, totals)
        assert np.all(np.asarray(s.train_counts) > 0)


def test_a_class_in_two_outcrops_keeps_one_for_training() -> None:
    # The earth_carbonation benchmark scene once lost every dry-vegetation label: 18 of 20 in
    # validation blocks, the last 2 in their buffer. Here class 3 lies in two outcrops of 10.
    lab = clustered_labels(1, n_classes=3)
    lab[lab == 3] = UNLABELLED
    for r0, c0 in ((4, 4), (44, 36)):
        lab[r0:r0 + 2, c0:c0 + 5] = 3
    for seed in range(10):
        s = split(lab, 0.25, buffer=2, seed=seed)
        assert s.train_counts[3] >= 10


def test_every_class_that_can_be_validated_is() -> None:
    lab = clustered_labels(2, n_classes=5, per_class=24)
    s = split(lab, 0.3, buffer=0, seed=4)
    assert all(v > 0 for v in s.val_counts), s.val_counts
    # a class in a single block cannot be: it trains, and the note names it
    lab[lab == 4] = UNLABELLED
    lab[60:62, 60:63] = 4
    notes: list[str] = []
    fine = np.kron(lab, np.ones((FACTOR, FACTOR), dtype=lab.dtype))
    s = block_split(fine, lab, FACTOR,
                    DataConfig(validation_fraction=0.3, block_size_px=BLOCK * FACTOR, buffer_px=0, seed=4),
                    5, Feedback(on_info=notes.append), ("a", "b", "c", "d", "lonely"))
    assert s.train_counts[4] == 6 and s.val_counts[4] == 0
    assert any("Not validated" in n and "lonely" in n for n in notes), notes


def test_same_seed_same_split_other_seed_other_split() -> None:
    lab = clustered_labels(3, n_classes=8)
    a, b = split(lab, seed=7), split(lab, seed=7)
    assert np.array_equal(a.val_coarse, b.val_coarse) and np.array_equal(a.train, b.train)
    assert any(not np.array_equal(a.val_coarse, split(lab, seed=s).val_coarse) for s in range(8, 12))


def test_no_validation_and_unsplittable_labels() -> None:
    lab = clustered_labels(0)
    s = split(lab, 0.0)
    assert s.train_coarse.all() and not s.val_coarse.any() and s.val_blocks == 0
    # every label in one block: nothing can be held out
    one = np.full((H, W), UNLABELLED, dtype=np.uint8)
    one[1, 1], one[2, 2] = 0, 1
    with pytest.raises(InputError, match="one 16-pixel block"):
        split(one)
    # two blocks, each the only home of a class: none can go without the class leaving training
    two = np.full((H, W), UNLABELLED, dtype=np.uint8)
    two[1:3, 1:3], two[40:42, 40:42] = 0, 1
    warnings: list[str] = []
    s = split(two, feedback=Feedback(on_warning=warnings.append))
    assert not s.val_coarse.any() and s.train_counts == [4, 4]
    assert warnings and "Label each class in more places" in warnings[0]
