"""Generate a complete survey scene in memory, then write it atomically.

Pipeline: terrain (DEM grid) -> illumination for the RGB and HSI suns -> geological units and
mixtures (base = RGB grid) -> mixture tables -> RGB camera image (base grid) -> HSI cube
(area-averaged base sub-pixels on the HSI grid, atmosphere residuals, noise, strip footprint) ->
labelled zone, labels, sites -> files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from rasterio.transform import Affine, from_origin
from shapely.geometry import Polygon

from ..feedback import Feedback
from . import spectra
from .atmosphere import Atmosphere, bad_band_mask, solar_irradiance
from .config import SimulationConfig, validate
from .geology import Composition, build_composition, resample_grid
from .presets import Preset, get_preset
from .render import MixtureTable, aggregate, build_table, pair_spectra, render_pixels
from .sensors import Camera, HsiBands, hsi_noise_sigma, srgb_encode
from .terrain import illumination_factor, make_dem
from .vectors import BaseGrid, contains_xy, densify, flight_strip, labelled_zone, sample_labels, survey_sites

CHUNK_ROWS = 256
#: Aerosol (Earth) / dust (Mars) optical depth at 550 nm of both acquisitions.
AEROSOL_OPTICAL_DEPTH = {"earth": 0.12, "mars": 0.5}
#: Exposure of the RGB camera (linear value of a flat white reflector; Mars scenes are darker).
RGB_EXPOSURE = {"earth": 1.0, "mars": 1.5}
#: Additive haze reflectance at 550 nm: (HSI residual range, RGB veil).
HAZE = {"earth": ((0.0, 0.003), 0.0), "mars": ((0.003, 0.01), 0.02)}
DEM_NOISE_M = 0.02


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS (any string rasterio accepts), transform and shape."""

    crs: str
    transform: Affine
    rows: int
    cols: int


@dataclass
class Scene:
    """Everything a survey consists of, before writing."""

    config: SimulationConfig
    preset: Preset
    rgb_grid: Grid
    dem_grid: Grid
    hsi_grid: Grid
    rgb: np.ndarray          # (3, rows, cols) uint8
    dem: np.ndarray          # (rows, cols) float32 m
    truth: np.ndarray        # (rows, cols) uint8 on the RGB grid
    hsi: np.ndarray          # (bands, rows, cols) float32 reflectance, NaN outside footprint
    hsi_bands: HsiBands
    good_bands: np.ndarray
    footprint: Polygon       # in the HSI CRS
    strip_heading_deg: float
    zone: Polygon            # scene CRS
    labels_xy: np.ndarray    # (n, 2)
    labels_class: np.ndarray
    sites: list[tuple[Polygon, str]]
    composition: Composition
    rgb_tags: dict[str, str] = field(default_factory=dict)
    hsi_tags: dict[str, str] = field(default_factory=dict)


def _rngs(config: SimulationConfig) -> dict[str, np.random.Generator]:
    # One independent stream per component, so each is reproducible on its own.
    names = ["terrain", "geology", "strip", "rgb", "hsi", "atmosphere", "labels", "sites"]
    preset_id = sum(ord(c) for c in config.preset)
    seqs = np.random.SeedSequence([config.seed, preset_id]).spawn(len(names))
    return {n: np.random.default_rng(s) for n, s in zip(names, seqs)}


def resample_same_origin(field_: np.ndarray, src_gsd_m: float, shape: tuple[int, int],
                         dst_gsd_m: float) -> np.ndarray:
    """Bilinear resampling between two grids that share their upper-left corner."""
    scale = dst_gsd_m / src_gsd_m
    return resample_grid(field_, scale, scale, shape)


def _hsi_grid(config: SimulationConfig, preset: Preset, grid: BaseGrid) -> Grid:
    g = config.hsi_gsd_m
    if not config.hsi_crs:
        n = math.ceil(config.extent_m / g - 1e-9)
        return Grid(preset.crs, from_origin(grid.x0, grid.y0, g, g), n, n)
    from pyproj import Transformer

    tr = Transformer.from_crs(preset.crs, config.hsi_crs, always_xy=True)
    xmin, ymin, xmax, ymax = tr.transform_bounds(
        grid.x0, grid.y0 - config.extent_m, grid.x0 + config.extent_m, grid.y0, densify_pts=21)
    # Snap to multiples of the GSD, as processing chains do.
    x0, y1 = math.floor(xmin / g) * g, math.ceil(ymax / g) * g
    cols, rows = math.ceil((xmax - x0) / g), math.ceil((y1 - ymin) / g)
    return Grid(config.hsi_crs, from_origin(x0, y1, g, g), rows, cols)


