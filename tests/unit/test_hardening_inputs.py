"""Bad-input matrix: every engine command through its command line (``--protocol jsonl``).

Each refused case asserts a non-zero exit, exactly one ``error`` message of a user-facing kind
(``input``/``model``, never ``internal``: that would be a crash) whose text names the problem,
no output or partial file left in the output folder, and every input file unchanged (SHA-256).
Cases that must *work* (odd dtypes, 1 x 1 and non-square rasters, paths with spaces and Japanese
folder names) assert the outputs instead.
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import rasterio
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile as H  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # Other jobs share the two cores; one thread avoids oversubscription.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass(frozen=True)
class Base:
    """Valid inputs every case starts from (only the hostile part differs)."""

    folder: Path
    rgb: Path
    hsi: Path
    dem: Path
    labels: Path
    classes: Path
    probabilities: Path
    sites: Path
    student: Path
    teacher: Path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    d = tmp_path_factory.mktemp("inputs")
    return Base(
        folder=d, rgb=H.write_rgb(d / "rgb.tif"), hsi=H.write_hsi(d / "hsi.tif"),
        dem=H.write_dem(d / "dem.tif"), labels=H.write_labels(d / "labels.gpkg"),
        classes=H.write_classes(d / "classes.tif"),
        probabilities=H.write_probabilities(d / "probs.tif"),
        sites=H.write_vector(d / "sites.gpkg", [H.site_box(10, 10, 100)], {"site_id": ["a"]}),
        student=H.write_student(d / "student.safetensors"),
        teacher=H.write_teacher(d / "teacher.safetensors"),
    )


# A case builds its hostile input under ``t`` (the test's tmp_path) and returns the argv;
# every output goes to ``t / "out"``.
Build = Callable[[Base, Path], list]


def classify_argv(b: Base, t: Path, *, model=None, rgb=None, extra=(), teacher=False) -> list:
    argv = ["classify", "--model", model or (b.teacher if teacher else b.student),
            "--rgb", rgb or b.rgb, "--tile-size", "32", "--overlap", "8", "--device", "cpu",
            "--output-classes", t / "out" / "c.tif", "--output-probabilities", t / "out" / "p.tif"]
    if teacher:
        argv += ["--hsi", b.hsi, "--dem", b.dem]
    return argv + list(extra)


def evaluate_argv(b: Base, t: Path, *, classes=None, reference=None, extra=()) -> list:
    return ["evaluate", "--classes", classes or b.classes, "--reference", reference or b.labels,
            "--output-report", t / "out" / "report.html", *extra]


def carbon_argv(b: Base, t: Path, *, probabilities=None, sites=None, extra=()) -> list:
    return ["carbonation", "--probabilities", probabilities or b.probabilities,
            "--sites", sites or b.sites, "--output-rate", t / "out" / "rate.tif",
            "--output-uncertainty", t / "out" / "sd.tif", "--output-sites", t / "out" / "s.gpkg",
            *extra]


def teacher_argv(b: Base, t: Path, *, rgb=None, hsi=None, dem=None, labels=None, extra=()) -> list:
    return ["trainteacher", "--rgb", rgb or b.rgb, "--hsi", hsi or b.hsi, "--dem", dem or b.dem,
            "--labels", labels or b.labels, "--epochs", "1", "--patches-per-epoch", "8",
            "--block-size-px", "16", "--output-model", t / "out" / "teacher.safetensors",
            "--output-report", t / "out" / "teacher.html", *extra]


def distil_argv(b: Base, t: Path, *, teacher=None, rgb=None, hsi=None, labels=None,
                extra=()) -> list:
    argv = ["distillstudent", "--teacher", teacher or b.teacher, "--rgb", rgb or b.rgb,
            "--hsi", hsi or b.hsi, "--dem", b.dem, "--epochs", "1", "--patches-per-epoch", "4",
            "--tile-size", "16", "--output-model", t / "out" / "student.safetensors",
            "--output-report", t / "out" / "student.html"]
    if labels:
        argv += ["--labels", labels]
    return argv + list(extra)


def simulate_argv(b: Base, t: Path, *extra) -> list:
    return ["simulate", "--preset", "earth_carbonation", "--size-px", "64", "--hsi-gsd-m", "1",
            "--hsi-bands", "16", "--labels-per-class", "2", "--output-dir", t / "out", *extra]


# ------------------------------------------------------------------ hostile files


def absurd_model(b: Base, t: Path) -> Path:
    """A safetensors header announcing a 4 TB tensor in a 12-byte body."""
    from cmkd_plugin.engine.models.fileformat import CARD_METADATA_KEY

    raw = b.student.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    card = json.loads(raw[8:8 + n])["__metadata__"][CARD_METADATA_KEY]
    header = {"__metadata__": {CARD_METADATA_KEY: card},
              "classifier.net.3.bias": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 12]}}
    raw = json.dumps(header).encode()
    path = t / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
    return path


def no_crs_rgb(t: Path) -> Path:
    return H.write_rgb(t / "nocrs.tif", crs=None)


def empty_layer(t: Path, field_name: str = "mineral") -> Path:
    import geopandas as gpd

    path = t / "empty.gpkg"
    gpd.GeoDataFrame({field_name: []}, geometry=[], crs=H.UTM).to_file(path, driver="GPKG")
    return path


def far_points(t: Path) -> Path:
    pts, names = H.label_points()
    from shapely.affinity import translate

    return H.write_vector(t / "far.gpkg", [translate(p, 50_000, 0) for p in pts], {"mineral": names})


# id -> (build, pattern). Patterns name the problem the user must fix.
CASES: dict[str, tuple[Build, str]] = {
    # ---- classify: the model file
    "classify/model-missing": (lambda b, t: classify_argv(b, t, model=t / "nope.safetensors"),
                               r"does not exist"),
    "classify/model-zero-byte": (lambda b, t: classify_argv(b, t, model=H.zero_byte(t / "m.safetensors")),
                                 r"empty|truncated|not a .*model"),
    "classify/model-truncated": (lambda b, t: classify_argv(
        b, t, model=H.truncated_copy(b.student, t / "m.safetensors", 0.5)), r"truncated|damaged"),
    "classify/model-garbage": (lambda b, t: classify_argv(b, t, model=H.garbage(t / "m.safetensors")),
                               r"not a|damaged|truncated"),
    "classify/model-is-a-raster": (lambda b, t: classify_argv(b, t, model=b.rgb),
                                   r"not a|model file|safetensors"),
    "classify/model-absurd-shape": (lambda b, t: classify_argv(b, t, model=absurd_model(b, t)),
                                    r"shape|truncated"),
    "classify/student-as-teacher": (lambda b, t: classify_argv(
        b, t, extra=["--model-kind", "teacher"]), r"student model, but a teacher"),
    # ---- classify: the rasters
    "classify/rgb-missing": (lambda b, t: classify_argv(b, t, rgb=t / "nope.tif"), r"does not exist"),
    "classify/rgb-zero-byte": (lambda b, t: classify_argv(b, t, rgb=H.zero_byte(t / "z.tif")),
                               r"z\.tif"),
    "classify/rgb-truncated": (lambda b, t: classify_argv(
        b, t, rgb=H.truncated_copy(b.rgb, t / "cut.tif", 600)), r"cut\.tif"),
    "classify/rgb-truncated-late": (lambda b, t: classify_argv(
        b, t, rgb=H.truncated_copy(H.write_rgb(t / "big.tif", 160, 160), t / "cut.tif", 0.7)),
        r"cut\.tif.*(damaged|truncated)"),
    "classify/rgb-garbage": (lambda b, t: classify_argv(b, t, rgb=H.garbage(t / "g.tif")), r"g\.tif"),
    "classify/rgb-is-a-model": (lambda b, t: classify_argv(b, t, rgb=b.student), r"student\.safetensors"),
    "classify/rgb-is-a-geopackage": (lambda b, t: classify_argv(b, t, rgb=b.labels), r"labels\.gpkg"),
    "classify/rgb-no-crs": (lambda b, t: classify_argv(b, t, rgb=no_crs_rgb(t)),
                            r"no coordinate reference system"),
    "classify/rgb-1-band": (lambda b, t: classify_argv(b, t, rgb=H.write_rgb(t / "one.tif", bands=1)),
                            r"3 bands.*has 1"),
    "classify/rgb-4-bands": (lambda b, t: classify_argv(b, t, rgb=H.write_rgb(t / "four.tif", bands=4)),
                             r"3 bands.*has 4"),
    "classify/hsi-far-away": (lambda b, t: classify_argv(b, t, teacher=True) + [
        "--hsi", H.write_hsi(t / "far.tif", origin=(H.ORIGIN[0] + 10_000, H.ORIGIN[1]))],
        r"does not overlap"),
    "classify/hsi-without-wavelengths": (lambda b, t: classify_argv(b, t, teacher=True) + [
        "--hsi", H.write_hsi(t / "nowl.tif", wavelengths=False)], r"wavelength"),
    "classify/teacher-without-hsi": (lambda b, t: classify_argv(b, t, model=b.teacher) + [
        "--dem", b.dem], r"HSI|hyperspectral"),
    "classify/mask-corrupted": (lambda b, t: classify_argv(
        b, t, extra=["--mask", H.corrupted_gpkg(b.sites, t / "bad.gpkg")]), r"bad\.gpkg"),
    "classify/mask-zero-byte": (lambda b, t: classify_argv(
        b, t, extra=["--mask", H.zero_byte(t / "zero.gpkg")]), r"zero\.gpkg"),
    # ---- classify: parameters and outputs
    "classify/tile-size-zero": (lambda b, t: classify_argv(b, t, extra=["--tile-size", "0"]),
                                r"tile size"),
    "classify/overlap-too-big": (lambda b, t: classify_argv(b, t, extra=["--overlap", "20"]),
                                 r"overlap"),
    "classify/batch-size-zero": (lambda b, t: classify_argv(b, t, extra=["--batch-size", "0"]),
                                 r"batch"),
    "classify/output-is-a-folder": (lambda b, t: classify_argv(b, t) + [
        "--output-confidence", (t / "out" / "adir").mkdir(parents=True) or t / "out" / "adir"],
        r"is a folder"),
    "classify/output-overwrites-input": (lambda b, t: classify_argv(b, t, rgb=H.write_rgb(
        t / "out" / "mine.tif"))[:-2] + ["--output-probabilities", t / "out" / "mine.tif"],
        r"input|same"),
    # ---- evaluate
    "evaluate/classes-missing": (lambda b, t: evaluate_argv(b, t, classes=t / "nope.tif"),
                                 r"does not exist"),
    "evaluate/classes-zero-byte": (lambda b, t: evaluate_argv(b, t, classes=H.zero_byte(t / "z.tif")),
                                   r"z\.tif"),
    "evaluate/classes-truncated": (lambda b, t: evaluate_argv(
        b, t, classes=H.truncated_copy(b.classes, t / "cut.tif", 400)), r"cut\.tif"),
    "evaluate/classes-truncated-late": (lambda b, t: evaluate_argv(
        b, t, classes=H.truncated_copy(H.write_classes(t / "big.tif", 160, 160), t / "cut.tif", 0.7)),
        r"cut\.tif"),
    "evaluate/classes-is-a-model": (lambda b, t: evaluate_argv(b, t, classes=b.student),
                                    r"student\.safetensors"),
    "evaluate/classes-without-names": (lambda b, t: evaluate_argv(b, t, classes=H.write_raster(
        t / "plain.tif", H.class_array(48, 48))), r"not in the class list"),
    "evaluate/reference-zero-byte": (lambda b, t: evaluate_argv(
        b, t, reference=H.zero_byte(t / "zero.gpkg")), r"zero\.gpkg"),
    "evaluate/reference-corrupted": (lambda b, t: evaluate_argv(
        b, t, reference=H.corrupted_gpkg(b.labels, t / "bad.gpkg")), r"bad\.gpkg"),
    "evaluate/reference-empty-layer": (lambda b, t: evaluate_argv(b, t, reference=empty_layer(t)),
                                       r"no (features|labels)|empty"),
    "evaluate/reference-unknown-class": (lambda b, t: evaluate_argv(b, t, reference=H.write_labels(
        t / "unk.gpkg", names=("calcite", "unobtainium", "olivine"))), r"unobtainium"),
    "evaluate/reference-field-missing": (lambda b, t: evaluate_argv(
        b, t, extra=["--reference-field", "rock"]), r"rock"),
    "evaluate/reference-no-crs": (lambda b, t: evaluate_argv(
        b, t, reference=H.write_labels(t / "nocrs.gpkg", crs=None)), r"coordinate reference|CRS"),
    "evaluate/reference-elsewhere": (lambda b, t: evaluate_argv(b, t, reference=far_points(t)),
                                     r"overlap|outside|no label"),
    "evaluate/reference-empty-geometries": (lambda b, t: evaluate_argv(b, t, reference=H.write_vector(
        t / "eg.gpkg", [Polygon_empty()] * 3, {"mineral": list(H.CLASSES)})),
        r"no feature .* has both a geometry"),
    # ---- carbonation
    "carbonation/probabilities-missing": (lambda b, t: carbon_argv(b, t, probabilities=t / "no.tif"),
                                          r"does not exist"),
    "carbonation/probabilities-zero-byte": (lambda b, t: carbon_argv(
        b, t, probabilities=H.zero_byte(t / "z.tif")), r"z\.tif"),
    "carbonation/probabilities-truncated": (lambda b, t: carbon_argv(
        b, t, probabilities=H.truncated_copy(b.probabilities, t / "cut.tif", 500)), r"cut\.tif"),
    "carbonation/probabilities-truncated-late": (lambda b, t: carbon_argv(
        b, t, probabilities=H.truncated_copy(H.write_probabilities(
            t / "big.tif", H.probabilities_array(160, 160)), t / "cut.tif", 0.7)), r"cut\.tif"),
    "carbonation/probabilities-is-a-model": (lambda b, t: carbon_argv(
        b, t, probabilities=b.student), r"student\.safetensors"),
    "carbonation/probabilities-is-a-class-raster": (lambda b, t: carbon_argv(
        b, t, probabilities=b.classes), r"probabilit"),
    "carbonation/probabilities-no-crs": (lambda b, t: carbon_argv(b, t, probabilities=H.write_probabilities(
        t / "nocrs.tif", crs=None)), r"coordinate reference|CRS"),
    "carbonation/coefficients-zero-byte": (lambda b, t: carbon_argv(
        b, t, extra=["--coefficients", H.zero_byte(t / "c.csv")]), r"c\.csv"),
    "carbonation/coefficients-binary": (lambda b, t: carbon_argv(
        b, t, extra=["--coefficients", H.garbage(t / "c.csv")]), r"c\.csv|UTF-8"),
    "carbonation/scale-nan": (lambda b, t: carbon_argv(b, t, extra=["--scale", "nan"]), r"scale"),
    "carbonation/scale-negative": (lambda b, t: carbon_argv(b, t, extra=["--scale", "-3"]), r"scale"),
    "carbonation/sites-zero-byte": (lambda b, t: carbon_argv(b, t, sites=H.zero_byte(t / "z.gpkg")),
                                    r"z\.gpkg"),
    "carbonation/sites-corrupted": (lambda b, t: carbon_argv(
        b, t, sites=H.corrupted_gpkg(b.sites, t / "bad.gpkg")), r"bad\.gpkg"),
    "carbonation/sites-empty-layer": (lambda b, t: carbon_argv(b, t, sites=empty_layer(t, "site_id")),
                                      r"no (features|sites|polygons)|empty"),
    "carbonation/sites-no-crs": (lambda b, t: carbon_argv(b, t, sites=H.write_vector(
        t / "nocrs.gpkg", [H.site_box(10, 10, 100)], {"site_id": ["a"]}, crs=None)),
        r"coordinate reference|CRS"),
    "carbonation/sites-is-a-raster": (lambda b, t: carbon_argv(b, t, sites=b.rgb), r"rgb\.tif"),
    "carbonation/sites-id-field-missing": (lambda b, t: carbon_argv(
        b, t, extra=["--site-id-field", "plot"]), r"plot"),
    "carbonation/output-overwrites-input": (lambda b, t: carbon_argv(
        b, t, probabilities=H.write_probabilities(t / "out" / "mine.tif"))[:-6] + [
        "--output-rate", t / "out" / "mine.tif"], r"input|same"),
    # ---- trainteacher (refused before any training)
    "trainteacher/rgb-garbage": (lambda b, t: teacher_argv(b, t, rgb=H.garbage(t / "g.tif")), r"g\.tif"),
    "trainteacher/rgb-no-crs": (lambda b, t: teacher_argv(b, t, rgb=no_crs_rgb(t)),
                                r"coordinate reference|CRS"),
    "trainteacher/rgb-is-a-model": (lambda b, t: teacher_argv(b, t, rgb=b.student),
                                    r"student\.safetensors"),
    "trainteacher/hsi-far-away": (lambda b, t: teacher_argv(b, t, hsi=H.write_hsi(
        t / "far.tif", origin=(H.ORIGIN[0] + 10_000, H.ORIGIN[1]))), r"overlap"),
    "trainteacher/hsi-without-wavelengths": (lambda b, t: teacher_argv(
        b, t, hsi=H.write_hsi(t / "nowl.tif", wavelengths=False)), r"wavelength"),
    "trainteacher/labels-zero-byte": (lambda b, t: teacher_argv(b, t, labels=H.zero_byte(t / "z.gpkg")),
                                      r"z\.gpkg"),
    "trainteacher/labels-corrupted": (lambda b, t: teacher_argv(
        b, t, labels=H.corrupted_gpkg(b.labels, t / "bad.gpkg")), r"bad\.gpkg"),
    "trainteacher/labels-empty-layer": (lambda b, t: teacher_argv(b, t, labels=empty_layer(t)),
                                        r"no (features|labels)|empty"),
    "trainteacher/labels-field-missing": (lambda b, t: teacher_argv(
        b, t, extra=["--label-field", "rock"]), r"rock"),
    "trainteacher/labels-elsewhere": (lambda b, t: teacher_argv(b, t, labels=far_points(t)),
                                      r"overlap|outside|no label"),
    "trainteacher/labels-no-crs": (lambda b, t: teacher_argv(b, t, labels=H.write_labels(
        t / "nocrs.gpkg", crs=None)), r"coordinate reference|CRS"),
    "trainteacher/labels-one-class": (lambda b, t: teacher_argv(b, t, labels=H.write_labels(
        t / "one.gpkg", names=("calcite",) * 3)), r"class"),
    "trainteacher/epochs-zero": (lambda b, t: teacher_argv(b, t, extra=["--epochs", "0"]), r"epoch"),
    # ---- distillstudent
    "distillstudent/teacher-is-a-student": (lambda b, t: distil_argv(b, t, teacher=b.student),
                                            r"student model, but a teacher"),
    "distillstudent/teacher-zero-byte": (lambda b, t: distil_argv(
        b, t, teacher=H.zero_byte(t / "t.safetensors")), r"empty|truncated|not a"),
    "distillstudent/teacher-is-a-raster": (lambda b, t: distil_argv(b, t, teacher=b.rgb),
                                           r"not a|model file|safetensors"),
    "distillstudent/rgb-garbage": (lambda b, t: distil_argv(b, t, rgb=H.garbage(t / "g.tif")), r"g\.tif"),
    "distillstudent/hsi-without-wavelengths": (lambda b, t: distil_argv(
        b, t, hsi=H.write_hsi(t / "nowl.tif", wavelengths=False)), r"wavelength"),
    "distillstudent/labels-corrupted": (lambda b, t: distil_argv(
        b, t, labels=H.corrupted_gpkg(b.labels, t / "bad.gpkg")), r"bad\.gpkg"),
    "distillstudent/labels-unknown-class": (lambda b, t: distil_argv(b, t, labels=H.write_labels(
        t / "unk.gpkg", names=("calcite", "unobtainium", "olivine"))), r"unobtainium"),
    # ---- simulate
    "simulate/unknown-preset": (lambda b, t: simulate_argv(b, t)[:2] + ["venus"]
                                + simulate_argv(b, t)[3:], r"venus"),
    "simulate/size-zero": (lambda b, t: simulate_argv(b, t, "--size-px", "0"), r"size"),
    "simulate/size-huge": (lambda b, t: simulate_argv(b, t, "--size-px", "2000000"),
                           r"size|memory|large"),
    "simulate/gsd-negative": (lambda b, t: simulate_argv(b, t, "--rgb-gsd-m", "-1"), r"GSD"),
    "simulate/gsd-nan": (lambda b, t: simulate_argv(b, t, "--dem-gsd-m", "nan"), r"GSD"),
    "simulate/hsi-bands-zero": (lambda b, t: simulate_argv(b, t, "--hsi-bands", "0"), r"band"),
    "simulate/hsi-crs-invalid": (lambda b, t: simulate_argv(b, t, "--hsi-crs", "EPSG:999999"),
                                 r"EPSG:999999"),
    "simulate/output-dir-is-a-file": (lambda b, t: simulate_argv(b, t)[:-1] + [
        H.zero_byte(t / "out" / "afile")], r"afile|folder"),
    # ---- enginecheck
    "enginecheck/iterations-zero": (lambda b, t: ["enginecheck", "--iterations", "0", "--output",
                                                  t / "out" / "e.json"], r"iteration"),
    "enginecheck/tile-size-huge": (lambda b, t: ["enginecheck", "--tile-size", "1000000",
                                                 "--output", t / "out" / "e.json"], r"tile"),
    "enginecheck/output-wrong-extension": (lambda b, t: ["enginecheck", "--iterations", "1",
                                                         "--tile-size", "16",
                                                         "--output", t / "out" / "e.txt"],
                                           r"\.json|\.html"),
}


def Polygon_empty():  # noqa: N802 - reads like the shapely constructor it wraps
    from shapely.geometry import Polygon

    return Polygon()


# Known bugs in modules whose owners are still changing them: the failing case stays as a
# strict xfail (it turns red when fixed, so the mark gets removed).
XFAIL: dict[str, str] = {
    "classify/output-overwrites-input": "classify replaces an input given as an output "
    "(classify/ is being changed by its owner; atomic.refuse_inputs_as_outputs is the fix)",
}


def _params():
    for case_id, (build, pattern) in CASES.items():
        marks = [pytest.mark.xfail(reason=XFAIL[case_id], strict=True)] if case_id in XFAIL else []
        yield pytest.param(build, pattern, id=case_id, marks=marks)


@pytest.mark.parametrize(("build", "pattern"), _params())
def test_hostile_input_is_refused_cleanly(base: Base, tmp_path: Path, build: Build,
                                         pattern: str) -> None:
    argv = build(base, tmp_path)
    out = tmp_path / "out"
    # Inputs: the shared valid ones and whatever this case wrote (outside the output folder,
    # except for the 'overwrites input' cases, whose input lives there on purpose).
    inputs = [base.folder] + [p for p in tmp_path.iterdir() if p.name != "out"]
    pre_existing = set(H.leftovers([out]))
    before = H.file_hashes(inputs + [Path(p) for p in pre_existing])
    outcome = H.run_cli(argv)
    new_files = sorted(set(H.leftovers([out])) - pre_existing)
    H.assert_refused(outcome, pattern, out_dirs=[], before=before)
    assert new_files == [], f"left behind: {new_files}"
    for p in pre_existing:
        assert Path(p).exists(), f"{p} was removed"
