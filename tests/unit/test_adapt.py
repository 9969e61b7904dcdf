"""Site adaptation (``adaptsite``) on tiny scenes: a student trained on site A, site B seen
through another camera gain; a handful of points of B must fix it without touching the frozen
encoder, bad labels are refused clearly, cancel leaves nothing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin
from shapely.geometry import Point

from cmkd_plugin.engine.commands import adaptsite
from cmkd_plugin.engine.errors import CancelledError, InputError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.models.card import ModelCard, Provenance
from cmkd_plugin.engine.models.modelfile import load_model, save_model
from cmkd_plugin.engine.training.adapt import run_adaptation
from cmkd_plugin.engine.training.baseline import train_baseline
from cmkd_plugin.engine.training.common import modality_card, predict_area
from cmkd_plugin.engine.training.config import (AdaptConfig, DataConfig, DistillConfig,
                                                TeacherTrainConfig)
from cmkd_plugin.engine.training.data import default_colours
from cmkd_plugin.engine.training.pipeline import run_teacher_training
from cmkd_plugin.engine.models.card import ClassCard

CRS = "EPSG:32633"
X0, Y0 = 500_000.0, 5_000_000.0
RES = 0.5
SIZE = 64
CLASSES = ("basalt", "calcite", "olivine")
RGB_MEANS = np.array([[0.20, 0.20, 0.20], [0.50, 0.45, 0.40], [0.30, 0.42, 0.25]])
TINY_ADAPT = AdaptConfig(epochs=8, patches_per_epoch=32, patch_size_px=16, learning_rate=3e-3,
                         seed=1)


@pytest.fixture(autouse=True, scope="module")
def _threads(one_torch_thread):
    yield


def class_map(n: int) -> np.ndarray:
    """Classes 0, 1, 2 in diagonal bands 8 pixels wide."""
    rows, cols = np.indices((n, n))
    return (rows // 8 + cols // 8) % 3


def write_rgb(path: Path, gain: np.ndarray, offset: float, seed: int) -> np.ndarray:
    """An RGB of the class map seen with per-channel ``gain`` and ``offset``; returns the truth."""
    truth = class_map(SIZE)
    rng = np.random.default_rng(seed)
    rgb = RGB_MEANS[truth].transpose(2, 0, 1) * gain[:, None, None] + offset
    rgb = rgb + rng.normal(0, 0.02, rgb.shape)
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=3, crs=CRS,
                       dtype="float32", transform=from_origin(X0, Y0, RES, RES)) as ds:
        ds.write(rgb.astype(np.float32))
    return truth


def write_points(path: Path, cells: list[tuple[int, int]], names: list[str]) -> Path:
    pts = [Point(X0 + (c + 0.5) * RES, Y0 - (r + 0.5) * RES) for r, c in cells]
    gpd.GeoDataFrame({"mineral": names}, geometry=pts, crs=CRS).to_file(path, driver="GPKG")
    return path


def points_of(truth: np.ndarray, per_class: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    cells = []
    for k in range(len(CLASSES)):
        rows, cols = np.nonzero(truth == k)
        for j in rng.choice(rows.size, per_class, replace=False):
            cells.append((int(rows[j]), int(cols[j])))
    return cells


def truth_points(truth: np.ndarray, per_class: int, seed: int, path: Path
                 ) -> tuple[list[tuple[int, int]], Path, np.ndarray]:
    """Points of ``truth`` (``per_class`` each) written to ``path``: cells, path, their mask."""
    cells = points_of(truth, per_class, seed)
    write_points(path, cells, [CLASSES[truth[r, c]] for r, c in cells])
    held = np.zeros_like(truth, dtype=bool)
    held[tuple(np.array(cells).T)] = True
    return cells, path, held


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Site A (the training site), site B (gain 0.5/0.7/0.9, offset +0.12), a student trained
    on A's labels, and its file."""
    folder = tmp_path_factory.mktemp("sites")
    truth_a = write_rgb(folder / "a.tif", np.ones(3), 0.0, seed=0)
    truth_b = write_rgb(folder / "b.tif", np.array([0.5, 0.7, 0.9]), 0.12, seed=1)
    with rasterio.open(folder / "a.tif") as ds:
        rgb_a = ds.read().astype(np.float32)
    valid = np.ones((SIZE, SIZE), dtype=bool)
    cards = {"rgb": modality_card("rgb", rgb_a, valid)}
    labels = np.full((SIZE, SIZE), 255, dtype=np.uint8)
    for r, c in points_of(truth_a, 30, seed=0):
        labels[r, c] = truth_a[r, c]
    config = DistillConfig(epochs=6, patches_per_epoch=32, patch_size_px=16, encoder_width=8,
                           learning_rate=1e-2, seed=0)
    result = train_baseline({"rgb": rgb_a}, cards, labels, CLASSES, config, embed_dim=16)
    card = ModelCard(kind="student", architecture=result.model.config, modalities=(cards["rgb"],),
                     classes=tuple(ClassCard(n, c) for n, c in zip(CLASSES, default_colours(3))),
                     tile_size_px=64, tile_overlap_px=8, provenance=Provenance.now({"rgb": "a.tif"}),
                     pixel_size_m=RES)
    save_model(folder / "student.cmkd", result.model, card)
    return {"folder": folder, "truth_a": truth_a, "truth_b": truth_b,
            "model": folder / "student.cmkd"}


