"""Model file: round trip, card strictness, and every refusal (missing, empty, truncated, pickle...)."""

from __future__ import annotations

import json
import pickle
import struct
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cmkd_plugin.engine.atomic import partial_files
from cmkd_plugin.engine.errors import InputError, ModelFileError
from cmkd_plugin.engine.models.card import (
    FORMAT_VERSION,
    CardError,
    ClassCard,
    ModalityCard,
    ModelCard,
    Provenance,
)
from cmkd_plugin.engine.models.config import DEM_CHANNELS, ModalitySpec, StudentConfig, TeacherConfig
from cmkd_plugin.engine.models.fileformat import CARD_METADATA_KEY, read_card
from cmkd_plugin.engine.models.modelfile import load_model, save_model
from cmkd_plugin.engine.models.student import Student
from cmkd_plugin.engine.models.teacher import Teacher, TeacherEnsemble
from cmkd_plugin.engine.paths import plugin_version

HSI_BANDS = 12
CLASSES = (ClassCard("calcite", "#1f77b4"), ClassCard("serpentine", "#2ca02c"), ClassCard("olivine", "#d62728"))


# One torch thread: other jobs share the 2 cores, and one is then faster and steadier.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def teacher_config() -> TeacherConfig:
    return TeacherConfig(
        n_classes=3,
        modalities=(ModalitySpec("rgb", 3), ModalitySpec("hsi", HSI_BANDS), ModalitySpec("dem", 3)),
        encoder_width=8,
        encoder_depth=1,
        embed_dim=32,
        classifier_hidden=16,
    )


def student_config() -> StudentConfig:
    return StudentConfig(n_classes=3, encoder_width=8, encoder_depth=1, embed_dim=32, classifier_hidden=16)


def rgb_card() -> ModalityCard:
    return ModalityCard("rgb", ("red", "green", "blue"), (0.1, 0.2, 0.3), (0.05, 0.06, 0.07), (650.0, 550.0, 450.0))


def hsi_card(bands: int = HSI_BANDS) -> ModalityCard:
    wl = tuple(400.0 + 2100.0 * i / (bands - 1) for i in range(bands))
    return ModalityCard("hsi", tuple(f"{w:.1f} nm" for w in wl), (0.2,) * bands, (0.1,) * bands, wl, (10.0,) * bands)


def dem_card() -> ModalityCard:
    return ModalityCard("dem", DEM_CHANNELS, (350.0, 12.0, 0.6), (40.0, 8.0, 0.2))


def make_card(kind: str, config, **overrides) -> ModelCard:
    mods = (rgb_card(), hsi_card(), dem_card()) if kind == "teacher" else (rgb_card(),)
    fields = dict(
        kind=kind,
        architecture=config,
        modalities=mods,
        classes=CLASSES,
        tile_size_px=128,
        tile_overlap_px=16,
        pixel_size_m=2.0,
        training={"epochs": 3, "seed": 42, "temperature_start": 4.0},
        metrics={"oa": 0.93, "kappa": 0.9, "per_class_f1": [0.9, 0.95, 0.88]},
        provenance=Provenance.now({"scene": "simulator preset basalt, seed 7"}),
    )
    fields.update(overrides)
    return ModelCard(**fields)


@pytest.fixture
def teacher_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    teacher = Teacher(teacher_config())
    return save_model(tmp_path / "teacher.safetensors", teacher, make_card("teacher", teacher.config))


