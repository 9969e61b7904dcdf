"""Bilinear upsampling from a teacher's grid: every window, patch or crop gives what
upsampling the whole array and cropping gives (the reference below is torch's interpolation of
the whole array, edges beyond whole teacher pixels repeating the last row and column)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cmkd_plugin.engine.models.resample import (upsample_area, upsample_mask, upsample_targets,
                                                upsample_window)


def whole(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(coarse.astype(np.float32))[None]
    up = F.interpolate(t, scale_factor=factor, mode="bilinear", align_corners=False)[0].numpy()
    pad = ((0, 0), (0, max(0, shape[0] - up.shape[1])), (0, max(0, shape[1] - up.shape[2])))
    return np.pad(up, pad, mode="edge")[:, :shape[0], :shape[1]]


def test_patches_equal_the_whole_area_upsampled() -> None:
    rng = np.random.default_rng(0)
    coarse = rng.normal(size=(5, 12, 12)).astype(np.float32)
    full = whole(coarse, 4, (48, 48))
    np.testing.assert_allclose(upsample_area(coarse, 4, (48, 48)), full, rtol=1e-5, atol=1e-6)
    origins = np.array([[0, 0], [8, 12], [32, 32], [4, 28]])
    patches = upsample_targets(coarse, origins, 16, 4).numpy()
    for patch, (r, c) in zip(patches, origins):
        np.testing.assert_allclose(patch, full[:, r:r + 16, c:c + 16], rtol=1e-5, atol=1e-6)


def test_float16_features_are_upsampled_in_float32_up_to_the_edges() -> None:
    rng = np.random.default_rng(1)
    coarse = rng.normal(size=(4, 6, 6)).astype(np.float16)
    full = whole(coarse, 4, (24, 24))
    origins = np.array([[0, 0], [16, 16], [0, 16]])
    patches = upsample_targets(coarse, origins, 8, 4).numpy()
    assert patches.dtype == np.float32
    for patch, (r, c) in zip(patches, origins):
        np.testing.assert_allclose(patch, full[:, r:r + 8, c:c + 8], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factor", [1, 3, 4])
def test_any_window_equals_the_whole_area_upsampled(factor: int) -> None:
    # Origins and sizes off the teacher pixels, windows reaching beyond whole teacher pixels
    # (a 10 x 9 grid under a 32 x 29 raster), and the same from a crop of the grid that holds
    # one teacher pixel beyond the window wherever the grid goes on (as cmkd:classify reads).
    rng = np.random.default_rng(factor)
    coarse = rng.normal(size=(3, 10, 9)).astype(np.float32)
    shape = (10 * factor + 2, 9 * factor + 2)
    full = whole(coarse, factor, shape)
    np.testing.assert_allclose(upsample_area(coarse, factor, shape), full, rtol=1e-5, atol=1e-6)
    for row, col, height, width in ((0, 0, 5, 7), (1, 2, 11, 6), (5, 7, shape[0] - 5, shape[1] - 7),
                                    (shape[0] - 3, 0, 3, shape[1])):
        expected = full[:, row:row + height, col:col + width]
        got = upsample_window(coarse, row, col, height, width, factor).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        r0, c0 = max(0, row // factor - 1), max(0, col // factor - 1)
        r1 = min(10, -(-(row + height) // factor) + 1)
        c1 = min(9, -(-(col + width) // factor) + 1)
        crop = coarse[:, r0:r1, c0:c1]
        got = upsample_window(crop, row - r0 * factor, col - c0 * factor, height, width, factor)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_transform_is_applied_to_the_coarse_values_before_upsampling() -> None:
    rng = np.random.default_rng(5)
    logits = (3 * rng.normal(size=(4, 5, 5))).astype(np.float32)
    e = np.exp(logits - logits.max(axis=0))
    expected = whole(e / e.sum(axis=0), 4, (20, 20))[:, 3:17, 2:19]
    got = upsample_window(logits, 3, 2, 14, 17, 4, before=lambda t: torch.softmax(t, dim=1))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    # the log-probabilities interpolated are not the probabilities interpolated
    of_logits = torch.softmax(upsample_window(logits, 3, 2, 14, 17, 4), dim=0).numpy()
    assert not np.allclose(of_logits, expected, atol=1e-3)


def test_masks_are_upsampled_nearest_and_false_beyond_whole_teacher_pixels() -> None:
    mask = np.array([[True, False], [False, True]])
    got = upsample_mask(mask, 2, (5, 5))
    assert got[:2, :2].all() and not got[:2, 2:4].any() and got[2:4, 2:4].all()
    assert not got[4].any() and not got[:, 4].any()