def oa_on(model_path: Path, rgb: Path, truth: np.ndarray, exclude: np.ndarray) -> float:
    model, card = load_model(model_path)
    with rasterio.open(rgb) as ds:
        x = ds.read().astype(np.float32)
    pred = predict_area(model, {"rgb": x}, {"rgb": card.modality("rgb")})[0].argmax(axis=0)
    return float((pred == truth)[~exclude].mean())


def test_a_few_points_fix_the_shifted_site_and_keep_the_encoder(sites: dict, tmp_path: Path) -> None:
    folder, truth_b = sites["folder"], sites["truth_b"]
    cells, labels, held = truth_points(truth_b, 4, 5, tmp_path / "pts.gpkg")
    before = oa_on(sites["model"], folder / "b.tif", truth_b, held)
    outputs = run_adaptation(str(sites["model"]), str(folder / "b.tif"), None, None, str(labels),
                             str(tmp_path / "adapted.cmkd"), str(tmp_path / "adapted.html"),
                             TINY_ADAPT).outputs
    after = oa_on(tmp_path / "adapted.cmkd", folder / "b.tif", truth_b, held)
    assert after >= before + 0.1, (before, after)
    assert outputs["LABELLED_PIXELS"] == len(cells)
    assert outputs["POINTS_OA_AFTER"] >= outputs["POINTS_OA_BEFORE"]
    assert 0.0 <= outputs["CHANGED_SHARE"] <= 1.0
    assert outputs["AGREEMENT"] == pytest.approx(1.0 - outputs["CHANGED_SHARE"])
    # The frozen encoder is bit-for-bit the original's; the classifier moved.
    original, _ = load_model(sites["model"])
    adapted, card = load_model(tmp_path / "adapted.cmkd", expect_kind="student")
    o, a = original.state_dict(), adapted.state_dict()
    assert all(torch.equal(o[k], a[k]) for k in o if k.startswith("encoder."))
    assert not all(torch.equal(o[k], a[k]) for k in o if k.startswith("classifier."))
    # The card says where the model comes from, and carries the new site's statistics.
    step = card.training["adaptations"][-1]
    assert step["adapted_from"] == "student.cmkd" and step["labelled_pixels"] == len(cells)
    assert step["points_per_class"] == {"basalt": 4, "calcite": 4, "olivine": 4}
    assert card.provenance.data["adapted_from"] == "student.cmkd"
    assert card.modality("rgb") == load_model(sites["model"])[1].modality("rgb")  # renormalise off
    report = json.loads((tmp_path / "adapted.json").read_text())
    assert set(report["metrics"]) == {"original", "adapted"}
    assert report["adaptation"]["settings"]["freeze"] == "encoder"
    assert "Overall accuracy" in (tmp_path / "adapted.html").read_text()


