"""Training pipeline on tiny scenes written with rasterio/geopandas: teacher and student learn,
reports hold the metrics, bad inputs give clear errors, cancel leaves nothing, seeds reproduce."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import torch
from shapely.geometry import Point

from cmkd_plugin.engine.commands import distillstudent, trainteacher
from cmkd_plugin.engine.errors import CancelledError, InputError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.models.modelfile import load_model
from cmkd_plugin.engine.training.augment import augment_dem, augment_hsi, augment_rgb, mix_areas
from cmkd_plugin.engine.geo.labels import UNLABELLED
from cmkd_plugin.engine.models.resample import upsample_area
from cmkd_plugin.engine.training.common import predict_area, refined_classes
from cmkd_plugin.engine.training.metrics import evaluate
from cmkd_plugin.engine.training.config import DataConfig, DistillConfig, TeacherTrainConfig
from cmkd_plugin.engine.training.data import load_scene
from cmkd_plugin.engine.training.pipeline import (prepare_distillation, run_distillation,
                                                  run_teacher_training)
from cmkd_plugin.engine.training.split import block_split

# Other processes may share the two cores; one thread avoids oversubscription slow-downs.
torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import CLASSES, CRS, WAVELENGTHS, X0, Y0, write_scene  # noqa: E402

from cmkd_plugin.engine.classify.inference import refinement_radius  # noqa: E402


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_scene(tmp_path_factory.mktemp("scene"))


def teacher_args(paths: dict[str, Path], out: Path, **over: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    trainteacher.add_arguments(parser)
    argv = ["--rgb", str(paths["rgb"]), "--hsi", str(paths["hsi"]), "--dem", str(paths["dem"]),
            "--labels", str(paths["labels"]), "--epochs", "4", "--seed", "3",
            "--output-model", str(out / "teacher.cmkd"), "--output-report", str(out / "teacher.html"),
            "--block-size-px", "16", "--patches-per-epoch", "64"]
    args = parser.parse_args(argv)
    for k, v in over.items():
        setattr(args, k, v)
    return args


def student_args(paths: dict[str, Path], teacher: Path, out: Path, **over: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    distillstudent.add_arguments(parser)
    argv = ["--teacher", str(teacher), "--rgb", str(paths["rgb"]), "--hsi", str(paths["hsi"]),
            "--dem", str(paths["dem"]), "--labels", str(paths["labels"]), "--epochs", "3",
            "--seed", "3", "--output-model", str(out / "student.cmkd"),
            "--output-report", str(out / "student.html"), "--tile-size", "32",
            "--patches-per-epoch", "16"]
    args = parser.parse_args(argv)
    for k, v in over.items():
        setattr(args, k, v)
    return args


# Tiny models keep the tests fast; the architecture is the design's, only narrower. The
# teacher is the default ensemble (three members).
TINY_DATA = DataConfig(block_size_px=16)
TINY_TEACHER = TeacherTrainConfig(epochs=12, patches_per_epoch=64, encoder_width=8, embed_dim=32,
                                  n_heads=4, learning_rate=1e-2, seed=3)
TINY_DISTILL = DistillConfig(epochs=4, patches_per_epoch=16, patch_size_px=32, encoder_width=8,
                             learning_rate=1e-2, seed=3)


def train_tiny(paths: dict[str, Path], out: Path, config: TeacherTrainConfig = TINY_TEACHER) -> dict:
    return run_teacher_training(str(paths["rgb"]), str(paths["hsi"]), str(paths["dem"]),
                                str(paths["labels"]), str(out / "teacher.cmkd"),
                                str(out / "teacher.html"), TINY_DATA, config).outputs


def distil_tiny(paths: dict[str, Path], teacher: str, out: Path, labels: bool = True) -> dict:
    return run_distillation(teacher, str(paths["rgb"]), str(paths["hsi"]), str(paths["dem"]),
                            str(paths["labels"]) if labels else None, str(out / "student.cmkd"),
                            str(out / "student.html"), TINY_DISTILL).outputs


@pytest.fixture(scope="module")
def trained(scene: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("teacher")
    return out, train_tiny(scene, out)


def test_teacher_beats_chance_and_writes_model_and_report(trained: tuple[Path, dict]) -> None:
    out, outputs = trained
    assert outputs["TEACHER_OA"] > 1.0 / len(CLASSES) + 0.2
    assert outputs["VALIDATION_PIXELS"] > 0
    model, card = load_model(outputs["OUTPUT_MODEL"], expect_kind="teacher")
    assert card.class_names == CLASSES
    assert card.modality("hsi").wavelengths_nm == pytest.approx(tuple(WAVELENGTHS), abs=0.05)
    assert card.modality("dem").band_names == ("elevation_m", "slope_deg", "hillshade")
    report = json.loads((out / "teacher.json").read_text())
    assert report["metrics"]["teacher"]["oa"] == pytest.approx(outputs["TEACHER_OA"])
    assert report["cost"]["teacher"]["parameters"] == sum(p.numel() for p in model.parameters())
    html = (out / "teacher.html").read_text()
    assert "data:image/png;base64," in html and "Overall accuracy" in html
    # what each class was learnt from and validated on, as counted by the split
    split = report["training"]["split"]
    assert len(split["train_counts"]) == len(CLASSES) and all(n > 0 for n in split["train_counts"])
    assert sum(split["val_counts"]) > 0
    assert "Labelled pixels per class" in html
    assert f"<tr><th>{CLASSES[0]}</th><td>{split['train_counts'][0]}</td>" in html


def test_student_report_compares_teacher_student_baseline(scene: dict[str, Path],
                                                         trained: tuple[Path, dict],
                                                         tmp_path: Path) -> None:
    outputs = distil_tiny(scene, trained[1]["OUTPUT_MODEL"], tmp_path)
    for key in ("TEACHER_OA", "STUDENT_OA", "BASELINE_OA", "RETENTION", "GAIN"):
        assert outputs[key] is not None, key
    assert outputs["RETENTION"] == pytest.approx(outputs["STUDENT_OA"] / outputs["TEACHER_OA"])
    assert outputs["GAIN"] == pytest.approx(outputs["STUDENT_OA"] - outputs["BASELINE_OA"])
    model, card = load_model(outputs["OUTPUT_MODEL"], expect_kind="student")
    assert card.architecture.modality_names == ("rgb",)
    assert sum(p.numel() for p in model.parameters()) < 100_000
    report = json.loads((tmp_path / "student.json").read_text())
    assert set(report["metrics"]) == {"teacher", "student", "baseline"}
    assert report["cost"]["student"]["flops_per_pixel"] < report["cost"]["teacher"]["flops_per_pixel"]
    for role in ("teacher", "student", "baseline"):
        assert set(report["metrics"][role]["per_class_f1"]) == set(CLASSES)


def test_teacher_report_scores_its_map_refined_by_the_rgb(scene: dict[str, Path], tmp_path: Path) -> None:
    # The report's teacher is the map cmkd:classify gives: logits upsampled to the RGB grid,
    # refined by the RGB over one teacher pixel (the tiny scene's HSI is 4 RGB pixels wide).
    run = run_teacher_training(str(scene["rgb"]), str(scene["hsi"]), str(scene["dem"]),
                               str(scene["labels"]), str(tmp_path / "t.cmkd"), str(tmp_path / "t.html"),
                               TINY_DATA, replace(TINY_TEACHER, epochs=2, members=1))
    s = run.scene
    assert s.factor == 4
    inputs = {k: np.where(s.valid_coarse[None], v, np.nan) for k, v in s.teacher_inputs().items()}
    logits = predict_area(run.model, inputs, {m.name: m for m in run.card.modalities})[0]
    val = s.val_labels(coarse=False)
    at = (val != UNLABELLED) & s.valid
    refined = refined_classes(logits, s.factor, {"rgb": s.rgb}, {"rgb": run.card.modality("rgb")},
                              s.factor, at)
    expected = evaluate(val, refined, s.class_names, s.valid)
    assert run.outputs["TEACHER_OA"] == pytest.approx(expected["oa"])
    assert run.report["metrics"]["teacher"]["pixels"] == int(at.sum())
    assert "refined by the RGB" in (tmp_path / "t.html").read_text()


def test_a_geographic_scene_trains_like_a_projected_one(scene: dict[str, Path], tmp_path: Path) -> None:
    # The same scene in WGS 84 degrees: slopes from the DEM, the card's pixel size and so the
    # refinement of the teacher's map by cmkd:classify must be in metres, as on UTM.
    geo = write_scene(tmp_path / "geo", geographic=True)
    names = {"class_names": CLASSES}
    utm_scene = load_scene(str(scene["rgb"]), str(scene["hsi"]), str(scene["dem"]), None, TINY_DATA, **names)
    geo_scene = load_scene(str(geo["rgb"]), str(geo["hsi"]), str(geo["dem"]), None, TINY_DATA, **names)
    slope_utm = utm_scene.teacher_inputs()["dem"][1]
    slope_geo = geo_scene.teacher_inputs()["dem"][1]
    assert np.nanmedian(slope_utm) == pytest.approx(19.5, abs=0.5)  # atan(0.25 * sqrt(2))
    np.testing.assert_allclose(slope_geo, slope_utm, atol=0.5)
    run = run_teacher_training(str(geo["rgb"]), str(geo["hsi"]), str(geo["dem"]), str(geo["labels"]),
                               str(tmp_path / "t.cmkd"), str(tmp_path / "t.html"), TINY_DATA,
                               replace(TINY_TEACHER, epochs=1, members=1))
    assert run.card.pixel_size_m == pytest.approx(2.0, rel=1e-3)
    assert refinement_radius(run.card, geo_scene.grid.pixel_size_m, 32) == 4


def test_student_without_labels_scores_agreement_with_teacher(scene: dict[str, Path],
                                                             trained: tuple[Path, dict],
                                                             tmp_path: Path) -> None:
    outputs = distil_tiny(scene, trained[1]["OUTPUT_MODEL"], tmp_path, labels=False)
    assert outputs["BASELINE_OA"] is None and outputs["STUDENT_OA"] is not None


def test_same_seed_same_teacher(scene: dict[str, Path], tmp_path: Path) -> None:
    weights = []
    for name in ("a", "b", "c"):
        out = tmp_path / name
        seed = 9 if name == "c" else 3
        train_tiny(scene, out, TeacherTrainConfig(epochs=2, patches_per_epoch=32, encoder_width=8,
                                                  embed_dim=32, n_heads=4, seed=seed, members=1))
        model, _ = load_model(out / "teacher.cmkd")
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_teacher_ensemble_members_are_the_teachers_of_successive_seeds(scene: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    def config(seed: int, members: int = 1) -> TeacherTrainConfig:
        return TeacherTrainConfig(epochs=2, patches_per_epoch=32, encoder_width=8, embed_dim=32,
                                  n_heads=4, seed=seed, members=members)

    outputs = train_tiny(scene, tmp_path / "ens", config(5, members=2))
    ensemble, card = load_model(outputs["OUTPUT_MODEL"], expect_kind="teacher")
    assert card.architecture.members == 2 and card.training["teacher"]["members"] == 2
    assert len(card.training["member_best_epochs"]) == 2
    assert {h["member"] for h in card.training["history"]} == {1, 2}
    singles, single_oa = [], []
    for seed in (5, 6):
        single_oa.append(train_tiny(scene, tmp_path / f"s{seed}", config(seed))["TEACHER_OA"])
        singles.append(load_model(tmp_path / f"s{seed}" / "teacher.cmkd")[0])
    for member, single in zip(ensemble.members, singles):
        state, expected = member.state_dict(), single.state_dict()
        assert all(torch.equal(state[k], expected[k]) for k in expected)
    # each member is scored in the card and the report exactly as that seed's single teacher
    assert card.metrics["member_oa"] == pytest.approx(single_oa)
    report = json.loads((tmp_path / "ens" / "teacher.json").read_text())
    assert report["headline"]["member_oa"] == pytest.approx(single_oa)
    assert "member_oa" in (tmp_path / "ens" / "teacher.html").read_text()
    assert report["cost"]["teacher"]["parameters"] == 2 * sum(p.numel() for p in singles[0].parameters())
    # the ensemble's map is the mean of its members' probabilities, so it is scored as such
    assert 0.0 < outputs["TEACHER_OA"] <= 1.0
    with pytest.raises(InputError, match="1 to 16 members"):
        config(5, members=0)


def test_distillstudent_command_parses_the_public_options(scene: dict[str, Path], tmp_path: Path) -> None:
    args = student_args(scene, tmp_path / "t.cmkd", tmp_path)
    d = DistillConfig()  # the command's defaults are the engine's
    assert (args.temperature_start, args.temperature_end, args.feature_weight, args.ce_weight) == (
        d.temperature_start, d.temperature_end, d.feature_weight, d.ce_weight)
    assert args.class_balanced is d.class_balanced and args.progressive is d.progressive
    parser = argparse.ArgumentParser()
    distillstudent.add_arguments(parser)
    flipped = parser.parse_args(["--teacher", "t", "--rgb", "r", "--output-model", "m",
                                 "--output-report", "r.html", "--no-class-balanced", "--progressive"])
    assert flipped.class_balanced is False and flipped.progressive is True


def test_cancel_leaves_nothing(scene: dict[str, Path], tmp_path: Path) -> None:
    calls = [0]

    def cancelled() -> bool:
        calls[0] += 1
        return calls[0] > 3

    with pytest.raises(CancelledError):
        trainteacher.run(teacher_args(scene, tmp_path), Feedback(is_cancelled=cancelled))
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_give_clear_errors(scene: dict[str, Path], tmp_path: Path) -> None:
    # labels outside the rasters
    far = gpd.GeoDataFrame({"mineral": ["basalt", "calcite"]},
                           geometry=[Point(X0 + 1e5, Y0), Point(X0 + 1e5 + 5, Y0)], crs=CRS)
    far.to_file(tmp_path / "far.gpkg", driver="GPKG")
    with pytest.raises(InputError, match="outside"):
        trainteacher.run(teacher_args(scene, tmp_path, labels=str(tmp_path / "far.gpkg")), Feedback())
    # class field missing
    with pytest.raises(InputError, match="no field 'rock'"):
        trainteacher.run(teacher_args(scene, tmp_path, label_field="rock"), Feedback())
    # one class only
    one = gpd.read_file(scene["labels"])
    one["mineral"] = "basalt"
    one.to_file(tmp_path / "one.gpkg", driver="GPKG")
    with pytest.raises(InputError, match="only 1 class"):
        trainteacher.run(teacher_args(scene, tmp_path, labels=str(tmp_path / "one.gpkg")), Feedback())
    # HSI without wavelengths
    bare = write_scene(tmp_path / "bare", hsi_wavelengths=False)
    with pytest.raises(InputError, match="no band wavelengths"):
        trainteacher.run(teacher_args(bare, tmp_path, hsi=str(bare["hsi"])), Feedback())
    # rasters that do not overlap
    away = write_scene(tmp_path / "away", hsi_origin=(X0 + 10_000.0, Y0))
    with pytest.raises(InputError, match="does not overlap"):
        trainteacher.run(teacher_args(scene, tmp_path, hsi=str(away["hsi"])), Feedback())
    assert not list(tmp_path.glob("teacher*"))


def test_block_split_keeps_training_away_from_validation(scene: dict[str, Path]) -> None:
    s = load_scene(scene["rgb"], scene["hsi"], scene["dem"], scene["labels"],
                   DataConfig(block_size_px=16, buffer_px=1, validation_fraction=0.3))
    assert s.factor == 4 and s.teacher_grid.shape == (16, 16)
    split = s.split
    assert split is not None and split.val_coarse.any()
    assert not (split.train_coarse & split.val_coarse).any()
    # every training pixel is more than buffer_px away from any validation pixel
    from scipy import ndimage
    assert not (ndimage.binary_dilation(split.val_coarse) & split.train_coarse).any()
    train, val = s.train_labels(coarse=False), s.val_labels(coarse=False)
    assert ((train != 255) & (val != 255)).sum() == 0
    assert (val != 255).sum() > 0 and (train != 255).sum() > 0


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_student_grid_targets_interpolate_the_teachers_probabilities(temperature: float) -> None:
    from cmkd_plugin.engine.training.distill import student_grid_logits

    rng = np.random.default_rng(3)
    coarse = (3 * rng.normal(size=(4, 10, 10))).astype(np.float32)
    origins = np.array([[0, 0], [8, 16], [24, 24]])
    z = student_grid_logits(coarse, origins, 16, 4, temperature, "probabilities")
    got = torch.softmax(z / temperature, dim=1).numpy()
    e = np.exp(coarse / temperature - (coarse / temperature).max(axis=0))
    expected = upsample_area(e / e.sum(axis=0), 4, (40, 40))
    for patch, (r, c) in zip(got, origins):
        np.testing.assert_allclose(patch, expected[:, r:r + 16, c:c + 16], rtol=1e-4, atol=1e-6)
    # At the teacher's own resolution nothing is interpolated: its probabilities come back.
    same = torch.softmax(student_grid_logits(coarse, origins[:1], 4, 1, temperature, "probabilities")
                         / temperature, dim=1)[0].numpy()
    np.testing.assert_allclose(same, (e / e.sum(axis=0))[:, :4, :4], rtol=1e-4, atol=1e-6)
    logits = student_grid_logits(coarse, origins, 16, 4, temperature, "logits").numpy()
    for patch, (r, c) in zip(logits, origins):
        np.testing.assert_allclose(patch, upsample_area(coarse, 4, (40, 40))[:, r:r + 16, c:c + 16],
                                   rtol=1e-5, atol=1e-5)


def test_probability_and_logit_interpolation_differ_between_a_confident_and_a_doubtful_pixel() -> None:
    from cmkd_plugin.engine.training.distill import student_grid_logits

    # Teacher pixel 0 is sure of class 0 (p 0.98), pixel 1 less sure of class 1 (p 0.88).
    coarse = np.zeros((2, 1, 2), dtype=np.float32)
    coarse[0, 0, 0] = 4.0
    coarse[1, 0, 1] = 2.0
    origin = np.array([[0, 0]])
    p = torch.softmax(student_grid_logits(coarse, origin, 8, 4, 1.0, "probabilities"), dim=1)[0, :, 0].numpy()
    q = torch.softmax(student_grid_logits(coarse, origin, 8, 4, 1.0, "logits"), dim=1)[0, :, 0].numpy()
    # Bilinear weights of teacher pixel 0 along the row (align_corners=False, edges replicated).
    w = np.clip(1.0 - (np.arange(8) + 0.5 - 2.0) / 4.0, 0.0, 1.0)
    p_teacher = np.exp(coarse[:, 0]) / np.exp(coarse[:, 0]).sum(axis=0)
    np.testing.assert_allclose(p[0], w * p_teacher[0, 0] + (1 - w) * p_teacher[0, 1], rtol=1e-5)
    # The mixture gives class 1 from the pixel with weight 0.375 on teacher pixel 0 on
    # (0.98 w + 0.12 (1 - w) < 0.5); the interpolated logits keep class 0 there (4 w > 2 (1 - w)):
    # they follow the more confident pixel.
    assert (p.argmax(axis=0) == 1).sum() == 4 and (q.argmax(axis=0) == 1).sum() == 3


def test_unknown_target_interpolation_is_refused() -> None:
    with pytest.raises(InputError, match="Target interpolation must be one of probabilities, logits"):
        DistillConfig(target_interpolation="nearest")


def test_augmentations_keep_shape_nodata_and_change_values() -> None:
    gen = torch.Generator().manual_seed(0)
    for fn, c in ((augment_hsi, 12), (augment_rgb, 3), (augment_dem, 3)):
        x = torch.rand(4, c, 8, 8)
        x[0, :, 0, 0] = float("nan")
        y = fn(x, gen)
        assert y.shape == x.shape
        assert torch.isnan(y[0, :, 0, 0]).all() if fn is not augment_dem else torch.isnan(y[0, 0, 0, 0])
        assert not torch.allclose(torch.nan_to_num(y), torch.nan_to_num(x))
    # the same generator seed gives the same augmentation
    a = augment_hsi(torch.ones(2, 12, 4, 4), torch.Generator().manual_seed(5))
    b = augment_hsi(torch.ones(2, 12, 4, 4), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_areal_mixing_makes_convex_mixtures_with_matching_soft_targets() -> None:
    # Every sample its own class, so a target tells with whom and in which fraction a sample
    # was mixed; the inputs must be that mixture in every modality.
    n = 64
    hsi, rgb = torch.randn(n, 5, 3, 3), torch.randn(n, 3, 3, 3)
    hsi[1, :, 0, 0] = float("nan")  # a partner's nodata must not spoil unmixed samples
    labels = torch.full((n, 3, 3), 255)
    labels[:, 1, 1] = torch.arange(n)
    same, targets, has = mix_areas({"hsi": hsi, "rgb": rgb}, labels, n, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(same["hsi"].nan_to_num(7), hsi.nan_to_num(7)) and torch.equal(same["rgb"], rgb)
    assert torch.equal(has, labels != 255) and torch.equal(targets[:, :, 1, 1], torch.eye(n))
    out, targets, has = mix_areas({"hsi": hsi, "rgb": rgb}, labels, n, 0.5, torch.Generator().manual_seed(1))
    mixed = 0
    for i in range(n):
        t = targets[i, :, 1, 1]
        assert has[i, 1, 1] and t.sum().item() == pytest.approx(1.0, abs=1e-6)
        f = t[i].item()
        if f == 1.0:  # not mixed (or mixed with itself): as it was, up to rounding
            np.testing.assert_allclose(out["hsi"][i].nan_to_num(7).numpy(),
                                       hsi[i].nan_to_num(7).numpy(), atol=1e-6)
            continue
        mixed += 1
        j = int(torch.topk(t, 2).indices[[k != i for k in torch.topk(t, 2).indices.tolist()]][0])
        assert t[j].item() == pytest.approx(1 - f, abs=1e-6) and 0.0 <= f < 1.0
        for name, x in (("hsi", hsi), ("rgb", rgb)):
            np.testing.assert_allclose(out[name][i].numpy(), (f * x[i] + (1 - f) * x[j]).numpy(),
                                       atol=1e-5)
    assert 16 < mixed < 48  # about half the samples
    assert not has[:, 0, 0].any()  # unlabelled stays without a target


def test_a_teacher_trained_with_areal_mixing_beats_chance_and_records_it(scene: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    outputs = train_tiny(scene, tmp_path, replace(TINY_TEACHER, mixing=1.0, members=1))
    assert outputs["TEACHER_OA"] > 1.0 / len(CLASSES) + 0.2
    _, card = load_model(outputs["OUTPUT_MODEL"])
    assert card.training["teacher"]["mixing"] == 1.0
    with pytest.raises(InputError, match="Mixing must be in"):
        replace(TINY_TEACHER, mixing=1.5)


def test_model_selection_at_validation_pixels_equals_whole_area_evaluation() -> None:
    from cmkd_plugin.engine.models.student import make_student
    from cmkd_plugin.engine.training.common import modality_card, predict_area
    from cmkd_plugin.engine.training.distill import _select
    from cmkd_plugin.engine.training.metrics import evaluate

    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    rgb = rng.random((3, 40, 37)).astype(np.float32)
    valid = np.ones((40, 37), dtype=bool)
    cards = {"rgb": modality_card("rgb", rgb, valid)}
    model = make_student(3, {"rgb": 3}, encoder_width=8, encoder_depth=2, embed_dim=16).eval()
    labels = np.full((40, 37), 255, dtype=np.uint8)
    rows, cols = rng.integers(0, 40, 60), rng.integers(0, 37, 60)
    rows[:4], cols[:4] = (0, 39, 0, 39), (0, 36, 36, 0)  # corners: replicate padding matters
    labels[rows, cols] = rng.integers(0, 3, 60)
    logits, _, _ = predict_area(model, {"rgb": rgb}, cards)
    m = evaluate(labels, logits.argmax(axis=0), CLASSES)
    expected = m["oa"] + 1e-3 * m["macro_f1"]
    score = _select(model, {"rgb": rgb}, cards, labels, CLASSES, valid)
    assert score.value == pytest.approx(expected)
    assert score.correct.sum() == round(m["oa"] * m["pixels"])


def test_block_matching_distils_a_student_whose_blocks_agree_with_the_teacher(
        scene: dict[str, Path], trained: tuple[Path, dict]) -> None:
    prep = prepare_distillation(trained[1]["OUTPUT_MODEL"], str(scene["rgb"]), str(scene["hsi"]),
                                str(scene["dem"]), str(scene["labels"]))
    f = prep.scene.factor
    assert f == 4  # 0.5 m RGB under 2 m HSI: the block path is the one that runs
    result = prep.distil(replace(TINY_DISTILL, target_match="block", ce_weight=0.0, epochs=8,
                                 patches_per_epoch=32))
    assert result.history[-1]["kd"] < result.history[0]["kd"]
    logits, _, _ = predict_area(result.model, prep.rgb, prep.student_cards)
    k, h, w = prep.targets.logits.shape
    p = torch.softmax(torch.from_numpy(logits[:, : h * f, : w * f]), dim=0).numpy()
    block_mean = p.reshape(k, h, f, w, f).mean(axis=(2, 4))
    valid = prep.targets.valid
    agree = (block_mean.argmax(axis=0) == prep.targets.logits.argmax(axis=0))[valid].mean()
    assert agree > 0.8  # chance is 1/3 (the teacher's classes are balanced here)


def test_unknown_target_matching_is_refused() -> None:
    with pytest.raises(InputError, match="Target matching must be one of pixel, block"):
        DistillConfig(target_match="nearest")


@pytest.mark.parametrize("fraction, with_label", [(0.0, 0), (0.25, 2), (0.5, 4), (1.0, 8)])
def test_a_distillation_batch_holds_the_configured_share_of_label_patches(
        fraction: float, with_label: int) -> None:
    from cmkd_plugin.engine.training.distill import batch_origins

    # Transfer pixels only in the top-left corner, one label in the bottom-right corner: a
    # 16 px patch can contain one or the other, never both.
    transfer = (np.array([2, 5]), np.array([3, 6]))
    labels = (np.array([90]), np.array([93]))
    origins = batch_origins(np.random.default_rng(0), (96, 96), 16, 8, transfer, labels, fraction, 4)
    assert origins.shape == (8, 2)
    assert (origins % 4 == 0).all()  # whole teacher pixels
    holds_label = [r <= 90 < r + 16 and c <= 93 < c + 16 for r, c in origins]
    holds_transfer = [r <= 5 and c <= 6 for r, c in origins]
    assert sum(holds_label) == with_label
    assert sum(holds_transfer) == 8 - with_label
    # Without labels (or without the label term) every patch is a transfer patch.
    none = batch_origins(np.random.default_rng(0), (96, 96), 16, 8, transfer, None, fraction, 4)
    assert all(r <= 5 and c <= 6 for r, c in none)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_a_share_of_label_patches_outside_0_1_is_refused(fraction: float) -> None:
    with pytest.raises(InputError, match="share of patches drawn around labels must be between 0 and 1"):
        DistillConfig(label_patch_fraction=fraction)


@pytest.mark.parametrize("align, jitter", [(1, True), (4, True), (8, True), (8, False)])
def test_every_patch_holds_the_pixel_it_was_drawn_for(align: int, jitter: bool) -> None:
    from cmkd_plugin.engine.training.common import patch_origins

    # One centre at a time (every pixel of a 96 x 88 grid, corners and edges included), so the
    # patch can be checked against the centre it was drawn around; 32 px patches in whole
    # teacher pixels of `align` student pixels (the grid is a whole number of them).
    rng = np.random.default_rng(1)
    for row in range(0, 96, 5):
        for col in range(0, 88, 3):
            origins = patch_origins(rng, (96, 88), 32, 6, (np.array([row]), np.array([col])),
                                    align, jitter)
            assert (origins % align == 0).all()
            assert ((origins >= 0) & (origins <= [96 - 32, 88 - 32])).all()
            assert ((origins[:, 0] <= row) & (row < origins[:, 0] + 32)).all()
            assert ((origins[:, 1] <= col) & (col < origins[:, 1] + 32)).all()


def test_weight_average_follows_the_weights_by_its_decay_and_swaps_them_in_and_out() -> None:
    from cmkd_plugin.engine.training.common import WeightAverage

    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average = WeightAverage(model, 0.75)
    for value in (5.0, 9.0):  # two optimiser steps' worth of new weights
        with torch.no_grad():
            model.weight.fill_(value)
        average.update()
    # 0.75 * (0.75 * 1 + 0.25 * 5) + 0.25 * 9 = 3.75
    with average.applied() as inside:
        assert float(inside.weight.detach()) == pytest.approx(3.75)
    assert float(model.weight.detach()) == 9.0  # its own weights back after the block
    average.finalise()
    assert float(model.weight.detach()) == pytest.approx(3.75)
    off = WeightAverage(model, 0.0)
    off.update()
    with off.applied() as inside:
        assert float(inside.weight.detach()) == pytest.approx(3.75)


def test_a_distillation_without_validation_keeps_the_averaged_weights(
        scene: dict[str, Path], trained: tuple[Path, dict]) -> None:
    prep = prepare_distillation(trained[1]["OUTPUT_MODEL"], str(scene["rgb"]), str(scene["hsi"]),
                                str(scene["dem"]), str(scene["labels"]))
    prep = replace(prep, val_labels=None)
    config = replace(TINY_DISTILL, patches_per_epoch=64)  # 32 steps: decay capped at 0.75
    plain = prep.distil(replace(config, weight_average_decay=0.0))
    averaged = prep.distil(replace(config, weight_average_decay=0.9))
    # Same seed, same steps: training is unchanged (same losses), only the weights kept differ.
    p = dict(plain.model.named_parameters())
    diff = max(float((p[n] - a).detach().abs().max()) for n, a in averaged.model.named_parameters())
    assert diff > 1e-3
    assert averaged.history[-1]["kd"] == pytest.approx(plain.history[-1]["kd"])
    with pytest.raises(InputError, match="weight-average decay must be at least 0 and below 1"):
        DistillConfig(weight_average_decay=1.0)


@pytest.mark.parametrize("layers", [0, 7])
def test_a_student_has_one_to_six_conv_layers(layers: int) -> None:
    with pytest.raises(InputError, match=f"A student has 1 to 6 conv layers \\(got {layers}\\)"):
        DistillConfig(encoder_depth=layers)
    assert DistillConfig(encoder_depth=6).encoder_depth == 6


@pytest.mark.parametrize("steps, expected", [(960, 0.99), (32, 0.75), (8, 0.0), (3, 0.0)])
def test_weight_average_decay_is_capped_by_the_length_of_the_run(steps: int, expected: float) -> None:
    from cmkd_plugin.engine.training.common import WeightAverage

    average = WeightAverage(torch.nn.Linear(1, 1), 0.99, total_steps=steps)
    assert average.decay == pytest.approx(expected)
    assert (average.shadow is None) == (expected == 0.0)


@pytest.mark.parametrize("only_earlier, only_last, expected", [
    (10, 2, True),    # 8 > 2 sqrt(12) = 6.93
    (9, 2, True),     # 7 > 2 sqrt(11) = 6.63
    (8, 2, False),    # 6 < 2 sqrt(10) = 6.32
    (4, 0, False),    # 4 = 2 sqrt(4): not more than chance
    (5, 0, True),     # 5 > 2 sqrt(5) = 4.47
    (0, 0, False),    # the same predictions
])
def test_an_earlier_epoch_is_clearly_better_by_mcnemars_paired_comparison(
        only_earlier: int, only_last: int, expected: bool) -> None:
    from cmkd_plugin.engine.training.distill import clearly_better

    both, neither = 30, 7
    earlier = np.array([True] * only_earlier + [False] * only_last + [True] * both + [False] * neither)
    last = np.array([False] * only_earlier + [True] * only_last + [True] * both + [False] * neither)
    assert clearly_better(earlier, last) is expected


def _select_over_epochs(right_per_epoch: list[tuple[int, int]], pixels: int = 100):
    """Run :class:`_BestEpoch` over epochs whose averaged weights are right on the validation
    pixels ``start:stop`` of ``pixels`` (``right_per_epoch[e]``; the weight is the epoch number);
    returns the epoch kept and the weight left in the model."""
    from cmkd_plugin.engine.training.common import WeightAverage
    from cmkd_plugin.engine.training.distill import _BestEpoch, _Score

    model = torch.nn.Linear(2, 1, bias=False)
    best = _BestEpoch(WeightAverage(model, 0.0), epochs=len(right_per_epoch))
    for epoch, (start, stop) in enumerate(right_per_epoch, start=1):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        correct = (np.arange(pixels) >= start) & (np.arange(pixels) < stop)
        best.consider(epoch, lambda m, c=correct: _Score(float(c.mean()), c))
    final = best.keep()
    assert float(final["weight"][0, 0]) == len(right_per_epoch)  # always the last epoch's
    return best.epoch, float(model.weight.detach()[0, 0])


def test_student_selection_keeps_the_last_epoch_unless_an_earlier_one_is_clearly_better() -> None:
    # A plateau: epoch 2 is right on 76 pixels, the last on 70, but not on the same ones: 10
    # pixels only epoch 2 gets right, 4 only the last (6 < 2 sqrt(14)), chance on a validation
    # set this size. The last epoch is kept (the best-score rule kept epoch 2).
    assert _select_over_epochs([(0, 60), (0, 76), (5, 77), (8, 82), (10, 80)]) == (5, 5.0)
    # Ties go to the last epoch too.
    assert _select_over_epochs([(0, 60), (0, 70), (0, 70)]) == (3, 3.0)
    # Over-fitting: the last epoch lost 20 pixels epoch 2 had and gained none (20 > 2 sqrt(20)):
    # epoch 2 is kept.
    assert _select_over_epochs([(0, 60), (0, 80), (0, 75), (0, 60)]) == (2, 2.0)
    # Without validation labels, the last epoch.
    from cmkd_plugin.engine.training.common import WeightAverage
    from cmkd_plugin.engine.training.distill import _BestEpoch

    model = torch.nn.Linear(2, 1, bias=False)
    best = _BestEpoch(WeightAverage(model, 0.0), epochs=2)
    for epoch in (1, 2):
        assert best.consider(epoch, lambda m: None) is None
    best.keep()
    assert best.epoch == 2


def test_teacher_early_stopping_keeps_the_later_of_tied_epochs(scene: dict[str, Path],
                                                             tmp_path: Path) -> None:
    # The tiny scene's few validation pixels are all right within a few epochs; the epochs that
    # follow tie with that score, and the teacher kept is the last of them, not the first.
    run = run_teacher_training(str(scene["rgb"]), str(scene["hsi"]), str(scene["dem"]),
                               str(scene["labels"]), str(tmp_path / "t.cmkd"), str(tmp_path / "t.html"),
                               TINY_DATA, replace(TINY_TEACHER, epochs=12, members=1, patience_epochs=30))
    history = run.card.training["history"]
    best = max(h["val_score"] for h in history)
    tied = [h["epoch"] for h in history if h["val_score"] == best]
    assert len(tied) > 1, history  # the scene must produce a tie for this to test anything
    assert run.card.training["best_epoch"] == tied[-1]
