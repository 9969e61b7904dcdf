"""Property tests of tiling and stitching (geo/tiling.py) for arbitrary raster sizes, tile sizes
and overlaps: every pixel written exactly once, windows inside the raster, the documented window
count, exact centre-crop stitching and weight-normalised blending of a known image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.geo.tiling import (StitchPlan, StripBlender, TilingConfig, stitch_centre_crop,
                                           window_count)

CI = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEEP = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def plans(draw, max_side: int = 300, max_tiles_per_side: int = 20) -> StitchPlan:
    tile = draw(st.integers(1, 128))
    overlap = draw(st.integers(0, max(0, (tile - 1) // 2)))
    # Sides up to max_tiles_per_side tiles: tiny tiles stay tested without 90 000-window plans
    # (the stride is at least half a tile, so at most (2 * max_tiles_per_side)^2 windows).
    side = min(max_side, tile * max_tiles_per_side)
    return StitchPlan(draw(st.integers(1, side)), draw(st.integers(1, side)),
                      TilingConfig(tile_size_px=tile, overlap_px=overlap))


def _expected_count(length: int, tile: int, overlap: int) -> int:
    return 1 if length <= tile else math.ceil((length - tile) / (tile - overlap)) + 1


def check_plan(plan: StitchPlan) -> None:
    c = plan.config
    tasks = plan.tasks()
    assert len(tasks) == len(plan) == (_expected_count(plan.height_px, c.tile_size_px, c.overlap_px)
                                       * _expected_count(plan.width_px, c.tile_size_px, c.overlap_px))
    hits = np.zeros((plan.height_px, plan.width_px), dtype=np.int32)
    for i, task in enumerate(tasks):
        r, w = task.read, task.write
        assert task.index == i
        # reads stay inside the raster and have the tile size unless the raster is smaller
        assert 0 <= r.row_off and r.row_off + r.height <= plan.height_px
        assert 0 <= r.col_off and r.col_off + r.width <= plan.width_px
        assert r.height == min(c.tile_size_px, plan.height_px)
        assert r.width == min(c.tile_size_px, plan.width_px)
        # the written region lies inside the read window, away from interior edges
        assert r.row_off <= w.row_off and w.row_off + w.height <= r.row_off + r.height
        assert r.col_off <= w.col_off and w.col_off + w.width <= r.col_off + r.width
        margin = c.overlap_px // 2
        if w.height and r.row_off > 0:
            assert w.row_off - r.row_off >= margin
        if w.height and r.row_off + r.height < plan.height_px:
            assert r.row_off + r.height - (w.row_off + w.height) >= margin
        if w.width and r.col_off > 0:
            assert w.col_off - r.col_off >= margin
        if w.width and r.col_off + r.width < plan.width_px:
            assert r.col_off + r.width - (w.col_off + w.width) >= margin
        hits[w.slices] += 1
    assert (hits == 1).all(), "every pixel must be written exactly once"


@CI
@given(plans())
def test_plan_covers_every_pixel_once(plan: StitchPlan) -> None:
    check_plan(plan)


@pytest.mark.slow
@DEEP
@given(plans(max_side=2000, max_tiles_per_side=60))
def test_plan_covers_every_pixel_once_deep(plan: StitchPlan) -> None:
    check_plan(plan)


def _image(plan: StitchPlan, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(plan.width_px * 1000 + plan.height_px)
    return rng.random((channels, plan.height_px, plan.width_px)).astype(np.float32)


@CI
@given(plans(max_side=160))
def test_centre_crop_stitching_of_window_reads_rebuilds_the_image(plan: StitchPlan) -> None:
    image = _image(plan)
    outputs = ((t, image[(slice(None),) + t.read.slices]) for t in plan)
    assert np.array_equal(stitch_centre_crop(plan, outputs, channels=2), image)


@CI
@given(plans(max_side=160))
def test_blending_of_window_reads_rebuilds_the_image(plan: StitchPlan) -> None:
    image = _image(plan)
    blender = StripBlender(plan, channels=2)
    out = np.full_like(image, np.nan)
    for task in plan:
        for win, block in blender.add(task, image[(slice(None),) + task.read.slices]):
            assert np.isnan(out[(slice(None),) + win.slices]).all(), "a row was emitted twice"
            out[(slice(None),) + win.slices] = block
    for win, block in blender.flush():
        out[(slice(None),) + win.slices] = block
    np.testing.assert_allclose(out, image, rtol=1e-5, atol=1e-6)


@CI
@given(st.integers(-5, 300), st.integers(-5, 130), st.integers(-5, 130))
def test_any_parameters_give_a_plan_or_an_input_error(length: int, tile: int, overlap: int) -> None:
    try:
        plan = StitchPlan(length, length, TilingConfig(tile_size_px=tile, overlap_px=overlap))
        n = window_count(length, tile, overlap)
    except InputError as exc:
        assert str(exc)
        return
    assert len(plan) == n * n >= 1
