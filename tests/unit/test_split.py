"""Spatial block split: whole blocks to validation, stratified, deterministic, with a buffer."""

from __future__ import annotations

import numpy as np
import pytest

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.split import SplitConfig, block_ids, spatial_block_split

H, W = 120, 150


def labelled(seed: int = 0, n_classes: int = 4, density: float = 0.3):
    """Spatially clustered classes (like mineral zones) on an H x W grid."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:H, 0:W]
    zones = ((rr // 40) * 3 + cc // 50) % n_classes
    keep = rng.random((H, W)) < density
    return rr[keep], cc[keep], zones[keep]


def test_no_validation_pixel_shares_a_block_with_a_training_pixel() -> None:
    rows, cols, classes = labelled()
    cfg = SplitConfig(block_size_px=16, validation_fraction=0.25, seed=3)
    split = spatial_block_split(rows, cols, classes, W, cfg)
    assert not (split.train & split.validation).any()
    assert (split.train | split.validation).all()
    ids = block_ids(rows, cols, 16, W)
    assert set(ids[split.train]).isdisjoint(set(ids[split.validation]))
    # ...checked geometrically too: a training pixel's block holds no validation pixel
    val_blocks = {(r // 16, c // 16) for r, c in zip(rows[split.validation], cols[split.validation])}
    assert all((r // 16, c // 16) not in val_blocks
               for r, c in zip(rows[split.train], cols[split.train]))
    share = split.validation.mean()
    assert 0.15 <= share <= 0.25 + 1e-9


def test_deterministic_for_a_seed_and_varies_with_it() -> None:
    rows, cols, classes = labelled()
    a = spatial_block_split(rows, cols, classes, W, SplitConfig(16, 0.2, seed=7))
    b = spatial_block_split(rows, cols, classes, W, SplitConfig(16, 0.2, seed=7))
    c = spatial_block_split(rows, cols, classes, W, SplitConfig(16, 0.2, seed=8))
    assert np.array_equal(a.validation, b.validation)
    assert not np.array_equal(a.validation, c.validation)


@pytest.mark.parametrize("seed", range(5))
def test_every_class_trains_and_validates_where_possible(seed: int) -> None:
    rows, cols, classes = labelled(seed, n_classes=5)
    # a rare class in one block only, and another in two blocks
    rows = np.append(rows, [100, 101, 5, 70])
    cols = np.append(cols, [140, 141, 5, 140])
    classes = np.append(classes, [5, 5, 6, 6])
    split = spatial_block_split(rows, cols, classes, W, SplitConfig(16, 0.2, seed=seed),
                                n_classes=7)
    counts = split.counts(classes, 7)
    assert all(n > 0 for n in counts["train"])
    assert split.classes_without_validation == [5]  # single block: it must train
    assert all(counts["validation"][k] > 0 for k in (0, 1, 2, 3, 4, 6))


def test_buffer_keeps_training_pixels_away_from_validation_blocks() -> None:
    rows, cols, classes = labelled(1, density=1.0)
    g, b = 3, 16
    split = spatial_block_split(rows, cols, classes, W, SplitConfig(b, 0.2, buffer_px=g, seed=2))
    assert split.dropped.any() and not (split.dropped & split.train).any()
    val_block = np.zeros((H, W), dtype=bool)
    for r, c in zip(rows[split.validation], cols[split.validation]):
        val_block[(r // b) * b:(r // b + 1) * b, (c // b) * b:(c // b + 1) * b] = True
    for r, c in zip(rows[split.train], cols[split.train]):
        assert not val_block[max(r - g, 0):r + g + 1, max(c - g, 0):c + g + 1].any()
    # pixels dropped are exactly those near a validation block
    for r, c in zip(rows[split.dropped], cols[split.dropped]):
        assert val_block[max(r - g, 0):r + g + 1, max(c - g, 0):c + g + 1].any()


def test_zero_validation_and_bad_configs() -> None:
    rows, cols, classes = labelled()
    split = spatial_block_split(rows, cols, classes, W, SplitConfig(16, 0.0))
    assert split.train.all() and not split.validation.any()
    with pytest.raises(InputError):
        SplitConfig(block_size_px=0)
    with pytest.raises(InputError):
        SplitConfig(validation_fraction=1.0)
    with pytest.raises(InputError):
        SplitConfig(block_size_px=8, buffer_px=9)
