"""Geological units and their mixtures on the base (RGB) grid.

Units come from thresholding smooth random fields that are correlated with the terrain, so their
boundaries are natural curves that follow the relief: bedrock units are ordered along a
domain-warped lithology field plus elevation (like a dipping sequence exposed by topography),
cover units (soil, vegetation, dust) occupy low, gentle and wet ground, water the lowest ground,
and field-trial plots are rotated rectangles on gentle ground. Thresholds are quantiles, so every
class gets its share of the scene at any seed.

Each pixel is described by its dominant (truth) class ``own``, a neighbour class ``nb`` mixed in
near a boundary with areal fraction ``beta`` (<= 0.5), whether that boundary mixture is intimate
(cover thinning over rock) or areal (sub-pixel contact), and the fraction ``companion`` of its
unit's intimate companion (e.g. serpentine in dunite, dust on basalt).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import ndtr

from .presets import Preset
from .terrain import fractal_noise

#: Half-widths (m) of the mixing zones at unit boundaries.
BEDROCK_BLEND_M = 0.8
COVER_BLEND_M = 1.5
WATER_BLEND_M = 0.6
PLOT_BLEND_M = 0.8
#: Share of each unit free of its intimate companion (pure cores of units).
PURE_SHARE = 0.6
SMALL_GRID_PX = 256


@dataclass(frozen=True)
class Plot:
    """A rectangular field-trial plot (metres from the scene's upper-left corner, y down)."""

    class_index: int
    centre_x_m: float
    centre_y_m: float
    half_length_m: float
    half_width_m: float
    angle_deg: float

    def corners_m(self) -> list[tuple[float, float]]:
        a = np.radians(self.angle_deg)
        u = np.array([np.cos(a), np.sin(a)])
        v = np.array([-np.sin(a), np.cos(a)])
        c = np.array([self.centre_x_m, self.centre_y_m])
        pts = [c + su * self.half_length_m * u + sv * self.half_width_m * v
               for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        return [(float(p[0]), float(p[1])) for p in pts]


@dataclass
class Composition:
    """Per-pixel mixture description on the base grid (see the module docstring)."""

    own: np.ndarray        # uint8 truth class
    nb: np.ndarray         # uint8 neighbour class (== own when unmixed)
    beta: np.ndarray       # float32 fraction of nb, [0, 0.5]
    intimate: np.ndarray   # bool: boundary mixture is intimate (else areal)
    ramp: np.ndarray       # float32 in [0, 1]: companion fraction relative to the unit's maximum
    plots: list[Plot]


def _linear_axis(field: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``field`` at fractional ``coords`` along ``axis`` (edges held)."""
    n = field.shape[axis]
    coords = np.clip(coords, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(coords).astype(np.int64), max(n - 2, 0))
    i1 = np.minimum(i0 + 1, n - 1)
    frac = (coords - i0).astype(np.float32)
    shape = [1, 1]
    shape[axis] = -1
    frac = frac.reshape(shape)
    return np.take(field, i0, axis=axis) * (1.0 - frac) + np.take(field, i1, axis=axis) * frac


def resample_grid(field: np.ndarray, scale_rows: float, scale_cols: float,
                  shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling onto ``shape`` where output pixel i maps to input ``(i+0.5)*scale-0.5``.

    Separable (rows, then columns): much cheaper than 2-D coordinate interpolation.
    """
    r = (np.arange(shape[0]) + 0.5) * scale_rows - 0.5
    c = (np.arange(shape[1]) + 0.5) * scale_cols - 0.5
    tmp = _linear_axis(field.astype(np.float32), r, 0)
    return _linear_axis(tmp, c, 1).astype(np.float32)


def upsample(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of a field covering the same extent onto a grid of ``shape``."""
    return resample_grid(field, field.shape[0] / shape[0], field.shape[1] / shape[1], shape)


def _standardise(a: np.ndarray) -> np.ndarray:
    return ((a - a.mean()) / (a.std() or 1.0)).astype(np.float32)


class _Builder:
    def __init__(self, shape: tuple[int, int], gsd_m: float) -> None:
        self.shape = shape
        self.gsd_m = gsd_m
        self.own = np.zeros(shape, np.uint8)
        self.nb = np.zeros(shape, np.uint8)
        self.beta = np.zeros(shape, np.float32)
        self.intimate = np.zeros(shape, bool)

    def apply_layer(self, field: np.ndarray, grad_per_m: np.ndarray, thresholds: np.ndarray,
                    segment_class: np.ndarray, blend_m: float, inner_intimate: bool,
                    edge_intimate: bool) -> None:
        """Assign the classes of the segments of ``field`` between ``thresholds``.

        ``segment_class[i]`` is the class of segment i, or -1 to keep what lies beneath.
        Pixels within ``blend_m`` of a threshold mix in the class across it.
        """
        thresholds = np.asarray(thresholds, np.float32)
        seg = np.searchsorted(thresholds, field).astype(np.int16)
        n = len(thresholds)
        grad = np.maximum(grad_per_m, 1e-6)
        lo = thresholds[np.clip(seg - 1, 0, n - 1)]
        hi = thresholds[np.clip(seg, 0, n - 1)]
        d_lo = np.where(seg > 0, (field - lo) / grad, np.inf)
        d_hi = np.where(seg < n, (hi - field) / grad, np.inf)
        use_lo = d_lo < d_hi
        nseg = np.where(use_lo, seg - 1, seg + 1)
        dist = np.where(use_lo, d_lo, d_hi)
        seg_class = np.asarray(segment_class, np.int16)
        cls = seg_class[seg]
        ncls = seg_class[np.clip(nseg, 0, n)]
        beneath = self.own.astype(np.int16)
        new_own = np.where(cls >= 0, cls, beneath)
        nb_class = np.where(ncls >= 0, ncls, beneath)
        beta = (0.5 * np.clip(1.0 - dist / blend_m, 0.0, 1.0)).astype(np.float32)
        touches = (cls >= 0) | (ncls >= 0)
        blend = touches & (beta > 0) & (nb_class != new_own)
        at_edge = (cls < 0) | (ncls < 0)
        covered = cls >= 0
        # A layer replaces what it covers, mixing included; elsewhere earlier mixing stays.
        reset = covered & ~blend
        self.nb[reset] = new_own[reset]
        self.beta[reset] = 0.0
        self.intimate[reset] = False
        self.nb[blend] = nb_class[blend]
        self.beta[blend] = beta[blend]
        self.intimate[blend] = np.where(at_edge, edge_intimate, inner_intimate)[blend]
        self.own[:] = new_own


def _apply_argmax_layer(builder: _Builder, scores_small: np.ndarray, classes: np.ndarray,
                        shape: tuple[int, int], small_gsd_m: float, blend_m: float) -> None:
    """Assign the class of the highest score; mix in the runner-up near the boundary (areal)."""
    best = np.full(shape, -np.inf, np.float32)
    second = np.full(shape, -np.inf, np.float32)
    best_k = np.zeros(shape, np.int16)
    second_k = np.zeros(shape, np.int16)
    for i in range(len(classes)):
        s = upsample(scores_small[i], shape)
        better = s > best
        runner = ~better & (s > second)
        second = np.where(better, best, np.where(runner, s, second))
        second_k = np.where(better, best_k, np.where(runner, i, second_k)).astype(np.int16)
        best = np.where(better, s, best)
        best_k = np.where(better, i, best_k).astype(np.int16)
    gap = best - second
    # Distance to the boundary where the two scores tie: gap over the gradient of the gap.
    gy, gx = np.gradient(gap, builder.gsd_m)
    dist = gap / np.maximum(np.sqrt(gx * gx + gy * gy), 1e-6)
    beta = (0.5 * np.clip(1.0 - dist / blend_m, 0.0, 1.0)).astype(np.float32)
    builder.own[:] = classes[best_k]
    builder.nb[:] = np.where(beta > 0, classes[second_k], classes[best_k])
    builder.beta[:] = beta
    builder.intimate[:] = False


def _gradient_magnitude(field_small: np.ndarray, small_gsd_m: float,
                        shape: tuple[int, int]) -> np.ndarray:
    gy, gx = np.gradient(field_small.astype(np.float64), small_gsd_m)
    return upsample(np.sqrt(gx * gx + gy * gy), shape)


def _warped_noise(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    # Domain warping bends the contacts into lobes and embayments instead of plain contours.
    base = fractal_noise(shape, 4.0, rng)
    wy = fractal_noise(shape, 4.0, rng) * shape[0] * 0.05
    wx = fractal_noise(shape, 4.0, rng) * shape[1] * 0.05
    rr, cc = np.mgrid[0: shape[0], 0: shape[1]].astype(np.float32)
    return ndimage.map_coordinates(base, [rr + wy, cc + wx], order=1, mode="wrap")


def _place_plots(preset: Preset, shape: tuple[int, int], gsd_m: float, z_small: np.ndarray,
                 slope_small: np.ndarray, rng: np.random.Generator) -> list[Plot]:
    plot_units = [u for u in preset.units if u.layer == "plot"]
    if not plot_units or preset.plot_fraction <= 0:
        return []
    names = preset.class_names()
    height_m, width_m = shape[0] * gsd_m, shape[1] * gsd_m
    n_plots = 2 * len(plot_units)
    area = preset.plot_fraction * height_m * width_m / n_plots
    half_w = np.sqrt(area / 1.6) / 2.0
    half_l = 1.6 * half_w
    margin = np.hypot(half_l, half_w) + 2.0
    small_gsd = height_m / z_small.shape[0]
    gentle = (slope_small < np.quantile(slope_small, 0.6)) & (np.abs(z_small) < 0.8)
    rows, cols = np.nonzero(gentle)
    xs, ys = (cols + 0.5) * small_gsd, (rows + 0.5) * small_gsd
    ok = (xs > margin) & (xs < width_m - margin) & (ys > margin) & (ys < height_m - margin)
    xs, ys = xs[ok], ys[ok]
    plots: list[Plot] = []
    for i in range(n_plots):
        unit = plot_units[i % len(plot_units)]
        for _attempt in range(200):
            if xs.size == 0:
                break
            j = int(rng.integers(xs.size))
            cx, cy = float(xs[j]), float(ys[j])
            if all(np.hypot(cx - p.centre_x_m, cy - p.centre_y_m) > 2.2 * margin for p in plots):
                plots.append(Plot(names.index(unit.name), cx, cy, half_l, half_w,
                                  float(rng.uniform(-25.0, 25.0))))
                break
    return plots


def build_composition(preset: Preset, shape: tuple[int, int], gsd_m: float,
                      z_base: np.ndarray, rng: np.random.Generator) -> Composition:
    """Units and mixtures of ``preset`` on a grid of ``shape`` pixels of ``gsd_m``.

    Args:
        preset: the scene preset.
        shape: (rows, cols) of the base grid.
        gsd_m: base pixel size (m).
        z_base: elevation (m) resampled onto the base grid.
        rng: the random generator of this component.
    """
    names = preset.class_names()
    factor = max(1, int(np.ceil(max(shape) / SMALL_GRID_PX)))
    small = (int(np.ceil(shape[0] / factor)), int(np.ceil(shape[1] / factor)))
    small_gsd = shape[0] * gsd_m / small[0]
    z_small = ndimage.zoom(z_base, (small[0] / shape[0], small[1] / shape[1]), order=1,
                           grid_mode=True, mode="nearest")[: small[0], : small[1]]
    if z_small.shape != small:
        z_small = upsample(z_base, small)
    z_norm = _standardise(z_small)
    gy, gx = np.gradient(z_small.astype(np.float64), small_gsd)
    slope_small = np.sqrt(gx * gx + gy * gy).astype(np.float32)
    builder = _Builder(shape, gsd_m)

    # Bedrock: each unit has its own smooth "abundance" field biased by elevation (unit order =
    # from low to high ground); the unit with the highest score wins. Offsets are tuned so each
    # unit gets an equal share of the scene.
    bedrock = [names.index(u.name) for u in preset.units if u.layer == "bedrock"]
    preference = np.linspace(-0.7, 0.7, len(bedrock), dtype=np.float32)
    scores = np.stack([_standardise(_warped_noise(small, rng)) + p * z_norm for p in preference])
    offsets = np.zeros(len(bedrock), np.float32)
    for _ in range(30):
        share = np.bincount(np.argmax(scores + offsets[:, None, None], axis=0).ravel(),
                            minlength=len(bedrock)) / scores[0].size
        offsets += 0.5 * (1.0 / len(bedrock) - share)
    _apply_argmax_layer(builder, scores + offsets[:, None, None], np.array(bedrock), shape,
                        small_gsd, BEDROCK_BLEND_M)
    del scores

    # Cover: each cover unit is its own patchy layer; the wettest (listed last) on the lowest
    # ground, soil on gentle slopes. Shares are slightly inflated because later covers overlap
    # earlier ones.
    cover = [names.index(u.name) for u in preset.units if u.layer == "cover"]
    if cover and preset.cover_fraction > 0:
        slope_norm = _standardise(slope_small)
        share = 1.25 * preset.cover_fraction / len(cover)
        for i, cls in enumerate(cover):
            wetness = (i + 1) / len(cover)
            cover_small = (_standardise(fractal_noise(small, 4.0, rng))
                           - (0.2 + 0.8 * wetness) * z_norm - 0.5 * slope_norm)
            thr = np.quantile(cover_small, [1.0 - share])
            builder.apply_layer(upsample(cover_small, shape),
                                _gradient_magnitude(cover_small, small_gsd, shape),
                                thr, np.array([-1, cls]), COVER_BLEND_M, False, True)

    # Field-trial plots (spread crushed rock: intimate mixing with the soil at their edges).
    plots = _place_plots(preset, shape, gsd_m, z_norm, slope_small, rng)
    if plots:
        rr, cc = np.mgrid[0: shape[0], 0: shape[1]].astype(np.float32)
        ys, xs = (rr + 0.5) * gsd_m, (cc + 0.5) * gsd_m
        del rr, cc
        for p in plots:
            a = np.radians(p.angle_deg)
            u = (xs - p.centre_x_m) * np.cos(a) + (ys - p.centre_y_m) * np.sin(a)
            v = -(xs - p.centre_x_m) * np.sin(a) + (ys - p.centre_y_m) * np.cos(a)
            inside = np.minimum(p.half_length_m - np.abs(u), p.half_width_m - np.abs(v))
            builder.apply_layer(inside, np.ones(shape, np.float32), np.array([0.0]),
                                np.array([-1, p.class_index]), PLOT_BLEND_M, True, True)

    # Water: the lowest ground.
    water = [names.index(u.name) for u in preset.units if u.layer == "water"]
    if water and preset.water_fraction > 0:
        water_small = z_norm + 0.15 * fractal_noise(small, 3.0, rng)
        thr = np.quantile(water_small, [preset.water_fraction])
        builder.apply_layer(upsample(water_small, shape),
                            _gradient_magnitude(water_small, small_gsd, shape),
                            thr, np.array([water[0], -1]), WATER_BLEND_M, False, False)

    # Intimate companion: zero over PURE_SHARE of each unit, rising smoothly to its maximum.
    u = ndtr(fractal_noise(small, 3.0, rng))
    ramp = np.clip((u - PURE_SHARE) / (1.0 - PURE_SHARE), 0.0, 1.0).astype(np.float32)
    return Composition(builder.own, builder.nb, builder.beta, builder.intimate,
                       upsample(ramp, shape), plots)
