"""Tiling: window formula, coverage, and seam-free stitching equal to a single pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.tiling import (
    StitchPlan,
    StripBlender,
    TilingConfig,
    axis_starts,
    pad_to_tile,
    stitch_centre_crop,
    window_count,
)

SIZES = [1, 5, 31, 32, 33, 47, 48, 49, 64, 65, 100, 127, 130]


@pytest.mark.parametrize("length", SIZES)
@pytest.mark.parametrize("tile,overlap", [(32, 8), (32, 0), (48, 16), (17, 5)])
def test_axis_windows_cover_inside_and_follow_formula(length: int, tile: int, overlap: int) -> None:
    starts = axis_starts(length, tile, overlap)
    stride = tile - overlap
    expected = 1 if length <= tile else math.ceil((length - tile) / stride) + 1
    assert len(starts) == window_count(length, tile, overlap) == expected
    size = min(tile, length)
    covered = np.zeros(length, dtype=int)
    for s in starts:
        assert 0 <= s and s + size <= length  # never reads outside the raster
        covered[s:s + size] += 1
    assert covered.min() >= 1
    # neighbouring windows share at least the requested overlap
    for a, b in zip(starts[:-1], starts[1:]):
        assert a < b and a + size - b >= overlap


@pytest.mark.parametrize("height,width", [(1, 1), (20, 70), (64, 64), (65, 97), (130, 33)])
def test_write_regions_partition_the_raster(height: int, width: int) -> None:
    plan = StitchPlan(width, height, TilingConfig(tile_size_px=32, overlap_px=10))
    count = np.zeros((height, width), dtype=int)
    for task in plan:
        r, c = task.read, task.write
        # the write region lies inside the read window
        assert r.row_off <= c.row_off and c.row_off + c.height <= r.row_off + r.height
        assert r.col_off <= c.col_off and c.col_off + c.width <= r.col_off + r.width
        count[c.slices] += 1
    assert (count == 1).all()
    assert len(plan.tasks()) == len(plan)


def test_centre_crop_keeps_every_pixel_away_from_interior_edges() -> None:
    height, width, overlap = 75, 101, 12
    plan = StitchPlan(width, height, TilingConfig(tile_size_px=32, overlap_px=overlap))
    for task in plan:
        r, w = task.read, task.write
        if r.row_off > 0:
            assert w.row_off - r.row_off >= overlap // 2
        if r.row_off + r.height < height:
            assert (r.row_off + r.height) - (w.row_off + w.height) >= overlap // 2
        if r.col_off > 0:
            assert w.col_off - r.col_off >= overlap // 2
        if r.col_off + r.width < width:
            assert (r.col_off + r.width) - (w.col_off + w.width) >= overlap // 2


def test_bad_configs_are_refused() -> None:
    with pytest.raises(InputError, match="less than half"):
        TilingConfig(tile_size_px=32, overlap_px=16)
    with pytest.raises(InputError):
        TilingConfig(tile_size_px=0, overlap_px=0)
    with pytest.raises(InputError, match="empty"):
        StitchPlan(0, 10, TilingConfig(32, 4))


def _conv_net(seed: int) -> torch.nn.Module:
    # receptive-field radius 3 (three 3x3 convolutions): exact with overlap >= 6
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.GELU(),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.GELU(),
        torch.nn.Conv2d(8, 4, 3, padding=1),
    )
    return net.eval()


@pytest.mark.parametrize("height,width", [(40, 40), (57, 83), (64, 31), (100, 100), (33, 129)])
def test_tiled_conv_net_equals_single_pass(height: int, width: int) -> None:
    net = _conv_net(height * 1000 + width)
    rng = np.random.default_rng(height + width)
    image = rng.normal(size=(3, height, width)).astype(np.float32)
    with torch.inference_mode():
        whole = net(torch.from_numpy(image)[None])[0].numpy()
        plan = StitchPlan(width, height, TilingConfig(tile_size_px=24, overlap_px=6))

        def run():
            for task in plan:
                tile = image[(slice(None),) + task.read.slices]
                yield task, net(torch.from_numpy(np.ascontiguousarray(tile))[None])[0].numpy()

        tiled = stitch_centre_crop(plan, run(), channels=4)
    assert np.abs(tiled - whole).max() < 1e-5
    assert len(plan) > 1 or max(height, width) <= 24
    # the test can fail: too small an overlap leaves seams
    plan_bad = StitchPlan(width, height, TilingConfig(tile_size_px=24, overlap_px=2))
    with torch.inference_mode():
        bad = stitch_centre_crop(
            plan_bad,
            ((t, net(torch.from_numpy(np.ascontiguousarray(image[(slice(None),) + t.read.slices]))[None])[0].numpy())
             for t in plan_bad),
            channels=4,
        )
    # the last window is shifted inside, so the real overlap may exceed the requested one
    real = [a + 24 - b for starts in (plan_bad.row_starts, plan_bad.col_starts)
            for a, b in zip(starts[:-1], starts[1:])]
    if real and min(real) // 2 < 3:
        assert np.abs(bad - whole).max() > 1e-3
    else:
        assert np.abs(bad - whole).max() < 1e-5


@pytest.mark.parametrize("height,width", [(50, 77), (24, 24), (10, 90)])
def test_blending_is_exact_for_pixelwise_functions_and_bounded(height: int, width: int) -> None:
    rng = np.random.default_rng(0)
    image = rng.random((2, height, width)).astype(np.float32)
    plan = StitchPlan(width, height, TilingConfig(tile_size_px=24, overlap_px=8))
    blender = StripBlender(plan, channels=2)
    out = np.full_like(image, np.nan)
    max_rows = 0
    for task in plan:
        result = np.sin(image[(slice(None),) + task.read.slices])  # pixelwise
        for window, block in blender.add(task, result):
            out[(slice(None),) + window.slices] = block
        max_rows = max(max_rows, blender._acc.shape[1])
    for window, block in blender.flush():
        out[(slice(None),) + window.slices] = block
    assert np.allclose(out, np.sin(image), atol=1e-6)
    assert max_rows <= 24  # one strip of rows, not the raster height


def test_blending_removes_seams_of_window_dependent_outputs() -> None:
    # each window adds its own constant offset: blending must give a continuous ramp,
    # not the step that centre-crop would give
    height, width = 24, 80
    plan = StitchPlan(width, height, TilingConfig(tile_size_px=24, overlap_px=8))
    blender = StripBlender(plan, channels=1)
    out = np.zeros((1, height, width), dtype=np.float32)
    for task in plan:
        value = np.full((1, task.read.height, task.read.width), float(task.index), np.float32)
        for window, block in blender.add(task, value):
            out[(slice(None),) + window.slices] = block
    for window, block in blender.flush():
        out[(slice(None),) + window.slices] = block
    row = out[0, 0]
    assert np.abs(np.diff(row)).max() < 0.5  # steps of 1 between windows are spread out
    assert row[0] == 0 and row[-1] == len(plan) - 1


def test_small_raster_gives_one_clipped_window_that_can_be_padded() -> None:
    plan = StitchPlan(10, 7, TilingConfig(tile_size_px=32, overlap_px=8))
    (task,) = plan.tasks()
    assert (task.read.width, task.read.height) == (10, 7)
    tile = np.arange(70, dtype=np.float32).reshape(1, 7, 10)
    padded = pad_to_tile(tile, 32)
    assert padded.shape == (1, 32, 32)
    assert np.array_equal(padded[..., :7, :10], tile)
