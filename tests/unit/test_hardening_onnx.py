"""Untrusted ONNX models (classify runs exported ``.onnx`` files through onnxruntime): external-data
paths that escape the model's folder (relative ``..`` or absolute) are refused with a model error
before any inference, as are garbage and truncated ``.onnx`` files and an ONNX file given as a
raster; nothing is written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hostile as H  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("onnx")
    student = H.write_student(d / "models" / "student.safetensors")
    onnx_path = d / "models" / "student.onnx"
    outcome = H.run_cli(["exportedge", "--model", student, "--output-onnx", onnx_path, "--repeats", "1"])
    assert outcome.code == 0, outcome.describe()
    return {"onnx": onnx_path, "rgb": H.write_rgb(d / "rgb.tif"), "folder": d}


def _with_external_weight(src: Path, dst: Path, location: str) -> Path:
    """A copy of ``src`` whose largest initializer points at external data ``location``."""
    from onnx.external_data_helper import set_external_data

    model = onnx.load(str(src))
    init = max(model.graph.initializer, key=lambda i: len(i.raw_data))
    size = len(init.raw_data)
    set_external_data(init, location=location, offset=0, length=size)
    init.data_location = onnx.TensorProto.EXTERNAL
    init.ClearField("raw_data")
    onnx.save(model, str(dst))
    return dst


def _classify(model: Path, rgb: Path, out: Path) -> list:
    return ["classify", "--model", model, "--rgb", rgb, "--tile-size", "32", "--overlap", "8",
            "--output-classes", out / "c.tif", "--output-probabilities", out / "p.tif"]


def test_the_exported_model_itself_classifies(exported: dict[str, Path], tmp_path: Path) -> None:
    outcome = H.run_cli(_classify(exported["onnx"], exported["rgb"], tmp_path / "out"))
    assert outcome.code == 0, outcome.describe()
    assert (tmp_path / "out" / "c.tif").is_file()


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_external_data_outside_the_model_folder_is_refused(exported: dict[str, Path], tmp_path: Path,
                                                          where: str) -> None:
    secret = tmp_path / "secret.bin"  # stands for any file the attacker wants read as weights
    secret.write_bytes(b"\0" * 100_000)
    folder = tmp_path / "models"
    folder.mkdir()
    location = "../secret.bin" if where == "relative" else str(secret)
    evil = _with_external_weight(exported["onnx"], folder / "evil.onnx", location)
    before = H.file_hashes([tmp_path / "models", secret, exported["folder"]])
    outcome = H.run_cli(_classify(evil, exported["rgb"], tmp_path / "out"))
    H.assert_refused(outcome, r"evil\.onnx.*(escapes model directory|Absolute path not allowed)",
                     out_dirs=[tmp_path / "out"], before=before, kinds=("model",))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zero-byte"])
def test_damaged_onnx_files_are_refused(exported: dict[str, Path], tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bad.onnx"
    if damage == "garbage":
        H.garbage(path)
    elif damage == "truncated":
        H.truncated_copy(exported["onnx"], path, 0.5)
    else:
        H.zero_byte(path)
    outcome = H.run_cli(_classify(path, exported["rgb"], tmp_path / "out"))
    H.assert_refused(outcome, r"bad\.onnx", out_dirs=[tmp_path / "out"], before=H.file_hashes([path]),
                     kinds=("model",))


def test_onnx_file_given_as_the_raster_is_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    outcome = H.run_cli(_classify(exported["onnx"], exported["onnx"], tmp_path / "out"))
    H.assert_refused(outcome, r"student\.onnx", out_dirs=[tmp_path / "out"],
                     before=H.file_hashes([exported["onnx"]]))
