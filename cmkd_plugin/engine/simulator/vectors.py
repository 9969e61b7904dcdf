"""Vector outputs: HSI flight strip, labelled zone, label points and survey sites.

Geometry is built in the scene CRS from pixel positions of the base (RGB) grid:
``x = x0 + (col + 0.5) gsd``, ``y = y0 - (row + 0.5) gsd``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rasterio import features
from shapely.geometry import LineString, Point, Polygon, box
from shapely import affinity

from ..feedback import Feedback
from .geology import Composition

def contains_xy(geom, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Vectorised point-in-polygon test for shapely 1.8 (Debian 12) and 2.x."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if geom.is_empty:
        return np.zeros(x.shape, bool)
    try:
        from shapely import contains_xy as _contains  # shapely >= 2
    except ImportError:
        from shapely.vectorized import contains as _contains
    return np.asarray(_contains(geom, x, y), bool)


def densify(poly: Polygon, step_m: float) -> Polygon:
    """``poly`` with vertices at most ``step_m`` apart (so reprojection bends its edges)."""
    def ring(coords):
        pts = []
        coords = list(coords)
        for (xa, ya), (xb, yb) in zip(coords[:-1], coords[1:]):
            n = max(1, int(np.ceil(np.hypot(xb - xa, yb - ya) / step_m)))
            t = np.arange(n) / n
            pts.extend(zip(xa + t * (xb - xa), ya + t * (yb - ya)))
        pts.append(coords[-1])
        return pts
    return Polygon(ring(poly.exterior.coords), [ring(i.coords) for i in poly.interiors])


#: Labelled zone: buffered field traverse, half-width as a share of the scene side.
TRAVERSE_HALF_WIDTH_SHARE = 0.035
STRIP_WIDTH_SHARE = 0.62


@dataclass(frozen=True)
class BaseGrid:
    """The base grid: upper-left corner, pixel size and shape, in the scene CRS."""

    x0: float
    y0: float
    gsd_m: float
    rows: int
    cols: int

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x0 + (cols + 0.5) * self.gsd_m, self.y0 - (rows + 0.5) * self.gsd_m

    def scene_box(self) -> Polygon:
        return box(self.x0, self.y0 - self.rows * self.gsd_m, self.x0 + self.cols * self.gsd_m, self.y0)

    @property
    def extent_m(self) -> float:
        return self.cols * self.gsd_m


def flight_strip(grid: BaseGrid, rng: np.random.Generator) -> tuple[Polygon, float]:
    """The HSI footprint: a strip across the scene at a random heading; (polygon, heading deg)."""
    scene = grid.scene_box()
    cx, cy = scene.centroid.x, scene.centroid.y
    heading = float(rng.uniform(-30.0, 30.0))
    offset = float(rng.uniform(-0.08, 0.08)) * grid.extent_m
    half_w = STRIP_WIDTH_SHARE * grid.extent_m / 2.0
    strip = box(cx + offset - half_w, cy - 1.5 * grid.extent_m, cx + offset + half_w,
                cy + 1.5 * grid.extent_m)
    # Heading clockwise from north; shapely rotates counter-clockwise.
    strip = affinity.rotate(strip, -heading, origin=(cx, cy))
    return strip.intersection(scene), heading


def _interior(comp: Composition, k: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    own = comp.own[::step, ::step]
    beta = comp.beta[::step, ::step]
    r, c = np.nonzero((own == k) & (beta == 0))
    return r * step, c * step


def labelled_zone(comp: Composition, grid: BaseGrid, strip: Polygon, n_classes: int,
                  rng: np.random.Generator) -> Polygon:
    """The zone where a field team collected labels: a buffered traverse visiting every class.

    One waypoint per class is drawn among unmixed pixels of the class, preferably inside the HSI
    strip (labels are used with the HSI), then visited in nearest-neighbour order.
    """
    half_width = TRAVERSE_HALF_WIDTH_SHARE * grid.extent_m
    step = max(1, grid.rows // 256)
    inner = strip.buffer(-half_width)
    waypoints = []
    for k in range(n_classes):
        r, c = _interior(comp, k, step)
        if r.size == 0:
            continue
        x, y = grid.xy(r, c)
        inside = contains_xy(inner, x, y) if not inner.is_empty else np.zeros(x.size, bool)
        if inside.any():
            x, y = x[inside], y[inside]
        j = int(rng.integers(x.size))
        waypoints.append((float(x[j]), float(y[j])))
    order = [int(np.argmin([p[1] for p in waypoints]))]
    while len(order) < len(waypoints):
        last = waypoints[order[-1]]
        rest = [i for i in range(len(waypoints)) if i not in order]
        order.append(min(rest, key=lambda i: np.hypot(waypoints[i][0] - last[0],
                                                      waypoints[i][1] - last[1])))
    path = [waypoints[i] for i in order]
    geom = LineString(path) if len(path) > 1 else Point(path[0])
    zone = geom.buffer(half_width, 8).intersection(grid.scene_box())
    return zone


def sample_labels(comp: Composition, grid: BaseGrid, zone: Polygon, class_names: list[str],
                  per_class: int, rng: np.random.Generator,
                  feedback: Feedback) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label points inside ``zone``: ``per_class`` per class on pixels of that truth class.

    Returns:
        x, y (scene CRS) and class index of each label.
    """
    transform = (grid.gsd_m, 0.0, grid.x0, 0.0, -grid.gsd_m, grid.y0)
    from rasterio.transform import Affine

    in_zone = features.geometry_mask([zone], out_shape=(grid.rows, grid.cols),
                                     transform=Affine(*transform), invert=True)
    xs, ys, ks = [], [], []
    for k, name in enumerate(class_names):
        mask = in_zone & (comp.own == k)
        pure = mask & (comp.beta == 0)
        cand = np.flatnonzero(pure if pure.sum() >= per_class else mask)
        if cand.size < per_class:
            feedback.warning(f"Only {cand.size} label positions for class '{name}' in the "
                             f"labelled zone; writing {cand.size} instead of {per_class}.")
        pick = np.sort(rng.choice(cand, size=min(per_class, cand.size), replace=False))
        r, c = np.divmod(pick, grid.cols)
        jr = rng.uniform(-0.3, 0.3, pick.size)
        jc = rng.uniform(-0.3, 0.3, pick.size)
        x, y = grid.xy(r + jr, c + jc)
        # The jitter keeps a label in its pixel; keep it in the zone too.
        out = ~contains_xy(zone, x, y)
        x[out], y[out] = grid.xy(r[out], c[out])
        xs.append(x)
        ys.append(y)
        ks.append(np.full(pick.size, k))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ks)


def survey_sites(comp: Composition, grid: BaseGrid, class_names: list[str],
                 plot_polygons: list[tuple[Polygon, int]],
                 rng: np.random.Generator, n_outcrops: int = 3) -> list[tuple[Polygon, str]]:
    """Named survey sites: the field-trial plots and a few outcrop sites (polygon, name)."""
    sites = [(poly, f"Trial plot {i} ({class_names[k]})")
             for i, (poly, k) in enumerate(plot_polygons, start=1)]
    radius = 0.05 * grid.extent_m
    step = max(1, grid.rows // 256)
    classes = rng.permutation(len(class_names))
    inner = grid.scene_box().buffer(-radius)
    made = 0
    for k in classes:
        if made >= n_outcrops:
            break
        r, c = _interior(comp, int(k), step)
        x, y = grid.xy(r, c)
        ok = contains_xy(inner, x, y)
        if not ok.any():
            continue
        j = int(rng.integers(ok.sum()))
        centre = Point(float(x[ok][j]), float(y[ok][j]))
        made += 1
        sites.append((centre.buffer(radius, 8),
                      f"Site {made}: {class_names[int(k)]} outcrop"))
    return sites
