"""ONNX edge export: fp32 equals torch, int8 keeps the classes, the card round-trips as metadata
(with the Deepness keys), foreign or bare ONNX files are refused, classify runs .onnx files, the
report's energy follows from its measured latency. Real simulator scene, real tiny student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio
import torch

from cmkd_plugin.engine import cli
from cmkd_plugin.engine.atomic import PARTIAL_MARK
from cmkd_plugin.engine.classify.config import ClassifyConfig
from cmkd_plugin.engine.classify.inference import Predictor
from cmkd_plugin.engine.classify.pipeline import classify
from cmkd_plugin.engine.edge.export import export_onnx, int8_path_for
from cmkd_plugin.engine.edge.metadata import CARD_KEY, DEEPNESS_KEYS, read_onnx_card, set_metadata
from cmkd_plugin.engine.edge.predictor import OnnxPredictor
from cmkd_plugin.engine.edge.report import EnergyConfig, edge_report, energy_j_per_km2, tiles_per_km2
from cmkd_plugin.engine.errors import InputError, ModelFileError
from cmkd_plugin.engine.models.card import ClassCard, ModalityCard, ModelCard, Provenance
from cmkd_plugin.engine.models.config import StudentConfig
from cmkd_plugin.engine.models.modelfile import save_model
from cmkd_plugin.engine.models.preprocess import band_statistics, normalise
from cmkd_plugin.engine.models.student import Student

CONFIG = ClassifyConfig(tile_size_px=64, overlap_px=16, batch_size=4, device="cpu")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896")


# One torch thread: other jobs share the 2 cores, and one is then faster and steadier.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulator scene (RGB + ground truth), made once for the module."""
    out = tmp_path_factory.mktemp("scene")
    code = cli.main(["simulate", "--preset", "earth_carbonation", "--seed", "3", "--size-px", "256",
                     "--output-dir", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def student(scene: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny RGB student fitted for a few seconds to the scene's truth (decisive classes, so
    int8 agreement measures quantisation, not coin flips between near-equal random logits)."""
    with rasterio.open(scene / "rgb.tif") as ds:
        rgb = ds.read().astype(np.float32) / 255.0
    with rasterio.open(scene / "truth.tif") as ds:
        truth = ds.read(1).astype(np.int64)
    k = int(truth.max()) + 1
    mean, std = band_statistics(rgb)
    torch.manual_seed(0)
    model = Student(StudentConfig(n_classes=k, encoder_width=12, encoder_depth=2, embed_dim=16,
                                  classifier_hidden=16))
    x = torch.from_numpy(normalise(rgb, mean, std))[None]
    y = torch.from_numpy(truth)[None]
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model({"rgb": x}).logits, y)
        loss.backward()
        opt.step()
    model.eval()
    card = ModelCard(kind="student", architecture=model.config,
                     modalities=(ModalityCard("rgb", ("red", "green", "blue"), mean, std),),
                     classes=tuple(ClassCard(f"class_{i}", PALETTE[i % len(PALETTE)])
                                   for i in range(k)),
                     tile_size_px=64, tile_overlap_px=16, provenance=Provenance.now(),
                     pixel_size_m=0.25)
    return save_model(tmp_path_factory.mktemp("model") / "student.cmkd", model, card)


@pytest.fixture(scope="module")
def exported(student: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    result = export_onnx(student, tmp_path_factory.mktemp("onnx") / "student.onnx", quantize=True)
    assert result.int8_path == int8_path_for(result.onnx_path)
    return result.onnx_path, result.int8_path  # type: ignore[return-value]


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def test_fp32_onnx_matches_torch_within_1e4_including_nodata(scene: Path, student: Path,
                                                               exported: tuple[Path, Path]) -> None:
    from cmkd_plugin.engine.models.modelfile import load_model

    net, card = load_model(student)
    with rasterio.open(scene / "rgb.tif") as ds:
        rgb = ds.read().astype(np.float32) / 255.0
    tiles = [{"rgb": rgb[:, r:r + 96, c:c + 80].copy()} for r, c in ((0, 0), (100, 150), (160, 40))]
    tiles[1]["rgb"][:, 10:30, 5:25] = np.nan  # nodata inside a tile: zeroed, then masked
    torch_p, torch_v = Predictor(net, card, torch.device("cpu")).predict(tiles)
    onnx_p, onnx_v = OnnxPredictor(exported[0], card).predict(tiles)
    assert onnx_p.shape == torch_p.shape == (3, card.architecture.n_classes, 96, 80)
    np.testing.assert_array_equal(onnx_v, torch_v)
    assert not onnx_v[1, 10:30, 5:25].any() and onnx_v[0].all()
    assert np.abs(onnx_p - torch_p)[np.broadcast_to(onnx_v[:, None], onnx_p.shape)].max() < 1e-4


def test_classify_runs_onnx_fp32_and_int8_on_the_simulator_scene(
        scene: Path, student: Path, exported: tuple[Path, Path], tmp_path: Path) -> None:
    runs = {}
    for name, model in (("torch", student), ("fp32", exported[0]), ("int8", exported[1])):
        classify(model, scene / "rgb.tif", output_classes=tmp_path / f"{name}_c.tif",
                 output_probabilities=tmp_path / f"{name}_p.tif", config=CONFIG)
        runs[name] = (read(tmp_path / f"{name}_c.tif")[0], read(tmp_path / f"{name}_p.tif"))
    classes, probs = runs["torch"]
    valid = classes != 255
    assert valid.all()
    assert np.abs(runs["fp32"][1] - probs).max() < 1e-4
    # Classes may differ from torch only where two classes are tied within the 1e-4 tolerance.
    top2 = np.sort(probs, axis=0)[-2:]
    decisive = (top2[1] - top2[0]) > 2e-4
    np.testing.assert_array_equal(runs["fp32"][0][decisive], classes[decisive])
    agreement = float((runs["int8"][0] == classes).mean())
    # The 99 % is checked with the trained bundled students below; this tiny 12-class
    # test student (60 training steps, small softmax margins) keeps less, so its floor is lower
    # and a regression in the quantiser still fails.
    assert agreement >= 0.98, agreement
    # The fitted student is decisive (so the agreement above is not trivially from ties) and
    # int8 is not bit-identical (so it really is the quantised graph that ran).
    assert decisive.mean() > 0.95
    assert np.abs(runs["int8"][1] - probs).max() > 1e-6


def test_card_and_deepness_keys_round_trip(student: Path, exported: tuple[Path, Path]) -> None:
    from cmkd_plugin.engine.models.modelfile import load_model

    _net, card = load_model(student)
    for path, precision in ((exported[0], "fp32"), (exported[1], "int8")):
        back, meta = read_onnx_card(path)
        assert back == card
        assert meta["cmkd_precision"] == precision
        assert set(DEEPNESS_KEYS) <= set(meta)
        assert json.loads(meta["model_type"]) == "Segmentor"
        names = json.loads(meta["class_names"])
        assert [names[str(i)] for i in range(len(names))] == list(card.class_names)
        assert json.loads(meta["resolution"]) == pytest.approx(card.pixel_size_m * 100)
        assert json.loads(meta["tile_size"]) == card.tile_size_px
        assert json.loads(meta["tiles_overlap"]) == round(100 * card.tile_overlap_px / card.tile_size_px)
        assert json.loads(meta["standardization_mean"]) == pytest.approx(card.modalities[0].mean)
        assert json.loads(meta["standardization_std"]) == pytest.approx(card.modalities[0].std)
    # It really is quantised: integer convolutions with int8 weights, where the fp32 graph has the
    # classifier's hidden layer; encoder, projection and logits stay fp32 on purpose.
    # (File size is not compared: for a 3 k-parameter model the graph outweighs the weights.)
    fp32_convs = [n.name for n in onnx.load(str(exported[0])).graph.node if n.op_type == "Conv"]
    hidden = [n for n in fp32_convs[:-1] if "/classifier/" in n]
    assert hidden, fp32_convs
    ops = [n.op_type for n in onnx.load(str(exported[1])).graph.node]
    assert ops.count("ConvInteger") == len(hidden)
    assert ops.count("Conv") == len(fp32_convs) - len(hidden)
    assert any(t.data_type == onnx.TensorProto.INT8 for t in onnx.load(str(exported[1])).graph.initializer)


def test_not_onnx_or_no_metadata_is_a_clear_error(student: Path, exported: tuple[Path, Path],
                                                  scene: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n" * 10)
    renamed = tmp_path / "student_renamed.onnx"
    renamed.write_bytes(student.read_bytes())
    for path in (text, renamed):
        with pytest.raises(ModelFileError, match="is not an ONNX model"):
            read_onnx_card(path)
    bare = tmp_path / "bare.onnx"
    proto = onnx.load(str(exported[0]))
    set_metadata(proto, {k: v for k, v in ((e.key, e.value) for e in proto.metadata_props)
                         if k != CARD_KEY})
    onnx.save(proto, str(bare))
    with pytest.raises(ModelFileError, match="without CMKD Survey metadata.*cmkd:exportedge"):
        read_onnx_card(bare)
    with pytest.raises(ModelFileError, match="does not exist"):
        read_onnx_card(tmp_path / "missing.onnx")
    out = tmp_path / "out"
    for path in (text, bare):
        with pytest.raises(ModelFileError):
            classify(path, scene / "rgb.tif", output_classes=out / "c.tif", config=CONFIG)
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ModelFileError, match="student model, but a teacher"):
        classify(exported[0], scene / "rgb.tif", output_classes=out / "c.tif", config=CONFIG,
                 expect_kind="teacher")


def test_export_refuses_a_non_onnx_output_before_work(student: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"must end in \.onnx"):
        export_onnx(student, tmp_path / "model.bin")
    assert list(tmp_path.iterdir()) == []


def test_report_energy_follows_from_measured_latency(student: Path,
                                                     exported: tuple[Path, Path]) -> None:
    energy = EnergyConfig(device_power_w=7.5, gsd_m=0.2)
    report = edge_report(student, exported[0], exported[1], energy, repeats=1, tile_px=128)
    assert report.parameters == sum(p.numel() for p in Student(
        StudentConfig(n_classes=report.classes, encoder_width=12, encoder_depth=2, embed_dim=16,
                      classifier_hidden=16)).parameters())
    assert report.flops_per_pixel > 2 * report.parameters * 0.5  # every weight used per pixel
    assert report.fp32_size_bytes == exported[0].stat().st_size
    assert report.int8_size_bytes == exported[1].stat().st_size
    # Card overlap 16 of 64 px -> 25 %, i.e. 32 px of a 128 px report tile.
    assert report.stride_px == 96
    assert report.tiles_per_km2 == pytest.approx(1e6 / (96 * 0.2) ** 2, rel=1e-6)
    for ms, joules in ((report.fp32_latency_ms_per_tile, report.fp32_energy_j_per_km2),
                       (report.int8_latency_ms_per_tile, report.int8_energy_j_per_km2)):
        assert ms is not None and ms > 0
        assert joules == pytest.approx(energy_j_per_km2(ms / 1000, energy, 96), rel=1e-2)
    assert energy_j_per_km2(0.1, EnergyConfig(10.0, 0.1), 500) == pytest.approx(
        10.0 * 0.1 * tiles_per_km2(0.1, 500))
    with pytest.raises(InputError, match="Device power"):
        EnergyConfig(device_power_w=0.0)


def test_exportedge_command_line(student: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "edge" / "m.onnx"
    code = cli.main(["exportedge", "--model", str(student), "--output-onnx", str(out),
                     "--quantize", "--device-power-w", "5", "--gsd-m", "0.5", "--repeats", "1",
                     "--tile-px", "128",
                     "--output-report", str(tmp_path / "edge" / "report.json")])
    assert code == 0
    outputs = json.loads(capsys.readouterr().out)
    assert outputs["OUTPUT_ONNX"] == str(out) and out.is_file()
    assert outputs["OUTPUT_INT8"] == str(tmp_path / "edge" / "m.int8.onnx")
    report = json.loads((tmp_path / "edge" / "report.json").read_text())
    assert report["device_power_w"] == 5.0 and report["gsd_m"] == 0.5 and report["tile_px"] == 128
    assert report["fp32_latency_ms_per_tile"] == outputs["FP32_LATENCY_MS"] > 0
    assert not list((tmp_path / "edge").glob(f"*{PARTIAL_MARK}*"))
    code = cli.main(["exportedge", "--model", str(tmp_path / "nope.cmkd"), "--output-onnx",
                     str(tmp_path / "x.onnx")])
    assert code == 2
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("members", [1, 2])
def test_teacher_exports_and_matches_torch_where_every_modality_is_valid(tmp_path: Path,
                                                                         members: int) -> None:
    from cmkd_plugin.engine.models.config import DEM_CHANNELS, ModalitySpec, TeacherConfig
    from cmkd_plugin.engine.models.modelfile import load_model
    from cmkd_plugin.engine.models.teacher import make_teacher

    torch.manual_seed(3)
    config = TeacherConfig(n_classes=3, modalities=(ModalitySpec("rgb", 3), ModalitySpec("dem", 3)),
                           encoder_width=8, encoder_depth=1, embed_dim=16, n_heads=2,
                           classifier_hidden=8, members=members)
    card = ModelCard(kind="teacher", architecture=config,
                     modalities=(ModalityCard("rgb", ("red", "green", "blue"), (0.5,) * 3, (0.25,) * 3),
                                 ModalityCard("dem", DEM_CHANNELS, (300.0, 10.0, 0.6), (30.0, 5.0, 0.2))),
                     classes=(ClassCard("a", "#111111"), ClassCard("b", "#222222"),
                              ClassCard("c", "#333333")),
                     tile_size_px=32, tile_overlap_px=8, provenance=Provenance.now())
    model_file = save_model(tmp_path / "teacher.cmkd", make_teacher(config), card)
    result = export_onnx(model_file, tmp_path / "teacher.onnx")
    assert read_onnx_card(result.onnx_path)[0] == card
    rng = np.random.default_rng(1)
    tiles = [{"rgb": rng.random((3, 40, 48), dtype=np.float32),
              "dem": np.stack([300 + 20 * rng.random((40, 48)), 10 * rng.random((40, 48)),
                               rng.random((40, 48))]).astype(np.float32)} for _ in range(2)]
    tiles[0]["dem"][:, :8, :8] = np.nan  # the exported teacher is exact only where all are valid
    net, _ = load_model(model_file)
    torch_p, torch_v = Predictor(net, card, torch.device("cpu")).predict(tiles)
    onnx_p, onnx_v = OnnxPredictor(result.onnx_path, card).predict(tiles)
    assert torch_v[0, :8, :8].all() and not onnx_v[0, :8, :8].any()
    assert (onnx_v <= torch_v).all() and onnx_v.sum() == torch_v.sum() - 64
    assert np.abs(onnx_p - torch_p)[np.broadcast_to(onnx_v[:, None], onnx_p.shape)].max() < 1e-4
    with pytest.raises(ModelFileError, match="needs rgb, dem; dem is missing"):
        OnnxPredictor(result.onnx_path, card).predict([{"rgb": tiles[0]["rgb"]}])


def test_a_missing_onnx_package_says_how_to_install_it() -> None:
    from cmkd_plugin.engine.edge.metadata import require
    from cmkd_plugin.engine.errors import EngineSetupError

    assert require("onnx") is onnx
    with pytest.raises(EngineSetupError, match="'onnxruntime_missing_pkg' package.*Set up engine"):
        require("onnxruntime_missing_pkg.quantization")


@pytest.mark.parametrize("preset", ["earth_carbonation", "mars_analogue"])
def test_int8_keeps_99_percent_of_the_bundled_students_classes_on_a_simulator_scene(
        preset: str, tmp_path: Path) -> None:
    """The issue's acceptance: int8 class agreement >= 99 % on a simulator scene, measured with the
    trained students users get (resources/models), through classify end to end."""
    student = Path(__file__).resolve().parents[2] / "resources" / "models" / f"{preset}_student.cmkd"
    scene = tmp_path / "scene"
    assert cli.main(["simulate", "--preset", preset, "--seed", "11", "--size-px", "192",
                     "--output-dir", str(scene)]) == 0
    exported = export_onnx(student, tmp_path / "student.onnx", quantize=True)
    classes = {}
    for name, model in (("torch", student), ("int8", exported.int8_path)):
        classify(model, scene / "rgb.tif", output_classes=tmp_path / f"{name}.tif", config=CONFIG)
        classes[name] = read(tmp_path / f"{name}.tif")[0]
    valid = classes["torch"] != 255
    assert valid.mean() > 0.9
    assert len(np.unique(classes["torch"][valid])) >= 4  # a real map, not one class everywhere
    agreement = float((classes["int8"] == classes["torch"])[valid].mean())
    assert agreement >= 0.99, agreement