def test_the_original_site_is_not_forgotten(sites: dict, tmp_path: Path) -> None:
    """Adapting on site A itself (keep term on, statistics unchanged) leaves its accuracy
    within two points."""
    folder, truth_a = sites["folder"], sites["truth_a"]
    cells = points_of(truth_a, 4, seed=7)
    labels = write_points(tmp_path / "pts.gpkg", cells, [CLASSES[truth_a[r, c]] for r, c in cells])
    none = np.zeros_like(truth_a, dtype=bool)
    before = oa_on(sites["model"], folder / "a.tif", truth_a, none)
    run_adaptation(str(sites["model"]), str(folder / "a.tif"), None, None, str(labels),
                   str(tmp_path / "m.cmkd"), str(tmp_path / "m.html"), TINY_ADAPT)
    assert oa_on(tmp_path / "m.cmkd", folder / "a.tif", truth_a, none) >= before - 0.02


def test_renormalising_carries_the_new_sites_statistics(sites: dict, tmp_path: Path) -> None:
    folder, truth_b = sites["folder"], sites["truth_b"]
    _, labels, held = truth_points(truth_b, 2, 9, tmp_path / "pts.gpkg")
    before = oa_on(sites["model"], folder / "b.tif", truth_b, held)
    config = AdaptConfig(**{**TINY_ADAPT.to_dict(), "renormalise": True})
    run_adaptation(str(sites["model"]), str(folder / "b.tif"), None, None, str(labels),
                   str(tmp_path / "m.cmkd"), str(tmp_path / "m.html"), config)
    card = load_model(tmp_path / "m.cmkd")[1]
    with rasterio.open(folder / "b.tif") as ds:
        site_mean = ds.read().reshape(3, -1).mean(axis=1)
    assert card.modality("rgb").mean == pytest.approx(tuple(site_mean), abs=1e-4)
    assert oa_on(tmp_path / "m.cmkd", folder / "b.tif", truth_b, held) >= before + 0.1


