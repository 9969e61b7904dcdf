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
from typing import Callable

import numpy as np
import pytest
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile as H  # noqa: E402


# One torch thread: other jobs share the 2 cores, and one is then faster and steadier.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    "classify/dem-3-bands": (lambda b, t: classify_argv(b, t, teacher=True) + [
        "--dem", H.write_rgb(t / "dem3.tif", 24, 24, dtype="float32", pixel_m=2.0)], r"dem3\.tif"),
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
    "carbonation/probabilities-negative": (lambda b, t: carbon_argv(b, t, probabilities=H.write_probabilities(
        t / "neg.tif", -H.probabilities_array(20, 20))), r"outside 0\.\.1"),
    "carbonation/probabilities-above-one": (lambda b, t: carbon_argv(b, t, probabilities=H.write_probabilities(
        t / "big.tif", 250 * H.probabilities_array(20, 20))), r"outside 0\.\.1"),
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
XFAIL: dict[str, str] = {}


def _params():
    for case_id, (build, pattern) in CASES.items():
        marks = [pytest.mark.xfail(reason=XFAIL[case_id], strict=True)] if case_id in XFAIL else []
        yield pytest.param(build, pattern, id=case_id, marks=marks)


@pytest.mark.parametrize(("build", "pattern"), list(_params()))
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


# ------------------------------------------------------------------ read-only and full disks


def _folder_cases(b: Base, o: Path) -> dict[str, list]:
    return {
        "classify": ["classify", "--model", b.student, "--rgb", H.write_rgb(b.folder / "rgb256.tif", 256, 256)
                     if not (b.folder / "rgb256.tif").exists() else b.folder / "rgb256.tif",
                     "--tile-size", "64", "--overlap", "8", "--output-classes", o / "c.tif",
                     "--output-probabilities", o / "p.tif"],
        "evaluate": evaluate_argv(b, o.parent)[:-1] + [o / "report.html"],
        "carbonation": ["carbonation", "--probabilities", b.probabilities, "--output-rate", o / "r.tif",
                        "--output-uncertainty", o / "u.tif"],
        "simulate": simulate_argv(b, o.parent)[:-1] + [o],
        "enginecheck": ["enginecheck", "--iterations", "1", "--tile-size", "16", "--output", o / "e.html"],
        "trainteacher": teacher_argv(b, o.parent)[:-4] + ["--output-model", o / "t.safetensors",
                                                         "--output-report", o / "t.html"],
        "distillstudent": distil_argv(b, o.parent)[:-4] + ["--output-model", o / "s.safetensors",
                                                          "--output-report", o / "s.html"],
    }


FOLDER_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("command", ["classify", "evaluate", "carbonation", "simulate", "enginecheck",
                                     "trainteacher", "distillstudent"])
def test_read_only_output_folder_is_refused_before_work(base: Base, tmp_path: Path,
                                                        command: str) -> None:
    with H.tiny_filesystem(tmp_path / "ro", read_only=True) as out:
        argv = _folder_cases(base, out)[command]
        before = H.file_hashes([base.folder])
        outcome = H.run_cli(argv)
        H.assert_refused(outcome, r"Cannot write to the output folder .*read-only file system",
                         out_dirs=[out], before=before)


@pytest.mark.parametrize("command", [
    pytest.param(c, marks=[pytest.mark.xfail(reason=FOLDER_XFAIL[c], strict=True)] if c in FOLDER_XFAIL else [])
    for c in ("classify", "evaluate", "carbonation", "simulate", "enginecheck")])
def test_full_disk_fails_with_a_message_and_leaves_nothing(base: Base, tmp_path: Path,
                                                         command: str) -> None:
    argv = None
    with H.tiny_filesystem(tmp_path / "full", size="64k", fill=True) as out:
        argv = _folder_cases(base, out)[command]
        before = H.file_hashes([base.folder, out])
        outcome = H.run_cli(argv)
        err = outcome.error
        assert outcome.code == 2 and err is not None and err.kind == "resources", outcome.describe()
        assert "disk is full" in err.message
        assert [p for p in H.leftovers([out]) if not p.endswith("filler.bin")] == []
        assert H.file_hashes([base.folder, out]) == before


