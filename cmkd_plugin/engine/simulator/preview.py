"""Preview PNG: RGB, HSI false colour, DEM hillshade and truth with its legend."""

from __future__ import annotations

import os

import numpy as np

from .terrain import hillshade

#: HSI false-colour composite (nm): SWIR bands where carbonate, Mg-OH, Fe2+ absorptions differ.
FALSE_COLOUR_NM = (2330.0, 1650.0, 1050.0)
MAX_PANEL_PX = 768


def _stretch(a: np.ndarray) -> np.ndarray:
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros_like(a)
    lo, hi = np.percentile(finite, [2, 98])
    return np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)


def _thin(a: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil(max(a.shape[:2]) / MAX_PANEL_PX)))
    return a[::step, ::step]


def write_preview(path: str | os.PathLike[str], scene) -> None:
    """Render the four-panel preview of ``scene`` (a :class:`.scene.Scene`) to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rgb = _thin(np.moveaxis(scene.rgb, 0, -1))
    idx = [int(np.argmin(np.abs(scene.hsi_bands.centres_nm - w))) for w in FALSE_COLOUR_NM]
    fc = np.dstack([_stretch(scene.hsi[i]) for i in idx])
    fc[~np.isfinite(scene.hsi[idx[0]])] = 1.0  # outside the strip: white
    dem = scene.dem
    shade = hillshade(dem, scene.config.dem_gsd_m)
    dem_norm = (dem - dem.min()) / max(float(np.ptp(dem)), 1e-6)
    classes = scene.preset.classes
    palette = np.array([[int(c.colour[i:i + 2], 16) for i in (1, 3, 5)] for c in classes]) / 255
    truth_rgb = palette[_thin(scene.truth)]
    fig = Figure(figsize=(13, 11), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    extent_m = scene.config.extent_m
    ext = (0, extent_m, 0, extent_m)
    axes[0, 0].imshow(rgb, extent=ext)
    axes[0, 0].set_title(f"RGB camera ({scene.config.rgb_gsd_m:g} m)")
    hsi_ext = ext
    axes[0, 1].imshow(fc, extent=hsi_ext, interpolation="nearest")
    axes[0, 1].set_title("HSI false colour R/G/B = {:.0f}/{:.0f}/{:.0f} nm ({:g} m)".format(
        *[scene.hsi_bands.centres_nm[i] for i in idx], scene.config.hsi_gsd_m))
    terrain = matplotlib.colormaps["terrain"](0.15 + 0.7 * dem_norm)[..., :3]
    axes[1, 0].imshow(terrain * (0.35 + 0.65 * shade[..., None]), extent=ext)
    axes[1, 0].set_title("DEM {:.1f} to {:.1f} m, hillshade ({:g} m)".format(
        float(dem.min()), float(dem.max()), scene.config.dem_gsd_m))
    axes[1, 1].imshow(truth_rgb, extent=ext, interpolation="nearest")
    zx, zy = _outline(scene.zone, scene.rgb_grid)
    for x, y in zip(zx, zy):
        axes[1, 1].plot(x, y, color="black", lw=1.2, ls="--")
    if len(scene.labels_xy):
        lx = scene.labels_xy[:, 0] - scene.rgb_grid.transform.c
        ly = scene.labels_xy[:, 1] - (scene.rgb_grid.transform.f - extent_m)
        axes[1, 1].scatter(lx, ly, s=6, c="black", marker="+", linewidths=0.6)
    axes[1, 1].set_xlim(0, extent_m)
    axes[1, 1].set_ylim(0, extent_m)
    axes[1, 1].set_title("Truth, labelled zone (dashed) and labels (+)")
    handles = [Patch(facecolor=palette[i], edgecolor="grey", label=c.name)
               for i, c in enumerate(classes)]
    axes[1, 1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5),
                      fontsize=9, frameon=False)
    for ax in axes.flat:
        ax.set_xlabel("m")
        ax.tick_params(labelsize=8)
    fig.suptitle(f"CMKD simulated survey: {scene.preset.name}, seed {scene.config.seed}, "
                 f"{scene.config.size_px} px", fontsize=13)
    fig.subplots_adjust(left=0.05, right=0.85, top=0.93, bottom=0.05, wspace=0.15, hspace=0.2)
    fig.savefig(path, format="png", metadata={"Software": None})


def _outline(geom, grid) -> tuple[list[np.ndarray], list[np.ndarray]]:
    polys = getattr(geom, "geoms", [geom])
    xs, ys = [], []
    x0 = grid.transform.c
    y_bottom = grid.transform.f + grid.rows * grid.transform.e
    for p in polys:
        if p.is_empty or not hasattr(p, "exterior"):
            continue
        x, y = np.asarray(p.exterior.xy)
        xs.append(x - x0)
        ys.append(y - y_bottom)
    return xs, ys
