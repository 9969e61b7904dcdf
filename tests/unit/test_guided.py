"""The guided filter that refines a coarse teacher's probabilities by the student's fine image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmkd_plugin.engine.models.guided import box_mean, guide_image, guided_filter, refine_probabilities
from cmkd_plugin.engine.models.resample import upsample_area
from cmkd_plugin.engine.training.common import refined_classes
from cmkd_plugin.engine.training.distill import student_grid_logits
from cmkd_plugin.engine.models.card import ModalityCard


def test_box_mean_counts_only_pixels_inside() -> None:
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    out = box_mean(x, 1)
    assert out[0, 0, 1, 1] == pytest.approx(x[0, 0, :3, :3].mean())
    assert out[0, 0, 0, 0] == pytest.approx(x[0, 0, :2, :2].mean())  # a corner: 4 pixels, not 9


def test_box_mean_is_the_same_with_and_without_autograd() -> None:
    # Outside autograd the CPU sums are SciPy's, inside torch's running sums: one mean.
    x = torch.from_numpy(np.random.default_rng(4).random((2, 3, 37, 600)).astype(np.float32) * 50)
    fast = box_mean(x, 5)
    with_grad = box_mean(x.clone().requires_grad_(True), 5)
    assert with_grad.requires_grad
    torch.testing.assert_close(fast, with_grad.detach(), rtol=1e-5, atol=1e-4)


def test_a_flat_guide_leaves_a_double_box_mean() -> None:
    # Without edges in the guide the fit has no slope: the output is the mean of the window
    # means, whatever eps.
    rng = np.random.default_rng(0)
    src = torch.from_numpy(rng.random((1, 3, 12, 12)).astype(np.float32))
    guide = torch.full((1, 2, 12, 12), 0.7)
    out = guided_filter(guide, src, 2, eps=0.01)
    torch.testing.assert_close(out, box_mean(box_mean(src, 2), 2), rtol=1e-5, atol=1e-5)


def test_a_guide_equal_to_the_source_is_kept_when_eps_is_small() -> None:
    rng = np.random.default_rng(1)
    src = torch.from_numpy(rng.normal(size=(1, 1, 16, 16)).astype(np.float32))
    out = guided_filter(src, src, 2, eps=1e-6)
    torch.testing.assert_close(out, src, rtol=1e-3, atol=1e-3)


def test_refined_probabilities_follow_an_edge_inside_a_teacher_pixel() -> None:
    # 1-D scene along the columns: the truth changes class at column 13, inside the teacher's
    # fourth pixel (columns 12-15 at factor 4), and so does the colour of the fine image.
    f, width = 4, 32
    truth = (np.arange(width) >= 13).astype(int)
    coarse_truth = truth.reshape(-1, f).mean(axis=1) > 0.5  # the teacher's majority class
    probs_coarse = np.stack([1.0 - coarse_truth, coarse_truth]).astype(np.float32)[:, None, :]
    probs_coarse = np.repeat(probs_coarse, 4, axis=1)  # (2, 4, 8)
    up = upsample_area(probs_coarse, f, (16, width))
    guide = np.broadcast_to(np.where(truth == 1, 1.0, -1.0), (1, 16, width)).astype(np.float32)
    refined = refine_probabilities(torch.from_numpy(guide.copy())[None], torch.from_numpy(up)[None],
                                   radius=f)[0].numpy()
    assert refined.min() >= 0.0
    np.testing.assert_allclose(refined.sum(axis=0), 1.0, rtol=1e-5)
    bilinear_right = (up.argmax(axis=0) == truth).mean()
    refined_right = (refined.argmax(axis=0) == truth).mean()
    assert bilinear_right < 1.0  # the bilinear map puts the edge at the teacher pixels' middle
    assert refined_right == 1.0


def test_guided_patch_targets_equal_filtering_the_whole_scene_away_from_its_edges() -> None:
    rng = np.random.default_rng(2)
    f, temperature = 4, 2.0
    coarse = (2 * rng.normal(size=(3, 16, 16))).astype(np.float32)
    guide = rng.normal(size=(3, 64, 64)).astype(np.float32)
    e = np.exp(coarse / temperature - (coarse / temperature).max(axis=0))
    whole = refine_probabilities(torch.from_numpy(guide)[None],
                                 torch.from_numpy(upsample_area(e / e.sum(axis=0), f, (64, 64)))[None],
                                 radius=f)[0].numpy()
    origins = np.array([[16, 20], [24, 8]])  # at least two radii (8 px) from every edge
    z = student_grid_logits(coarse, origins, 16, f, temperature, "guided", guide)
    got = torch.softmax(z / temperature, dim=1).numpy()
    for patch, (r, c) in zip(got, origins):
        np.testing.assert_allclose(patch, whole[:, r:r + 16, c:c + 16], rtol=1e-4, atol=1e-5)
    # Near the edges the patch is padded by repetition: still a distribution.
    edge = torch.softmax(student_grid_logits(coarse, np.array([[0, 48]]), 16, f, temperature,
                                             "guided", guide) / temperature, dim=1)
    torch.testing.assert_close(edge.sum(dim=1), torch.ones(1, 16, 16), rtol=1e-5, atol=1e-5)


def test_the_guide_is_the_normalised_input_with_nodata_at_the_mean() -> None:
    rgb = np.full((3, 4, 4), 10.0, dtype=np.float32)
    rgb[:, 0, 0] = np.nan
    rgb[0, 1, 1] = 14.0
    card = ModalityCard("rgb", ("r", "g", "b"), (10.0, 10.0, 10.0), (2.0, 2.0, 2.0))
    g = guide_image({"rgb": rgb}, {"rgb": card})
    assert g.shape == (3, 4, 4) and np.isfinite(g).all()
    assert g[0, 1, 1] == pytest.approx(2.0) and g[:, 0, 0].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("factor", [2, 4])
def test_refined_classes_window_by_window_equal_refining_the_whole_raster(factor: int) -> None:
    # A raster that is no whole number of teacher pixels or windows; sparse pixels asked for,
    # some on the edges: each window's answer must be the whole raster's.
    rng = np.random.default_rng(3)
    h, w = 50, 38
    coarse = (2 * rng.normal(size=(4, -(-h // factor), -(-w // factor)))).astype(np.float32)
    rgb = (100 + 20 * rng.normal(size=(3, h, w))).astype(np.float32)
    card = ModalityCard("rgb", ("red", "green", "blue"), (100.0, 100.0, 100.0), (20.0, 20.0, 20.0))
    guide = guide_image({"rgb": rgb}, {"rgb": card})
    mask = rng.random((h, w)) < 0.05
    mask[0, 0] = mask[h - 1, w - 1] = mask[h - 1, 0] = True
    e = np.exp(coarse - coarse.max(axis=0))
    up = torch.from_numpy(upsample_area(e / e.sum(axis=0), factor, (h, w)))
    whole = refine_probabilities(torch.from_numpy(guide)[None], up[None], factor)[0].argmax(dim=0).numpy()
    got = refined_classes(coarse, factor, {"rgb": rgb}, {"rgb": card}, factor, mask, tile_px=16)
    np.testing.assert_array_equal(got[mask], whole[mask])
    assert (got[~mask] == 0).all()
    # and the refinement changed something, or this would only test the upsampling
    assert (whole != upsample_area(coarse, factor, (h, w)).argmax(axis=0)).any()