# ------------------------------------------------------------------ odd but valid inputs


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32"])
def test_rgb_of_any_common_dtype_is_classified(base: Base, tmp_path: Path, dtype: str) -> None:
    rgb = H.write_rgb(tmp_path / f"rgb_{dtype}.tif", 40, 56, dtype=dtype)
    outcome = H.run_cli(classify_argv(base, tmp_path, rgb=rgb))
    assert outcome.code == 0, outcome.describe()
    classes = _read(tmp_path / "out" / "c.tif")
    assert classes.shape == (1, 40, 56)
    assert set(np.unique(classes)) <= {0, 1, 2}


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 70), (90, 3), (7, 33)])
def test_tiny_and_non_square_rasters_keep_their_shape(base: Base, tmp_path: Path, h: int, w: int) -> None:
    rgb = H.write_rgb(tmp_path / "odd.tif", h, w)
    outcome = H.run_cli(classify_argv(base, tmp_path, rgb=rgb))
    assert outcome.code == 0, outcome.describe()
    assert outcome.result["PIXELS"] == h * w
    assert _read(tmp_path / "out" / "c.tif").shape == (1, h, w)
    probs = _read(tmp_path / "out" / "p.tif")
    assert probs.shape == (3, h, w) and np.allclose(probs.sum(axis=0), 1.0, atol=1e-4)


def test_infinite_pixels_become_nodata_and_the_rest_is_classified(base: Base, tmp_path: Path) -> None:
    data = H.rgb_array(48, 48, dtype="float32")
    data[:, ::3] = np.inf
    outcome = H.run_cli(classify_argv(base, tmp_path, rgb=H.write_raster(tmp_path / "inf.tif", data)))
    assert outcome.code == 0, outcome.describe()
    classes = _read(tmp_path / "out" / "c.tif")[0]
    assert (classes[::3] == 255).all()
    rest = np.delete(classes, np.s_[::3], axis=0)
    assert set(np.unique(rest)) <= {0, 1, 2}
    assert np.isfinite(_read(tmp_path / "out" / "p.tif")).all(axis=0).sum() == rest.size


@pytest.mark.parametrize("mask", ["alpha", "internal"])
def test_orthomosaic_borders_masked_by_alpha_or_internal_mask_are_nodata(base: Base, tmp_path: Path,
                                                                         mask: str) -> None:
    # An RGBA orthomosaic, or one with an internal mask, black where nothing was flown.
    from rasterio.enums import ColorInterp

    data = H.rgb_array(48, 48)
    hidden = np.zeros((48, 48), bool)
    hidden[:, :12] = hidden[40:] = True
    data[:, hidden] = 0
    alpha = np.where(hidden, 0, 255).astype("uint8")
    if mask == "alpha":
        rgb = H.write_raster(tmp_path / "rgba.tif", np.concatenate([data, alpha[None]]))
        with rasterio.open(rgb, "r+") as ds:
            ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    else:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            rgb = H.write_raster(tmp_path / "masked.tif", data)
            with rasterio.open(rgb, "r+") as ds:
                ds.write_mask(alpha)
    outcome = H.run_cli(classify_argv(base, tmp_path, rgb=rgb))
    assert outcome.code == 0, outcome.describe()
    classes = _read(tmp_path / "out" / "c.tif")[0]
    np.testing.assert_array_equal(classes == 255, hidden)


@pytest.mark.parametrize("kind", ["all-nan", "all-nodata"])
def test_raster_without_valid_pixels_gives_nodata_outputs_and_a_warning(base: Base, tmp_path: Path,
                                                                        kind: str) -> None:
    if kind == "all-nan":
        rgb = H.write_raster(tmp_path / "nan.tif", np.full((3, 40, 40), np.nan, "float32"))
    else:
        rgb = H.write_raster(tmp_path / "nd.tif", np.zeros((3, 40, 40), "uint8"), nodata=0)
    outcome = H.run_cli(classify_argv(base, tmp_path, rgb=rgb))
    assert outcome.code == 0, outcome.describe()
    assert any("all nodata" in m.message for m in outcome.messages if m.type == "warning")
    assert (_read(tmp_path / "out" / "c.tif") == 255).all()


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_probabilities_without_valid_pixels_warn(base: Base, tmp_path: Path, value: float) -> None:
    probs = H.write_probabilities(tmp_path / "p.tif", np.full((3, 20, 20), value, "float32"))
    outcome = H.run_cli(["carbonation", "--probabilities", probs, "--output-rate", tmp_path / "out" / "r.tif"])
    assert outcome.code == 0, outcome.describe()
    assert any("No pixel" in m.message and "valid probabilities" in m.message
               for m in outcome.messages if m.type == "warning"), outcome.describe()
    assert np.isnan(_read(tmp_path / "out" / "r.tif")).all()


