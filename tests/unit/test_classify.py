"""Tiled classification: seam-free stitching, alignment, spectral input, nodata, cancel, outputs,
and bad inputs refused before anything is written. Real rasters, real tiny model files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
import torch
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from cmkd_plugin.engine import cli
from cmkd_plugin.engine.atomic import PARTIAL_MARK
from cmkd_plugin.engine.classify.config import ClassifyConfig, Extent
from cmkd_plugin.engine.classify.inference import Predictor, refinement_radius
from cmkd_plugin.engine.classify.inputs import ModelInputs
from cmkd_plugin.engine.classify.pipeline import classify
from cmkd_plugin.engine.errors import CancelledError, InputError, ModelFileError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.geo.grid import Grid
from cmkd_plugin.engine.geo.write import write_hyperspectral
from cmkd_plugin.engine.models.card import ClassCard, ModalityCard, ModelCard, Provenance
from cmkd_plugin.engine.models.config import DEM_CHANNELS, ModalitySpec, StudentConfig, TeacherConfig
from cmkd_plugin.engine.models.guided import refine_probabilities
from cmkd_plugin.engine.models.modelfile import load_model, save_model
from cmkd_plugin.engine.models.preprocess import normalise
from cmkd_plugin.engine.models.student import Student
from cmkd_plugin.engine.models.teacher import Teacher, TeacherEnsemble
from cmkd_plugin.engine.models.resample import upsample_area

UTM = CRS.from_epsg(32633)
ORIGIN = (500_000.0, 4_100_000.0)
CLASSES = (ClassCard("calcite", "#1f77b4"), ClassCard("serpentine", "#2ca02c"),
           ClassCard("olivine", "#d62728"))
HSI_WL = tuple(450.0 + 150.0 * i for i in range(12))  # 450..2100 nm
HSI_FWHM = (20.0,) * 12


# One torch thread: other jobs share the 2 cores, and one is then faster and steadier.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------- data and models


def smooth_field(rng: np.random.Generator, bands: int, h: int, w: int) -> np.ndarray:
    """Spatially structured values in 0-1 (so classes form patches, not salt and pepper)."""
    small = rng.random((bands, h // 8 + 2, w // 8 + 2))
    big = np.kron(small, np.ones((8, 8)))[:, :h, :w]
    return np.clip(big + 0.1 * rng.random((bands, h, w)), 0, 1)


def write_rgb(path: Path, h: int, w: int, seed: int = 0, *, pixel_m: float = 1.0,
              nodata: int | None = None, crs: CRS | None = UTM, bands: int = 3,
              dtype: str = "uint8") -> Path:
    rng = np.random.default_rng(seed)
    data = (smooth_field(rng, bands, h, w) * 250 + 1).astype(dtype)
    profile = dict(driver="GTiff", width=w, height=h, count=bands, dtype=dtype,
                   transform=Affine(pixel_m, 0, ORIGIN[0], 0, -pixel_m, ORIGIN[1]))
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    if bands == 4:  # four bands of bytes would be RGB + alpha by GDAL's default: four data bands
        profile["photometric"] = "MINISBLACK"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def write_dem(path: Path, h: int, w: int, pixel_m: float = 1.0) -> Path:
    yy, xx = np.mgrid[0:h, 0:w]
    z = (300 + 0.3 * xx + 5 * np.sin(yy / 9.0)).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32",
                       crs=UTM, transform=Affine(pixel_m, 0, ORIGIN[0], 0, -pixel_m, ORIGIN[1]),
                       nodata=-9999.0) as dst:
        dst.write(z, 1)
    return path


def write_hsi(path: Path, h: int, w: int, *, pixel_m: float = 2.0, fmt: str = "gtiff",
              origin: tuple[float, float] = ORIGIN, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    cube = (smooth_field(rng, len(HSI_WL), h, w) * 0.6 + 0.05).astype("float32")
    write_hyperspectral(path, cube, crs=UTM,
                        transform=Affine(pixel_m, 0, origin[0], 0, -pixel_m, origin[1]),
                        wavelengths_nm=HSI_WL, fwhm_nm=HSI_FWHM, fmt=fmt)
    return path


def rgb_card() -> ModalityCard:
    return ModalityCard("rgb", ("red", "green", "blue"), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def hsi_card() -> ModalityCard:
    n = len(HSI_WL)
    return ModalityCard("hsi", tuple(f"{w:.1f} nm" for w in HSI_WL), (0.35,) * n, (0.2,) * n,
                        HSI_WL, HSI_FWHM)


def dem_card() -> ModalityCard:
    return ModalityCard("dem", DEM_CHANNELS, (320.0, 10.0, 0.6), (30.0, 5.0, 0.2))


def card_for(kind: str, config, training: dict | None = None) -> ModelCard:
    mods = {"rgb": rgb_card(), "hsi": hsi_card(), "dem": dem_card()}
    return ModelCard(kind=kind, architecture=config,
                     modalities=tuple(mods[n] for n in config.modality_names), classes=CLASSES,
                     tile_size_px=64, tile_overlap_px=16, provenance=Provenance.now(),
                     training=training or {})


def student_file(path: Path, depth: int = 2) -> Path:
    torch.manual_seed(1)
    model = Student(StudentConfig(n_classes=3, encoder_width=8, encoder_depth=depth,
                                  embed_dim=16, classifier_hidden=8))
    return save_model(path, model, card_for("student", model.config))


def teacher_file(path: Path, modalities=("rgb", "hsi", "dem"), training: dict | None = None) -> Path:
    torch.manual_seed(2)
    bands = {"rgb": 3, "hsi": len(HSI_WL), "dem": 3}
    config = TeacherConfig(n_classes=3, modalities=tuple(ModalitySpec(m, bands[m]) for m in modalities),
                           encoder_width=8, encoder_depth=1, embed_dim=16, n_heads=2,
                           classifier_hidden=8)
    model = Teacher(config)
    return save_model(path, model, card_for("teacher", config, training))


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()
                  if p.suffix in (".tif", ".qml", ".xml") or PARTIAL_MARK in p.name)


SMALL = ClassifyConfig(tile_size_px=64, overlap_px=16, batch_size=3, device="cpu")


# ---------------------------------------------------------------- seam-free stitching


def test_tiled_run_equals_single_pass_and_outputs_are_styled(tmp_path: Path) -> None:
    # 530 x 300: neither side a multiple of the 48 px stride; wide enough for an overview level.
    rgb = write_rgb(tmp_path / "rgb.tif", 300, 530)
    model_path = student_file(tmp_path / "student.safetensors")
    out = tmp_path / "out"
    result = classify(model_path, rgb, output_classes=out / "classes.tif",
                      output_probabilities=out / "probs.tif",
                      output_confidence=out / "conf.tif", config=SMALL)
    assert result.tiles_run == 6 * 11 and result.tiles_skipped == 0  # ceil((L-64)/48)+1 per axis
    probs = read(out / "probs.tif")

    # The same model over the whole raster at once (no tiles).
    model, card = load_model(model_path)
    with rasterio.open(rgb) as src:
        x = src.read().astype("float32") / 255.0
    m = card.modality("rgb")
    with torch.inference_mode():
        logits = model({"rgb": torch.from_numpy(normalise(x[None], m.mean, m.std))}).logits
    whole = torch.softmax(logits, dim=1)[0].numpy()
    np.testing.assert_allclose(probs, whole, atol=2e-5)
    classes = read(out / "classes.tif")[0]
    np.testing.assert_array_equal(classes, whole.argmax(axis=0))

    conf = read(out / "conf.tif")
    np.testing.assert_allclose(conf[0], whole.max(axis=0), atol=2e-5)
    ent = -(whole * np.log(whole)).sum(axis=0) / np.log(3)
    np.testing.assert_allclose(conf[1], ent, atol=1e-4)

    with rasterio.open(out / "classes.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert src.descriptions == ("class",)
        assert src.colormap(1)[1][:3] == (0x2C, 0xA0, 0x2C)
        assert src.tags()["MODEL_KIND"] == "student"
        assert src.tags()["MODEL_NAME"] == "student"
        assert src.overviews(1), "overviews expected on a 530 px wide raster"
        assert src.profile.get("compress", "").lower() == "deflate"
    from osgeo import gdal
    ds = gdal.Open(str(out / "classes.tif"))
    # GDAL 3.6 loads the PAM sidecar lazily and GetCategoryNames alone does not trigger it.
    ds.GetGeoTransform()
    assert ds.GetRasterBand(1).GetCategoryNames()[:3] == ["calcite", "serpentine", "olivine"]
    ds = None
    qml = (out / "classes.qml").read_text()
    assert 'label="serpentine"' in qml and 'type="paletted"' in qml
    assert "singlebandpseudocolor" in (out / "conf.qml").read_text()
    with rasterio.open(out / "probs.tif") as src:
        assert src.descriptions == ("calcite", "serpentine", "olivine")
        assert np.isnan(src.nodata)
    with rasterio.open(out / "conf.tif") as src:
        assert src.descriptions == ("max_probability", "normalised_entropy")
    assert not [p for p in out.iterdir() if PARTIAL_MARK in p.name]


def test_narrow_overlap_shows_seams_so_the_equality_test_can_fail(tmp_path: Path) -> None:
    # Receptive-field radius 2 needs overlap >= 4; with 0 the tiled result must differ.
    rgb = write_rgb(tmp_path / "rgb.tif", 150, 170)
    model_path = student_file(tmp_path / "student.safetensors")
    messages: list[str] = []
    fb = Feedback(on_warning=messages.append)
    classify(model_path, rgb, output_probabilities=tmp_path / "a.tif", config=SMALL)
    classify(model_path, rgb, output_probabilities=tmp_path / "b.tif", feedback=fb,
             config=ClassifyConfig(tile_size_px=64, overlap_px=0, batch_size=2, device="cpu"))
    assert np.abs(read(tmp_path / "a.tif") - read(tmp_path / "b.tif")).max() > 1e-4
    assert any("Overlap 0 px" in m for m in messages)


# ---------------------------------------------------------------- alignment and HSI


@pytest.fixture
def teacher_scene(tmp_path: Path) -> dict[str, Path]:
    h, w = 120, 140
    return {
        "rgb": write_rgb(tmp_path / "rgb.tif", h, w, pixel_m=1.0),
        # HSI at 2 m, shifted by a fraction of its pixel and larger than the RGB.
        "hsi": write_hsi(tmp_path / "hsi.tif", 70, 80, pixel_m=2.0,
                         origin=(ORIGIN[0] - 3.3, ORIGIN[1] + 2.7)),
        "dem": write_dem(tmp_path / "dem.tif", h, w),
        "model": teacher_file(tmp_path / "teacher.safetensors"),
    }


def test_mixed_crs_and_resolution_give_the_classes_of_prealigned_inputs(
        tmp_path: Path, teacher_scene: dict[str, Path]) -> None:
    s = teacher_scene
    # The HSI reprojected to WGS 84 at another resolution: read on the fly onto the RGB grid.
    with rasterio.open(s["hsi"]) as src:
        from rasterio.warp import calculate_default_transform
        dst_t, dw, dh = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height,
                                                    *src.bounds, resolution=1.5e-5)
        cube = np.full((src.count, dh, dw), np.nan, np.float32)
        reproject(src.read(), cube, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=dst_t, dst_crs="EPSG:4326", resampling=Resampling.bilinear,
                  src_nodata=np.nan, dst_nodata=np.nan)
    mixed = tmp_path / "hsi_4326.tif"
    write_hyperspectral(mixed, cube, crs=CRS.from_epsg(4326), transform=dst_t,
                        wavelengths_nm=HSI_WL, fwhm_nm=HSI_FWHM)
    # The same HSI pre-aligned by hand onto the RGB grid (what users should not have to do).
    with rasterio.open(s["rgb"]) as ref, rasterio.open(mixed) as src:
        aligned = np.full((src.count, ref.height, ref.width), np.nan, np.float32)
        reproject(src.read(), aligned, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=ref.transform, dst_crs=ref.crs, resampling=Resampling.bilinear,
                  src_nodata=np.nan, dst_nodata=np.nan)
        grid_t, grid_crs = ref.transform, ref.crs
    pre = tmp_path / "hsi_aligned.tif"
    write_hyperspectral(pre, aligned, crs=grid_crs, transform=grid_t, wavelengths_nm=HSI_WL,
                        fwhm_nm=HSI_FWHM)
    for name, hsi in (("mixed", mixed), ("pre", pre)):
        classify(s["model"], s["rgb"], hsi=hsi, dem=s["dem"], config=SMALL,
                 output_classes=tmp_path / f"{name}.tif", output_probabilities=tmp_path / f"{name}_p.tif")
    a, b = read(tmp_path / "mixed.tif")[0], read(tmp_path / "pre.tif")[0]
    valid = (a != 255) & (b != 255)
    assert valid.mean() > 0.9
    assert (a[valid] == b[valid]).mean() > 0.995
    assert (a != 255).sum() == (b != 255).sum()


def test_teacher_ensemble_maps_the_mean_of_its_members_probabilities(
        tmp_path: Path, teacher_scene: dict[str, Path]) -> None:
    s = teacher_scene
    first, card = load_model(s["model"])
    torch.manual_seed(7)
    second = Teacher(first.config).eval()
    save_model(tmp_path / "second.safetensors", second, card)
    ensemble = TeacherEnsemble(replace(first.config, members=2), [first, second])
    save_model(tmp_path / "ensemble.safetensors", ensemble, replace(card, architecture=ensemble.config))
    probs = {}
    for name in ("teacher", "second", "ensemble"):
        classify(tmp_path / f"{name}.safetensors", s["rgb"], hsi=s["hsi"], dem=s["dem"], config=SMALL,
                 output_classes=tmp_path / f"{name}_c.tif", output_probabilities=tmp_path / f"{name}_p.tif")
        probs[name] = read(tmp_path / f"{name}_p.tif")
    valid = ~np.isnan(probs["ensemble"][0])
    assert valid.mean() > 0.9 and np.array_equal(valid, ~np.isnan(probs["teacher"][0]))
    mean = (probs["teacher"] + probs["second"]) / 2
    np.testing.assert_allclose(probs["ensemble"][:, valid], mean[:, valid], atol=1e-5)
    assert np.abs(probs["teacher"] - probs["second"])[:, valid].max() > 0.05  # members differ
    classes = read(tmp_path / "ensemble_c.tif")[0]
    np.testing.assert_array_equal(classes[valid], mean[:, valid].argmax(axis=0))


def test_a_coarse_teacher_is_refined_by_the_rgb_without_seams(
        tmp_path: Path, teacher_scene: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    s = teacher_scene
    model, card = load_model(s["model"])
    # Trained on a 6 m grid over this 1 m RGB: refined with a radius of 6 px, capped at
    # (16 // 2 - 1) // 2 = 3 px by SMALL's 16 px overlap and the teacher's 1-layer encoders.
    coarse = save_model(tmp_path / "coarse.safetensors", model, replace(card, pixel_size_m=6.0))
    common = ["classify", "--model", str(coarse), "--rgb", str(s["rgb"]), "--hsi", str(s["hsi"]),
              "--dem", str(s["dem"]), "--tile-size", "64", "--overlap", "16", "--batch-size", "3",
              "--device", "cpu"]
    assert cli.main(common + ["--refine", "none", "--output-probabilities",
                              str(tmp_path / "raw.tif")]) == 0
    assert cli.main(common + ["--output-probabilities", str(tmp_path / "refined.tif"),
                              "--output-classes", str(tmp_path / "classes.tif")]) == 0
    capsys.readouterr()
    raw, refined = read(tmp_path / "raw.tif"), read(tmp_path / "refined.tif")
    valid = ~np.isnan(raw[0])
    assert valid.mean() > 0.9 and np.array_equal(valid, ~np.isnan(refined[0]))
    # The whole raster refined at once (nodata as uniform probabilities): the tiles agree.
    with rasterio.open(s["rgb"]) as src:
        x = src.read().astype("float32") / 255.0
    m = card.modality("rgb")
    guide = torch.from_numpy(normalise(x, m.mean, m.std))[None]
    src_p = torch.from_numpy(np.where(valid, np.nan_to_num(raw), 1.0 / 3).astype(np.float32))[None]
    whole = refine_probabilities(guide, src_p, 3)[0].numpy()
    np.testing.assert_allclose(refined[:, valid], whole[:, valid], atol=1e-4)
    np.testing.assert_allclose(refined[:, valid].sum(axis=0), 1.0, atol=1e-4)
    assert np.abs(refined - raw)[:, valid].max() > 0.005  # it was applied (0 if not)
    np.testing.assert_array_equal(read(tmp_path / "classes.tif")[0][valid],
                                  refined[:, valid].argmax(axis=0))


def test_a_coarse_teacher_can_run_on_its_own_grid_like_in_training(tmp_path: Path,
                                                                 teacher_scene: dict[str, Path]) -> None:
    # With TEACHER_GRID own (the default), a teacher trained on a 4 m grid maps this 1 m RGB
    # from its inputs on that grid (RGB averaged over each 4 m pixel), its probabilities
    # upsampled bilinearly: tile by tile exactly what the whole 4 m map upsampled gives.
    s = teacher_scene
    model, card = load_model(s["model"])
    coarse = save_model(tmp_path / "coarse.safetensors", model, replace(card, pixel_size_m=4.0))
    messages: list[str] = []
    classify(coarse, s["rgb"], hsi=s["hsi"], dem=s["dem"], output_probabilities=tmp_path / "p.tif",
             config=replace(SMALL, refine="none"), feedback=Feedback(on_info=messages.append))
    assert any("own grid (4 m, 4 x 4 RGB pixels" in m for m in messages)
    got = read(tmp_path / "p.tif")
    grid = Grid.from_raster(s["rgb"])
    with ModelInputs.open(card, grid.coarsened(4, partial=True), s["rgb"], s["hsi"], s["dem"],
                          teacher_grid="coarse") as inputs:
        data, ok = inputs.read(inputs.grid.full_window)
    probs, model_ok = Predictor(model, card, torch.device("cpu")).predict([data])
    ok &= model_ok[0]
    p = np.where(ok, probs[0], 1.0 / 3).astype(np.float32)
    up = upsample_area(p, 4, grid.shape)
    valid = ~np.isnan(got[0])
    expected_valid = np.repeat(np.repeat(ok, 4, 0), 4, 1)[:grid.height, :grid.width]
    np.testing.assert_array_equal(valid, expected_valid)
    assert valid.mean() > 0.8
    np.testing.assert_allclose(got[:, valid], up[:, valid], atol=1e-5)
    # The same teacher on every 1 m pixel (TEACHER_GRID rgb) is that of a card without a pixel
    # size, and differs.
    for name, path, grid_choice in (("g", coarse, "rgb"),
                                    ("h", save_model(tmp_path / "fine.safetensors", model,
                                                     replace(card, pixel_size_m=None)), "own")):
        classify(path, s["rgb"], hsi=s["hsi"], dem=s["dem"],
                 output_probabilities=tmp_path / f"{name}.tif",
                 config=replace(SMALL, refine="none", teacher_grid=grid_choice))
    np.testing.assert_array_equal(read(tmp_path / "g.tif"), read(tmp_path / "h.tif"))
    both = valid & ~np.isnan(read(tmp_path / "g.tif")[0])
    assert np.abs(got - read(tmp_path / "g.tif"))[:, both].max() > 1e-3


def test_which_models_are_refined_and_how_far() -> None:
    teacher = load_model_card_like("teacher", pixel_size_m=2.0)
    assert refinement_radius(teacher, 0.25, 32) == 7  # 8 px, capped: (16 - 2) // 2
    assert refinement_radius(teacher, 0.25, 64) == 8  # one teacher pixel
    assert refinement_radius(teacher, 0.5, 32) == 4
    assert refinement_radius(teacher, 1.5, 32) == 0  # less than twice as coarse: left as is
    assert refinement_radius(replace(teacher, pixel_size_m=None), 0.25, 32) == 0
    # A student distilled from a teacher 8 times coarser: refined only when students are asked
    # for, over one pixel of that teacher (on this grid or another).
    student = replace(load_model_card_like("student", pixel_size_m=0.25), training={"grid_factor": 8})
    assert refinement_radius(student, 0.25, 32) == 0
    assert refinement_radius(student, 0.25, 64, students=True) == 8
    assert refinement_radius(student, 0.5, 64, students=True) == 4
    assert refinement_radius(replace(student, training={}), 0.25, 64, students=True) == 0


def test_a_student_map_is_smoothed_only_when_asked(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 90, 100)
    model, card = load_model(student_file(tmp_path / "plain.safetensors"))
    # Distilled from a teacher 6 times coarser than this 1 m RGB: radius (8 - 2) // 2 = 3 here.
    path = save_model(tmp_path / "student.safetensors", model,
                      replace(card, pixel_size_m=1.0, training={"grid_factor": 6}))
    probs = {}
    for refine in ("teacher", "all"):
        classify(path, rgb, output_probabilities=tmp_path / f"{refine}.tif",
                 config=replace(SMALL, refine=refine))
        probs[refine] = read(tmp_path / f"{refine}.tif")
    with rasterio.open(rgb) as src:
        x = src.read().astype("float32") / 255.0
    m = card.modality("rgb")
    whole = refine_probabilities(torch.from_numpy(normalise(x, m.mean, m.std))[None],
                                 torch.from_numpy(probs["teacher"])[None], 3)[0].numpy()
    np.testing.assert_allclose(probs["all"], whole, atol=1e-4)
    assert np.abs(probs["all"] - probs["teacher"]).max() > 1e-3  # "teacher" left the student as is (0)


def test_an_unknown_refine_mode_is_refused() -> None:
    with pytest.raises(InputError, match="Refine must be one of teacher, all, none"):
        ClassifyConfig(refine="students")


def load_model_card_like(kind: str, pixel_size_m: float) -> ModelCard:
    config = (TeacherConfig(n_classes=3, modalities=(ModalitySpec("rgb", 3), ModalitySpec("hsi", len(HSI_WL))),
                            encoder_depth=2)
              if kind == "teacher" else StudentConfig(n_classes=3))
    return replace(card_for(kind, config), pixel_size_m=pixel_size_m)


def test_envi_and_geotiff_hsi_give_the_same_map(tmp_path: Path,
                                                teacher_scene: dict[str, Path]) -> None:
    s = teacher_scene
    envi = write_hsi(tmp_path / "hsi_envi.img", 70, 80, pixel_m=2.0, fmt="envi",
                     origin=(ORIGIN[0] - 3.3, ORIGIN[1] + 2.7))
    assert (tmp_path / "hsi_envi.hdr").exists()
    for name, hsi in (("gtiff", s["hsi"]), ("envi", envi)):
        classify(s["model"], s["rgb"], hsi=hsi, dem=s["dem"], config=SMALL,
                 output_probabilities=tmp_path / f"{name}.tif")
    np.testing.assert_allclose(read(tmp_path / "gtiff.tif"), read(tmp_path / "envi.tif"),
                               atol=1e-6)
    assert np.isfinite(read(tmp_path / "envi.tif")).mean() > 0.9


def test_hsi_without_wavelengths_is_refused(tmp_path: Path, teacher_scene: dict[str, Path]) -> None:
    s = teacher_scene
    bare = tmp_path / "bare.tif"
    with rasterio.open(s["hsi"]) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(bare, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(InputError, match="(?i)wavelength"):
        classify(s["model"], s["rgb"], hsi=bare, dem=s["dem"], config=SMALL,
                 output_classes=tmp_path / "out" / "c.tif")
    assert not (tmp_path / "out").exists() or not leftovers(tmp_path / "out")


def test_teacher_without_hsi_says_so_unless_its_card_allows(tmp_path: Path,
                                                            teacher_scene: dict[str, Path]) -> None:
    s = teacher_scene
    out = tmp_path / "out"
    with pytest.raises(InputError, match="HSI") as err:
        classify(s["model"], s["rgb"], dem=s["dem"], config=SMALL, output_classes=out / "c.tif")
    assert "--hsi" in str(err.value)
    assert not leftovers(out)
    tolerant = teacher_file(tmp_path / "tolerant.safetensors", training={"modality_dropout": 0.15})
    warnings: list[str] = []
    result = classify(tolerant, s["rgb"], dem=s["dem"], config=SMALL, output_classes=out / "c.tif",
                      feedback=Feedback(on_warning=warnings.append))
    assert result.used_modalities == ("rgb", "dem")
    assert any("HSI not given" in w for w in warnings)
    assert (read(out / "c.tif") != 255).mean() > 0.95


# ---------------------------------------------------------------- nodata, mask, extent


def test_nodata_in_any_input_is_nodata_in_every_output(tmp_path: Path,
                                                       teacher_scene: dict[str, Path]) -> None:
    s = teacher_scene
    with rasterio.open(s["dem"], "r+") as dst:
        z = dst.read(1)
        z[10:30, 50:90] = -9999.0
        dst.write(z, 1)
    rgb = write_rgb(tmp_path / "rgb_nd.tif", 120, 140, nodata=0)
    with rasterio.open(rgb, "r+") as dst:
        d = dst.read()
        d[:, 80:100, 5:40] = 0
        dst.write(d)
    out = {k: tmp_path / f"{k}.tif" for k in ("c", "p", "f")}
    classify(s["model"], rgb, hsi=s["hsi"], dem=s["dem"], config=SMALL,
             output_classes=out["c"], output_probabilities=out["p"], output_confidence=out["f"])
    classes, probs, conf = read(out["c"])[0], read(out["p"]), read(out["f"])
    expected = np.zeros((120, 140), bool)
    expected[80:100, 5:40] = True
    # DEM slope uses the 4 neighbours: nodata grows by one pixel (not diagonally) around the hole.
    expected[9:31, 50:90] = True
    expected[10:30, 49:91] = True
    # the HSI covers the whole RGB grid, so only the two holes are nodata
    nodata = classes == 255
    np.testing.assert_array_equal(nodata, expected)
    assert np.isnan(probs[:, nodata]).all() and np.isfinite(probs[:, ~nodata]).all()
    assert np.isnan(conf[:, nodata]).all() and np.isfinite(conf[:, ~nodata]).all()


def test_an_rgba_orthomosaic_is_classified_with_its_alpha_as_the_mask(tmp_path: Path) -> None:
    # Drone orthomosaics come as RGB + alpha, black where nothing was flown: those pixels are
    # nodata in every output, the rest is classified as the same RGB without the alpha.
    rgb = write_rgb(tmp_path / "rgb.tif", 120, 140)
    with rasterio.open(rgb) as src:
        data, profile = src.read(), src.profile
    alpha = np.full((120, 140), 255, np.uint8)
    alpha[:, :30] = 0
    alpha[100:, :] = 0
    data[:, alpha == 0] = 0
    rgba = tmp_path / "rgba.tif"
    with rasterio.open(rgba, "w", **{**profile, "count": 4, "photometric": "RGB"}) as dst:
        dst.write(np.concatenate([data, alpha[None]]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    model = student_file(tmp_path / "student.safetensors")
    classify(model, rgba, config=SMALL, output_classes=tmp_path / "a.tif")
    classify(model, rgb, config=SMALL, output_classes=tmp_path / "b.tif")
    with_alpha, plain = read(tmp_path / "a.tif")[0], read(tmp_path / "b.tif")[0]
    np.testing.assert_array_equal(with_alpha == 255, alpha == 0)
    # away from the mask's edge (the student's receptive field) the classes are the RGB's
    inner = np.zeros_like(alpha, bool)
    inner[:95, 35:] = True
    np.testing.assert_array_equal(with_alpha[inner], plain[inner])


def test_tiles_entirely_in_nodata_are_skipped(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 150, 250, nodata=0)
    with rasterio.open(rgb, "r+") as dst:
        d = dst.read()
        d[:, :, 120:] = 0  # the right half is nodata
        dst.write(d)
    model = student_file(tmp_path / "student.safetensors")
    r = classify(model, rgb, output_classes=tmp_path / "c.tif", config=SMALL)
    c = read(tmp_path / "c.tif")[0]
    assert (c[:, :120] != 255).all() and (c[:, 120:] == 255).all()
    # columns of windows start at 0, 48, 96, 144, 186: the last two write only nodata
    assert r.tiles_skipped == 3 * 2 and r.tiles_run == 3 * 3


def test_mask_and_extent_limit_the_area_and_skip_tiles(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    rgb = write_rgb(tmp_path / "rgb.tif", 200, 260)
    model_path = student_file(tmp_path / "student.safetensors")
    x0, y0 = ORIGIN
    mask = tmp_path / "mask.gpkg"
    gpd.GeoDataFrame(geometry=[box(x0 + 10, y0 - 60, x0 + 50, y0 - 20)], crs=UTM).to_file(mask)
    r = classify(model_path, rgb, output_classes=tmp_path / "m.tif",
                 config=ClassifyConfig(tile_size_px=64, overlap_px=16, batch_size=2,
                                       device="cpu", mask_path=str(mask)))
    c = read(tmp_path / "m.tif")[0]
    assert c.shape == (200, 260)
    inside = np.zeros_like(c, bool)
    inside[20:60, 10:50] = True
    assert (c[inside] != 255).all() and (c[~inside] == 255).all()
    assert r.tiles_skipped > r.tiles_run > 0

    extent = Extent(x0 + 100.0, x0 + 180.0, y0 - 150.0, y0 - 70.0)
    r = classify(model_path, rgb, output_classes=tmp_path / "e.tif",
                 config=ClassifyConfig(tile_size_px=64, overlap_px=16, batch_size=2,
                                       device="cpu", extent=extent))
    with rasterio.open(tmp_path / "e.tif") as src:
        assert (src.width, src.height) == (80, 80)
        assert src.bounds.left == pytest.approx(x0 + 100.0) and src.bounds.top == pytest.approx(y0 - 70)
    full = tmp_path / "full.tif"
    classify(model_path, rgb, output_classes=full, config=SMALL)
    # Away from the extent's edge (receptive field) the clipped map equals the full one.
    np.testing.assert_array_equal(read(tmp_path / "e.tif")[0][3:-3, 3:-3],
                                  read(full)[0][73:147, 103:177])


def test_extent_parsing() -> None:
    e = Extent.parse("1,3,2,5,EPSG:4326")
    assert e.bounds == (1.0, 2.0, 3.0, 5.0) and e.crs == "EPSG:4326"
    assert Extent.parse("1,3,2,5 [EPSG:32633]").crs == "EPSG:32633"
    with pytest.raises(InputError, match="empty"):
        Extent.parse("3,3,2,5")
    with pytest.raises(InputError, match="xmin,xmax,ymin,ymax"):
        Extent.parse("1,2,3")


def test_rgb_scaling_is_detected_or_set_never_assumed_255(tmp_path: Path) -> None:
    rgb8 = write_rgb(tmp_path / "rgb8.tif", 70, 90)
    with rasterio.open(rgb8) as src:
        profile, data = src.profile, src.read()
    rgb12 = tmp_path / "rgb12.tif"
    profile.update(dtype="uint16")
    with rasterio.open(rgb12, "w", **profile) as dst:
        dst.write(np.round(data.astype(np.float64) * 4095 / 255).astype("uint16"))
    model = student_file(tmp_path / "student.safetensors")
    runs = {"u8": (rgb8, "auto"), "12bit": (rgb12, "12bit"), "auto16": (rgb12, "auto")}
    for name, (path, scaling) in runs.items():
        classify(model, path, output_probabilities=tmp_path / f"{name}.tif",
                 config=ClassifyConfig(tile_size_px=64, overlap_px=16, device="cpu",
                                       rgb_scaling=scaling))
    u8, b12, a16 = (read(tmp_path / f"{n}.tif") for n in runs)
    err_set, err_auto = np.abs(b12 - u8).max(), np.abs(a16 - u8).max()
    # Auto-detected uint16 divides by 65535: a 12-bit camera needs the scaling set (the tiny
    # untrained model is not very sensitive, so compare the two errors).
    assert err_auto > 20 * err_set
    with pytest.raises(InputError, match="Unknown scaling 'x'"):
        ClassifyConfig(rgb_scaling="x")


# ---------------------------------------------------------------- cancel


def test_cancel_stops_within_a_batch_and_leaves_nothing(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 200, 200)
    model_path = student_file(tmp_path / "student.safetensors")
    out = tmp_path / "out"
    out.mkdir()
    calls = {"n": 0, "progress": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    def progress(p: float) -> None:
        calls["progress"] += 1

    fb = Feedback(is_cancelled=cancelled, on_progress=progress)
    with pytest.raises(CancelledError):
        classify(model_path, rgb, output_classes=out / "c.tif", output_probabilities=out / "p.tif",
                 output_confidence=out / "f.tif", feedback=fb, config=SMALL)
    assert list(out.iterdir()) == []
    # Stopped after at most two batches of the 16 windows (one progress call per window).
    assert calls["progress"] <= 2 * SMALL.batch_size


# ---------------------------------------------------------------- bad input


def _expect_refusal(tmp_path: Path, error: type, pattern: str, **kwargs) -> None:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    with pytest.raises(error, match=pattern):
        classify(output_classes=out / "c.tif", output_confidence=out / "f.tif", **kwargs)
    assert list(out.iterdir()) == []


def test_bad_models_are_refused(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 80, 80)
    _expect_refusal(tmp_path, ModelFileError, ".", model=rgb, rgb=rgb, config=SMALL)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model at all" * 10)
    _expect_refusal(tmp_path, ModelFileError, ".", model=junk, rgb=rgb, config=SMALL)
    student = student_file(tmp_path / "student.safetensors")
    _expect_refusal(tmp_path, ModelFileError, "student model, but a teacher model is needed",
                    model=student, rgb=rgb, config=SMALL, expect_kind="teacher")


@pytest.mark.parametrize("bands", [1, 4])
def test_rgb_with_wrong_band_count_says_which(tmp_path: Path, bands: int) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 80, 80, bands=bands)
    model = student_file(tmp_path / "student.safetensors")
    _expect_refusal(tmp_path, InputError, f"RGB must have 3 bands; 'rgb.tif' has {bands}",
                    model=model, rgb=rgb, config=SMALL)


def test_raster_without_crs_is_refused(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 80, 80, crs=None)
    model = student_file(tmp_path / "student.safetensors")
    _expect_refusal(tmp_path, InputError, "no coordinate reference system", model=model, rgb=rgb,
                    config=SMALL)


def test_modalities_that_do_not_overlap_are_refused(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 60, 60)
    far = write_hsi(tmp_path / "far.tif", 30, 30, origin=(ORIGIN[0] + 10_000, ORIGIN[1]))
    dem = write_dem(tmp_path / "dem.tif", 60, 60)
    model = teacher_file(tmp_path / "teacher.safetensors")
    _expect_refusal(tmp_path, InputError, "does not overlap", model=model, rgb=rgb, hsi=far,
                    dem=dem, config=SMALL)


def test_empty_or_outside_extent_is_refused(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 60, 60)
    model = student_file(tmp_path / "student.safetensors")
    x0, y0 = ORIGIN
    outside = ClassifyConfig(tile_size_px=64, overlap_px=16, device="cpu",
                             extent=Extent(x0 + 500, x0 + 600, y0 - 50, y0 - 10))
    _expect_refusal(tmp_path, InputError, "does not overlap", model=model, rgb=rgb, config=outside)
    sliver = ClassifyConfig(tile_size_px=64, overlap_px=16, device="cpu",
                            extent=Extent(x0 + 10, x0 + 10, y0 - 50, y0 - 10))
    _expect_refusal(tmp_path, InputError, "Extent is empty", model=model, rgb=rgb, config=sliver)


def test_unwritable_output_is_refused_before_work(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 60, 60)
    model = student_file(tmp_path / "student.safetensors")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="Cannot (create|write to) the output folder"):
        classify(model, rgb, output_classes=blocker / "c.tif", config=SMALL)
    with pytest.raises(InputError, match="at least one output"):
        classify(model, rgb, config=SMALL)
    with pytest.raises(InputError, match=r"\.tif"):
        classify(model, rgb, output_classes=tmp_path / "c.png", config=SMALL)
    assert not list(tmp_path.glob("*.png"))


# ---------------------------------------------------------------- command line


def test_classify_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rgb = write_rgb(tmp_path / "rgb.tif", 90, 100)
    model = student_file(tmp_path / "student.safetensors")
    code = cli.main(["classify", "--model", str(model), "--rgb", str(rgb), "--tile-size", "64",
                     "--overlap", "16", "--batch-size", "2", "--device", "cpu",
                     "--output-classes", str(tmp_path / "c.tif"),
                     "--output-confidence", str(tmp_path / "f.tif")])
    assert code == 0
    outputs = json.loads(capsys.readouterr().out)
    assert outputs["OUTPUT_CLASSES"] == str(tmp_path / "c.tif")
    assert outputs["OUTPUT_PROBABILITIES"] is None
    assert outputs["CLASSES"] == ["calcite", "serpentine", "olivine"]
    assert outputs["MODEL_KIND"] == "student" and outputs["PIXELS"] == 9000
    assert outputs["SECONDS"] > 0
    code = cli.main(["classify", "--model", str(model), "--rgb", str(tmp_path / "missing.tif"),
                     "--output-classes", str(tmp_path / "x.tif")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err



def test_outputs_name_their_product_so_carbonation_accepts_them(tmp_path: Path) -> None:
    """classify tags its rasters CMKD_PRODUCT=classes/probabilities/confidence."""
    from cmkd_plugin.engine.carbon.rate import inspect_probabilities
    from cmkd_plugin.engine.geo.write import PRODUCT_TAG

    rgb = write_rgb(tmp_path / "rgb.tif", 40, 50)
    out = tmp_path / "out"
    paths = {"classes": out / "c.tif", "probabilities": out / "p.tif", "confidence": out / "f.tif"}
    classify(student_file(tmp_path / "student.safetensors"), rgb,
             output_classes=paths["classes"], output_probabilities=paths["probabilities"],
             output_confidence=paths["confidence"], config=SMALL)
    for product, path in paths.items():
        with rasterio.open(path) as ds:
            assert ds.tags()[PRODUCT_TAG] == product
    warnings: list[str] = []
    inspect_probabilities(paths["probabilities"], Feedback(on_warning=warnings.append))
    assert warnings == []