def adapt_args(sites: dict, labels: Path, out: Path, **over: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    adaptsite.add_arguments(parser)
    args = parser.parse_args([
        "--model", str(sites["model"]), "--rgb", str(sites["folder"] / "b.tif"),
        "--labels", str(labels), "--epochs", "2", "--tile-size", "16", "--patches-per-epoch", "16",
        "--output-model", str(out / "adapted.cmkd"), "--output-report", str(out / "adapted.html")])
    for k, v in over.items():
        setattr(args, k, v)
    return args


def test_zero_points_are_refused(sites: dict, tmp_path: Path) -> None:
    empty = gpd.GeoDataFrame({"mineral": []}, geometry=[], crs=CRS)
    empty.to_file(tmp_path / "empty.gpkg", driver="GPKG")
    with pytest.raises(InputError, match="no features; label some points"):
        adaptsite.run(adapt_args(sites, tmp_path / "empty.gpkg", tmp_path), Feedback())
    # Points that exist but fall outside the site's raster are no points either.
    far = write_points(tmp_path / "far.gpkg", [(-1000, -1000)], ["basalt"])
    with pytest.raises(InputError, match="outside"):
        adaptsite.run(adapt_args(sites, far, tmp_path), Feedback())
    assert not list(tmp_path.glob("adapted*"))


def test_unknown_class_names_it_and_the_models_classes(sites: dict, tmp_path: Path) -> None:
    labels = write_points(tmp_path / "pts.gpkg", [(3, 3), (20, 20), (40, 9)],
                          ["basalt", "granite", "Calcite"])
    with pytest.raises(InputError) as err:
        adaptsite.run(adapt_args(sites, labels, tmp_path), Feedback())
    message = str(err.value)
    assert "'granite'" in message and "does not know" in message
    assert "'basalt', 'calcite', 'olivine'" in message
    assert "Calcite" not in message.split("predicts")[0]  # case-insensitive match is accepted


def test_output_replacing_the_model_is_refused(sites: dict, tmp_path: Path) -> None:
    labels = write_points(tmp_path / "pts.gpkg", [(3, 3)], ["basalt"])
    with pytest.raises(InputError, match="also an input"):
        adaptsite.run(adapt_args(sites, labels, tmp_path, output_model=str(sites["model"])),
                      Feedback())


def test_cancel_leaves_nothing(sites: dict, tmp_path: Path) -> None:
    labels = write_points(tmp_path / "pts.gpkg", [(3, 3), (20, 20)], ["basalt", "calcite"])
    out = tmp_path / "out"
    out.mkdir()
    calls = [0]

    def cancelled() -> bool:
        calls[0] += 1
        return calls[0] > 5

    with pytest.raises(CancelledError):
        adaptsite.run(adapt_args(sites, labels, out), Feedback(is_cancelled=cancelled))
    assert list(out.iterdir()) == []


def write_teacher_site(folder: Path, rgb_gain: float) -> dict[str, Path]:
    """RGB (0.5 m) of the class map, a 12-band HSI and a DEM at 2 m, lattice labels."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = write_rgb(folder / "rgb.tif", np.full(3, rgb_gain), 0.0, seed=2)
    wl = np.linspace(450.0, 2400.0, 12)
    n = SIZE // 4
    coarse = truth[::4, ::4]
    spectra = np.stack([np.full(wl.size, 0.1), 0.5 - 0.2 * (wl > 2300),
                        0.3 - 0.15 * np.exp(-((wl - 1050) / 150) ** 2)])
    hsi = spectra[coarse].transpose(2, 0, 1) + np.random.default_rng(3).normal(0, 0.01, (wl.size, n, n))
    profile = dict(driver="GTiff", crs=CRS, dtype="float32", width=n, height=n,
                   transform=from_origin(X0, Y0, 4 * RES, 4 * RES))
    with rasterio.open(folder / "hsi.tif", "w", count=wl.size, **profile) as ds:
        ds.write(hsi.astype(np.float32))
        for b, w in enumerate(wl, start=1):
            ds.update_tags(b, wavelength=f"{w:.1f}", fwhm="20.0", wavelength_units="Nanometers")
    with rasterio.open(folder / "dem.tif", "w", count=1, **profile) as ds:
        ds.write((100.0 + np.add.outer(np.arange(n), np.arange(n)) * 0.5)[None].astype(np.float32))
    cells = [(r, c) for r in range(2, SIZE, 5) for c in range(2, SIZE, 5)]
    write_points(folder / "labels.gpkg", cells, [CLASSES[truth[r, c]] for r, c in cells])
    return {k: folder / f"{k}.{e}" for k, e in (("rgb", "tif"), ("hsi", "tif"), ("dem", "tif"),
                                               ("labels", "gpkg"))}


@pytest.mark.parametrize("members", [1, 2])
def test_a_teacher_is_adapted_on_its_own_grid(tmp_path: Path, members: int) -> None:
    a = write_teacher_site(tmp_path / "a", 1.0)
    b = write_teacher_site(tmp_path / "b", 0.7)
    run_teacher_training(str(a["rgb"]), str(a["hsi"]), str(a["dem"]), str(a["labels"]),
                         str(tmp_path / "t.cmkd"), str(tmp_path / "t.html"),
                         DataConfig(block_size_px=16),
                         TeacherTrainConfig(epochs=2, patches_per_epoch=32, encoder_width=8,
                                            embed_dim=32, n_heads=4, seed=3, members=members))
    cells = [(5, 5), (5, 13), (30, 22)]
    truth = class_map(SIZE)
    pts = write_points(tmp_path / "pts.gpkg", cells, [CLASSES[truth[r, c]] for r, c in cells])
    warnings: list[str] = []
    outputs = run_adaptation(str(tmp_path / "t.cmkd"), str(b["rgb"]), str(b["hsi"]), None,
                             str(pts), str(tmp_path / "ta.cmkd"), str(tmp_path / "ta.html"),
                             AdaptConfig(epochs=2, patches_per_epoch=16, patch_size_px=8),
                             feedback=Feedback(on_warning=warnings.append)).outputs
    assert outputs["LABELLED_PIXELS"] == 3  # one teacher-grid pixel per point
    assert any("No DEM given" in w for w in warnings)
    original, _ = load_model(tmp_path / "t.cmkd")
    adapted, card = load_model(tmp_path / "ta.cmkd", expect_kind="teacher")
    o, t = original.state_dict(), adapted.state_dict()
    frozen = [k for k in o if "encoders" in k.split(".")]  # of every member of an ensemble
    assert len(frozen) == members * len([k for k in o if k.startswith(("encoders.", "members.0.encoders."))])
    assert all(torch.equal(o[k], t[k]) for k in frozen)
    assert not all(torch.equal(o[k], t[k]) for k in o if k not in frozen)
    assert card.architecture.members == members
    assert card.training["adaptations"][-1]["adapted_from"] == "t.cmkd"
    # The DEM was not given: its statistics stay the teacher's.
    assert card.modality("dem") == load_model(tmp_path / "t.cmkd")[1].modality("dem")