@pytest.fixture
def student_file(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    student = Student(student_config())
    return save_model(tmp_path / "student.safetensors", student, make_card("student", student.config))


# ---------------------------------------------------------------- round trip


def test_round_trip_gives_identical_outputs_and_card(tmp_path: Path) -> None:
    torch.manual_seed(3)
    teacher = Teacher(teacher_config()).eval()
    student = Student(student_config()).eval()
    x = {
        "rgb": torch.randn(2, 3, 9, 11),
        "hsi": torch.randn(2, HSI_BANDS, 9, 11),
        "dem": torch.randn(2, 3, 9, 11),
    }
    x["hsi"][0, :, 2:5, 3] = float("nan")
    for model, kind in ((teacher, "teacher"), (student, "student")):
        card = make_card(kind, model.config)
        path = save_model(tmp_path / f"{kind}.safetensors", model, card)
        loaded, loaded_card = load_model(path, expect_kind=kind)
        assert type(loaded) is type(model) and not loaded.training
        assert loaded_card == card and read_card(path) == card
        a, b = model(x), loaded(x)
        assert torch.equal(a.logits, b.logits) and torch.equal(a.features, b.features) and a.used == b.used
        # a different model gives different outputs, so equality above is meaningful
        other = type(model)(model.config).eval()
        assert not torch.equal(other(x).logits, a.logits)
    assert partial_files(tmp_path / "teacher.safetensors") == []
    assert read_card(tmp_path / "teacher.safetensors").provenance.plugin_version == plugin_version()


def test_teacher_ensemble_round_trip_and_files_without_members(tmp_path: Path, teacher_file: Path) -> None:
    torch.manual_seed(4)
    ensemble = TeacherEnsemble(replace(teacher_config(), members=3)).eval()
    path = save_model(tmp_path / "ensemble.safetensors", ensemble, make_card("teacher", ensemble.config))
    loaded, card = load_model(path, expect_kind="teacher")
    assert type(loaded) is TeacherEnsemble and card.architecture.members == 3
    x = {"rgb": torch.randn(1, 3, 6, 7), "hsi": torch.randn(1, HSI_BANDS, 6, 7), "dem": torch.randn(1, 3, 6, 7)}
    assert torch.equal(ensemble(x).logits, loaded(x).logits)
    # Cards written before ensembles existed have no 'members': a single teacher, as they were.
    old = _rewrite(teacher_file, tmp_path / "old.safetensors", lambda c: c["architecture"].pop("members"))
    single, card = load_model(old)
    assert type(single) is Teacher and card.architecture.members == 1
    # A card claiming more members than the file holds is refused, naming a missing tensor.
    lying = _rewrite(teacher_file, tmp_path / "lying.safetensors", lambda c: c["architecture"].update(members=2))
    with pytest.raises(ModelFileError, match="missing members.0"):
        load_model(lying)


def test_overwrite_is_atomic_and_keeps_old_file_on_failure(tmp_path: Path, teacher_file: Path) -> None:
    before = teacher_file.read_bytes()
    teacher = Teacher(teacher_config())
    with pytest.raises(ValueError, match="architecture differs"):
        save_model(teacher_file, Student(student_config()), make_card("teacher", teacher.config))
    assert teacher_file.read_bytes() == before and partial_files(teacher_file) == []
    (tmp_path / "folder.safetensors").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        save_model(tmp_path / "folder.safetensors", teacher, make_card("teacher", teacher.config))


# ---------------------------------------------------------------- refusals


def test_missing_empty_and_truncated_files(tmp_path: Path, teacher_file: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.safetensors")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="is empty"):
        load_model(empty)
    data = teacher_file.read_bytes()
    for cut, what in ((5, "truncated"), (40, "truncated"), (len(data) - 100, "truncated")):
        part = tmp_path / f"cut{cut}.safetensors"
        part.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=what):
            load_model(part)


def test_file_that_is_not_safetensors(tmp_path: Path) -> None:
    text = tmp_path / "notes.safetensors"
    text.write_text("these are not weights, just a text file with some words in it\n")
    with pytest.raises(ModelFileError, match="not a safetensors model file"):
        load_model(text)


def test_malicious_pickle_is_refused_without_running_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"

    class Evil:
        def __init__(self, target: Path) -> None:
            self.target = target

        def __reduce__(self):  # unpickling calls open(target, "w"): creates the marker file
            return (open, (str(self.target), "w"))

    # Control: this payload really does run code when unpickled.
    control = tmp_path / "control.txt"
    pickle.loads(pickle.dumps(Evil(control))).close()
    assert control.exists()

    raw = tmp_path / "evil.safetensors"
    raw.write_bytes(pickle.dumps({"state_dict": Evil(marker)}))
    zipped = tmp_path / "evil.pt"
    torch.save({"state_dict": Evil(marker)}, zipped)  # torch's zip checkpoint format
    for path in (raw, zipped):
        with pytest.raises(ModelFileError, match="pickled PyTorch checkpoint"):
            load_model(path)
        with pytest.raises(ModelFileError, match="pickled"):
            read_card(path)
    assert not marker.exists()


def test_wrong_kind_is_refused_with_a_hint(teacher_file: Path, student_file: Path) -> None:
    with pytest.raises(ModelFileError, match="is a teacher model, but a student model is needed.*cmkd:distillstudent"):
        load_model(teacher_file, expect_kind="student")
    with pytest.raises(ModelFileError, match="is a student model, but a teacher model is needed"):
        load_model(student_file, expect_kind="teacher")
    assert load_model(teacher_file)[1].kind == "teacher"


def _rewrite(path: Path, out: Path, edit_card=None, edit_tensors=None) -> Path:
    """Write a copy of a model file with its card JSON and/or tensors edited."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    card = json.loads(meta[CARD_METADATA_KEY])
    if edit_card:
        edit_card(card)
    if edit_tensors:
        edit_tensors(tensors)
    meta[CARD_METADATA_KEY] = json.dumps(card)
    save_file(tensors, str(out), metadata=meta)
    return out


def test_unknown_format_version(tmp_path: Path, student_file: Path) -> None:
    newer = _rewrite(student_file, tmp_path / "v99.safetensors", lambda c: c.update(format_version=FORMAT_VERSION + 98))
    with pytest.raises(ModelFileError, match="format 99.*update the plugin"):
        load_model(newer)
    bad = _rewrite(student_file, tmp_path / "v0.safetensors", lambda c: c.update(format_version="1"))
    with pytest.raises(ModelFileError, match="format_version"):
        load_model(bad)


def test_safetensors_without_card(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ModelFileError, match="no CMKD Survey model card"):
        load_model(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(surprise=1), "unknown key"),
        (lambda c: c.pop("classes"), "missing key"),
        (lambda c: c.update(tile_size_px=True), "tile_size_px"),
        (lambda c: c["modalities"][1].update(mean=[0.0] * 5), "band names but 5 means"),
        (lambda c: c["modalities"][1].update(wavelengths_nm=None), "needs band wavelengths"),
        (lambda c: c.update(classes=c["classes"][:2]), "2 classes listed"),
        (lambda c: c["architecture"].update(encoder_width=10**7), "encoder_width"),
        (lambda c: c["architecture"].update(members=0), "members"),
        (lambda c: c.update(kind="oracle"), "kind"),
        (lambda c: c["classes"][0].update(colour="blue"), "colour"),
    ],
)
def test_invalid_cards_are_refused(tmp_path: Path, teacher_file: Path, edit, message: str) -> None:
    path = _rewrite(teacher_file, tmp_path / "edited.safetensors", edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_weights_that_do_not_match_the_card(tmp_path: Path, teacher_file: Path) -> None:
    def shrink(t: dict) -> None:
        t["classifier.net.3.bias"] = torch.zeros(2)

    path = _rewrite(teacher_file, tmp_path / "shape.safetensors", edit_tensors=shrink)
    with pytest.raises(ModelFileError, match="wrong shape for classifier.net.3.bias"):
        load_model(path)
    path = _rewrite(teacher_file, tmp_path / "extra.safetensors", edit_tensors=lambda t: t.update(extra=torch.ones(1)))
    with pytest.raises(ModelFileError, match="unexpected extra"):
        load_model(path)

    def poison(t: dict) -> None:
        t["classifier.net.3.bias"] = torch.tensor([0.0, float("nan"), 0.0])

    with pytest.raises(ModelFileError, match="non-finite"):
        load_model(_rewrite(teacher_file, tmp_path / "nan.safetensors", edit_tensors=poison))


def test_absurd_tensor_shape_refused_before_allocation(tmp_path: Path, student_file: Path) -> None:
    # Hand-made header announcing a 4 TB tensor in a tiny file: refused from the header alone.
    card = read_card(student_file).to_json()
    header = {
        "__metadata__": {CARD_METADATA_KEY: card},
        "classifier.net.3.bias": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(path)
    header["classifier.net.3.bias"] = {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 12]}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
    with pytest.raises(ModelFileError, match="announces shape"):
        load_model(path)
    # and an architecture asking for absurd sizes is refused by the card schema
    huge = _rewrite(student_file, tmp_path / "arch.safetensors", lambda c: c["architecture"].update(embed_dim=10**6))
    with pytest.raises(ModelFileError, match="embed_dim"):
        load_model(huge)


# ---------------------------------------------------------------- card built in code


def test_card_consistency_checks_in_code() -> None:
    cfg = teacher_config()
    card = make_card("teacher", cfg)
    assert ModelCard.from_json(card.to_json()) == card
    assert card.class_names == ("calcite", "serpentine", "olivine") and card.modality("hsi").bands == HSI_BANDS
    with pytest.raises(CardError, match="lists 11 bands but the architecture expects 12"):
        replace(card, modalities=(rgb_card(), hsi_card(11), dem_card()))
    with pytest.raises(CardError, match="needs a StudentConfig"):
        make_card("student", cfg)
    with pytest.raises(CardError, match="needs band wavelengths"):
        ModalityCard("hsi", ("a",), (0.0,), (1.0,))
    with pytest.raises(CardError, match="> 0"):
        ModalityCard("rgb", ("r", "g", "b"), (0.0,) * 3, (1.0, 0.0, 1.0))
    with pytest.raises(CardError, match="unique"):
        replace(card, classes=(CLASSES[0], CLASSES[0], CLASSES[1]))
    with pytest.raises(CardError, match="less than half"):
        replace(card, tile_overlap_px=64)
    with pytest.raises(CardError, match="JSON object"):
        replace(card, metrics={"oa": float("nan")})