def _target_index(config: SimulationConfig, preset: Preset, grid: BaseGrid, hsi: Grid,
                  rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Flat HSI pixel of each base pixel (-1 when outside the HSI grid)."""
    x, y = grid.xy(rows.astype(np.float64), cols.astype(np.float64))
    if config.hsi_crs:
        from pyproj import Transformer

        x, y = Transformer.from_crs(preset.crs, config.hsi_crs, always_xy=True).transform(x, y)
    inv = ~hsi.transform
    c, r = inv * (x, y)
    c, r = np.floor(c).astype(np.int64), np.floor(r).astype(np.int64)
    ok = (r >= 0) & (r < hsi.rows) & (c >= 0) & (c < hsi.cols)
    return np.where(ok, r * hsi.cols + c, -1)


def _sun_elevations(config: SimulationConfig, preset: Preset) -> tuple[float, float]:
    """Sun elevation (degrees) of the RGB and the HSI acquisitions: the preset's, or both set
    to ``config.sun_elevation_deg``."""
    if config.sun_elevation_deg is None:
        return preset.rgb_sun_elevation_deg, preset.hsi_sun_elevation_deg
    return config.sun_elevation_deg, config.sun_elevation_deg


def generate_scene(config: SimulationConfig, feedback: Feedback | None = None) -> Scene:
    """Simulate a survey in memory (validated first). See the module docstring for the steps."""
    feedback = feedback or Feedback()
    validate(config)
    preset = get_preset(config.preset)
    rng = _rngs(config)
    names = preset.class_names()
    k = len(names)
    n = config.size_px
    g = config.rgb_gsd_m
    x0, y0 = preset.origin_xy_m
    base = BaseGrid(x0, y0, g, n, n)
    rgb_grid = Grid(preset.crs, from_origin(x0, y0, g, g), n, n)

    # Terrain and illumination --------------------------------------------------------------
    feedback.info(f"Terrain and illumination ({preset.name}, seed {config.seed})")
    gd = config.dem_gsd_m
    nd = math.ceil(config.extent_m / gd - 1e-9)
    dem_grid = Grid(preset.crs, from_origin(x0, y0, gd, gd), nd, nd)
    z = make_dem((nd, nd), gd, preset.rms_slope, rng["terrain"])
    rgb_sun_el, hsi_sun_el = _sun_elevations(config, preset)
    illum_rgb_dem = illumination_factor(z, gd, preset.rgb_sun_azimuth_deg,
                                        rgb_sun_el, preset.diffuse_fraction)
    illum_hsi_dem = illumination_factor(z, gd, preset.hsi_sun_azimuth_deg,
                                        hsi_sun_el, preset.diffuse_fraction)
    z_base = resample_same_origin(z, gd, (n, n), g)
    illum_rgb = resample_same_origin(illum_rgb_dem, gd, (n, n), g)
    illum_hsi = resample_same_origin(illum_hsi_dem, gd, (n, n), g)
    feedback.progress(10)
    feedback.check_cancelled()

    # Units and mixtures ---------------------------------------------------------------------
    feedback.info("Geological units and mixtures")
    comp = build_composition(preset, (n, n), g, z_base, rng["geology"])
    del z_base
    feedback.progress(25)
    feedback.check_cancelled()

    wl = spectra.WAVELENGTH_NM
    class_spectra = np.stack([spectra.spectrum(preset.unit(c).spectrum) for c in names])
    companion = np.array([names.index(preset.unit(c).companion) if preset.unit(c).companion else i
                          for i, c in enumerate(names)])
    max_fraction = np.array([preset.unit(c).companion_max_fraction for c in names], np.float32)
    pairs = pair_spectra(class_spectra)

    # RGB camera -----------------------------------------------------------------------------
    feedback.info("RGB camera image")
    kind = preset.atmosphere
    aod = AEROSOL_OPTICAL_DEPTH[kind]
    camera = Camera(exposure=RGB_EXPOSURE[kind])
    if config.noise_scale != 1.0:
        camera = replace(camera, read_noise=camera.read_noise * config.noise_scale,
                         shot_noise=camera.shot_noise * config.noise_scale ** 2)
    atm_rgb = Atmosphere(kind, aod, 0.0, 0.0)
    airmass_rgb = 1.0 + 1.0 / math.sin(math.radians(rgb_sun_el))
    ground_irradiance = solar_irradiance(wl) * atm_rgb.transmittance(wl, airmass_rgb)
    rgb_matrix = camera.white_balanced_matrix(wl, ground_irradiance)
    table_rgb = build_table(pairs, rgb_matrix, companion, max_fraction)
    veil = HAZE[kind][1]
    dust_rgb = rgb_matrix @ spectra.spectrum("mars_dust") if veil > 0 else np.zeros(3)
    rgb = np.empty((3, n, n), np.uint8)
    for r0 in range(0, n, CHUNK_ROWS):
        sl = slice(r0, min(n, r0 + CHUNK_ROWS))
        lin = render_pixels(table_rgb, comp, sl) * illum_rgb[sl].reshape(-1, 1)
        lin = (1.0 - veil) * lin + veil * dust_rgb[None, :]
        lin *= camera.exposure
        if config.rgb_gain != (1.0, 1.0, 1.0):
            # A white-balance error of the camera: per-channel gain on the linear signal.
            lin *= np.asarray(config.rgb_gain, dtype=np.float32)[None, :]
        sigma = np.sqrt(camera.read_noise**2 + camera.shot_noise * np.clip(lin, 0, None))
        lin = lin + sigma * rng["rgb"].standard_normal(lin.shape, dtype=np.float32)
        enc = np.round(srgb_encode(lin) * 255.0).astype(np.uint8)
        rgb[:, sl, :] = enc.T.reshape(3, sl.stop - sl.start, n)
        feedback.check_cancelled()
    del illum_rgb
    feedback.progress(45)

    # Hyperspectral cube ---------------------------------------------------------------------
    feedback.info("Hyperspectral cube")
    bands = HsiBands.even(config.hsi_bands)
    srf = bands.response_matrix(wl)
    table_hsi = build_table(pairs, srf, companion, max_fraction)
    del pairs
    hsi_grid = _hsi_grid(config, preset, base)
    n_hsi = hsi_grid.rows * hsi_grid.cols
    acc = np.zeros((n_hsi, len(bands.centres_nm)), np.float32)
    counts = np.zeros(n_hsi, np.float64)
    cols_all = np.arange(n)
    for r0 in range(0, n, CHUNK_ROWS):
        sl = slice(r0, min(n, r0 + CHUNK_ROWS))
        rr = np.repeat(np.arange(sl.start, sl.stop), n)
        cc = np.tile(cols_all, sl.stop - sl.start)
        target = _target_index(config, preset, base, hsi_grid, rr, cc)
        aggregate(table_hsi, comp, sl, target, illum_hsi[sl].ravel(), n_hsi, acc)
        counts += np.bincount(target[target >= 0], minlength=n_hsi)
        feedback.progress(45 + 30 * sl.stop / n)
        feedback.check_cancelled()
    # HSI pixels finer than the base grid (or at reprojected edges) get no sub-pixel centre:
    # sample the base pixel under their centre instead.
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        er, ec = np.divmod(empty, hsi_grid.cols)
        hx, hy = hsi_grid.transform * (ec + 0.5, er + 0.5)
        if config.hsi_crs:
            from pyproj import Transformer

            hx, hy = Transformer.from_crs(config.hsi_crs, preset.crs,
                                          always_xy=True).transform(hx, hy)
        bc = np.floor((np.asarray(hx) - x0) / g).astype(np.int64)
        br = np.floor((y0 - np.asarray(hy)) / g).astype(np.int64)
        inside = (br >= 0) & (br < n) & (bc >= 0) & (bc < n)
        idx = empty[inside]
        vals = render_pixels(table_hsi, comp, (br[inside], bc[inside]))
        acc[idx] = vals * illum_hsi[br[inside], bc[inside]][:, None]
        counts[idx] = 1.0
    del illum_hsi
    with np.errstate(invalid="ignore", divide="ignore"):
        cube = acc / counts[:, None].astype(np.float32)
    del acc
    cube = cube.reshape(hsi_grid.rows, hsi_grid.cols, -1)

    # Atmospheric residuals, haze and noise.
    atm_rng = rng["atmosphere"]
    haze_lo, haze_hi = HAZE[kind][0]
    residual = float(atm_rng.uniform(-0.03, 0.03))
    atm_hsi = Atmosphere(kind, aod, residual, float(atm_rng.uniform(haze_lo, haze_hi)))
    from .terrain import fractal_noise

    # Water vapour (Earth) or dust loading (Mars) varies smoothly across the strip.
    variation = 0.01 * fractal_noise((hsi_grid.rows, hsi_grid.cols), 3.5, atm_rng)
    res_shape = atm_hsi.residual(bands.centres_nm) - 1.0
    safe_residual = residual if residual != 0 else 1.0
    res_field = 1.0 + (residual + variation)[..., None] * (res_shape / safe_residual)[None, None, :]
    path = atm_hsi.path_spectrum(bands.centres_nm, srf @ spectra.spectrum("mars_dust"))
    cube = cube * (1.0 - atm_hsi.haze_reflectance) * res_field + path[None, None, :]
    airmass_hsi = 1.0 + 1.0 / math.sin(math.radians(hsi_sun_el))
    trans = atm_hsi.transmittance(bands.centres_nm, airmass_hsi)
    sigma = hsi_noise_sigma(bands.centres_nm, np.moveaxis(cube, -1, 0), trans,
                            solar_irradiance(bands.centres_nm))
    if config.noise_scale != 1.0:
        sigma = sigma * np.float32(config.noise_scale)
    cube = np.moveaxis(cube, -1, 0) + sigma * rng["hsi"].standard_normal(sigma.shape,
                                                                          dtype=np.float32)
    cube = cube.astype(np.float32)

    # Footprint of the flight strip.
    strip_main, heading = flight_strip(base, rng["strip"])
    footprint = strip_main
    if config.hsi_crs:
        from pyproj import Transformer
        from shapely.ops import transform as shp_transform

        tr = Transformer.from_crs(preset.crs, config.hsi_crs, always_xy=True)
        footprint = shp_transform(tr.transform, densify(strip_main, g * 8))
    hr, hc = np.mgrid[0: hsi_grid.rows, 0: hsi_grid.cols]
    hx, hy = hsi_grid.transform * (hc + 0.5, hr + 0.5)
    inside = contains_xy(footprint, hx, hy) & (counts.reshape(hr.shape) > 0)
    cube[:, ~inside] = np.nan
    feedback.progress(85)
    feedback.check_cancelled()

    # Vectors ---------------------------------------------------------------------------------
    feedback.info("Labelled zone, labels and sites")
    zone = labelled_zone(comp, base, strip_main, k, rng["labels"])
    lx, ly, lk = sample_labels(comp, base, zone, names, config.labels_per_class, rng["labels"],
                               feedback)
    plot_polys = [(Polygon([(x0 + px, y0 - py) for px, py in p.corners_m()]), p.class_index)
                  for p in comp.plots]
    sites = survey_sites(comp, base, names, plot_polys, rng["sites"])

    dem_out = z + DEM_NOISE_M * rng["terrain"].standard_normal(z.shape, dtype=np.float32)
    common = {"CMKD_PRESET": preset.name, "CMKD_SEED": str(config.seed),
              "CMKD_SIMULATED": "yes"}
    rgb_tags = dict(common, SUN_AZIMUTH_DEG=f"{preset.rgb_sun_azimuth_deg:g}",
                    SUN_ELEVATION_DEG=f"{rgb_sun_el:g}",
                    EXPOSURE=f"{camera.exposure:g}", HAZE_REFLECTANCE_550NM=f"{veil:g}",
                    AEROSOL_OPTICAL_DEPTH_550NM=f"{aod:g}")
    hsi_tags = dict(common, SUN_AZIMUTH_DEG=f"{preset.hsi_sun_azimuth_deg:g}",
                    SUN_ELEVATION_DEG=f"{hsi_sun_el:g}",
                    QUANTITY="apparent surface reflectance (no topographic correction)")
    if config.rgb_gain != (1.0, 1.0, 1.0):
        rgb_tags["WHITE_BALANCE_GAIN_RGB"] = " ".join(f"{g:g}" for g in config.rgb_gain)
    if config.noise_scale != 1.0:
        rgb_tags["NOISE_SCALE"] = hsi_tags["NOISE_SCALE"] = f"{config.noise_scale:g}"
    feedback.progress(100)
    return Scene(
        config=config, preset=preset, rgb_grid=rgb_grid, dem_grid=dem_grid, hsi_grid=hsi_grid,
        rgb=rgb, dem=dem_out.astype(np.float32), truth=comp.own, hsi=cube, hsi_bands=bands,
        good_bands=bad_band_mask(kind, bands.centres_nm), footprint=footprint,
        strip_heading_deg=heading, zone=zone, labels_xy=np.column_stack([lx, ly]),
        labels_class=lk, sites=sites, composition=comp, rgb_tags=rgb_tags, hsi_tags=hsi_tags,
    )