def test_invalid_and_empty_site_geometries_are_repaired_or_reported(base: Base, tmp_path: Path) -> None:
    from shapely.geometry import Polygon

    sites = H.write_vector(tmp_path / "s.gpkg", [H.bowtie(H.ORIGIN[0] + 10, H.ORIGIN[1] - 10, 100),
                                                  Polygon()], {"site_id": ["bow", "void"]})
    outcome = H.run_cli(carbon_argv(base, tmp_path, sites=sites))
    assert outcome.code == 0, outcome.describe()
    warnings = " ".join(m.message for m in outcome.messages if m.type == "warning")
    assert "Repaired 1 invalid site geometry" in warnings and "bow" in warnings
    assert "void" in warnings and "empty geometry" in warnings
    import geopandas as gpd

    table = gpd.read_file(tmp_path / "out" / "s.gpkg").set_index("site_id")
    assert table.loc["bow", "status"] == "ok" and table.loc["bow", "total_t_co2_yr"] > 0
    assert table.loc["void", "status"] == "empty_geometry"


@pytest.mark.parametrize("folder", ["with spaces/and more", f"{H.JAPANESE_FOLDER}/区域 1"])
def test_paths_with_spaces_and_japanese_names_work_end_to_end(base: Base, tmp_path: Path,
                                                            folder: str) -> None:
    d = tmp_path / folder
    rgb = H.write_rgb(d / "画像 rgb.tif")
    labels = H.write_labels(d / "ラベル.gpkg")
    model = H.write_student(d / "モデル.safetensors")
    out = d / "出力"
    r1 = H.run_cli(classify_argv(base, tmp_path, model=model, rgb=rgb)[:-4] + [
        "--output-classes", out / "分類.tif", "--output-probabilities", out / "確率.tif"])
    assert r1.code == 0, r1.describe()
    assert r1.result["OUTPUT_CLASSES"] == str(out / "分類.tif")
    r2 = H.run_cli(["evaluate", "--classes", out / "分類.tif", "--reference", labels,
                    "--output-report", out / "評価.html"])
    assert r2.code == 0, r2.describe()
    assert 0.0 <= r2.result["OA"] <= 1.0 and Path(r2.result["OUTPUT_REPORT"]).is_file()
    r3 = H.run_cli(["carbonation", "--probabilities", out / "確率.tif", "--output-rate", out / "炭酸化.tif"])
    assert r3.code == 0, r3.describe()
    assert np.isfinite(_read(out / "炭酸化.tif")).any()


def test_malicious_pickle_given_as_model_never_runs(base: Base, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bomb = H.pickle_bomb(tmp_path / "model.pt", marker)
    for argv in (classify_argv(base, tmp_path, model=bomb), distil_argv(base, tmp_path, teacher=bomb)):
        outcome = H.run_cli(argv)
        H.assert_refused(outcome, r"pickle|not a .*model|safetensors", out_dirs=[tmp_path / "out"],
                         before=H.file_hashes([bomb]))
    assert not marker.exists()


def test_hsi_band_order_is_matched_by_wavelength(base: Base, tmp_path: Path) -> None:
    # The same cube with its bands (and their wavelength tags) in reverse order: same map.
    with rasterio.open(base.hsi) as src:
        cube, profile = src.read(), src.profile
        tags = [src.tags(i) for i in range(1, src.count + 1)]
    reversed_hsi = tmp_path / "reversed.tif"
    with rasterio.open(reversed_hsi, "w", **profile) as dst:
        dst.write(cube[::-1])
        for i, tag in enumerate(tags[::-1], start=1):
            dst.update_tags(i, **tag)
    maps = []
    for name, hsi in (("a", base.hsi), ("b", reversed_hsi)):
        argv = classify_argv(base, tmp_path / name, teacher=True)
        argv[argv.index("--hsi") + 1] = hsi
        outcome = H.run_cli(argv)
        assert outcome.code == 0, outcome.describe()
        maps.append(_read(tmp_path / name / "out" / "p.tif"))
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-6)


def test_invalid_reference_polygons_are_repaired_with_a_warning(base: Base, tmp_path: Path) -> None:
    reference = H.write_vector(tmp_path / "bow.gpkg", [H.bowtie(H.ORIGIN[0] + 2, H.ORIGIN[1] - 2, 20),
                                                        H.site_box(25, 25, 10)],
                               {"mineral": ["calcite", "olivine"]})
    outcome = H.run_cli(evaluate_argv(base, tmp_path, reference=reference))
    assert outcome.code == 0, outcome.describe()
    assert any("invalid geometry" in m.message and "repaired" in m.message
               for m in outcome.messages if m.type == "warning")
    assert 0.0 <= outcome.result["OA"] <= 1.0
