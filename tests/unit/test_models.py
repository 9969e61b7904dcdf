"""Teacher and student: shapes, missing modalities, input errors, size, and real tiny training."""

from __future__ import annotations

from itertools import combinations

import pytest
import torch

from cmkd_plugin.engine.errors import InputError
from cmkd_plugin.engine.models.config import (
    ConfigError,
    ModalitySpec,
    StudentConfig,
    TeacherConfig,
)
from cmkd_plugin.engine.models.losses import distillation_loss, masked_cross_entropy
from cmkd_plugin.engine.models.student import Student, make_multispectral_student, make_student
from cmkd_plugin.engine.models.teacher import Teacher, TeacherEnsemble, make_teacher

K = 3
HSI_BANDS = 16
SIZE = 16
MODS = ("rgb", "hsi", "dem")


# One torch thread: other jobs share the 2 cores, and one is then faster and steadier.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_teacher_config(**overrides) -> TeacherConfig:
    kwargs = dict(
        n_classes=K,
        modalities=(ModalitySpec("rgb", 3), ModalitySpec("hsi", HSI_BANDS), ModalitySpec("dem", 3)),
        encoder_width=16,
        encoder_depth=1,
        embed_dim=64,
        classifier_hidden=32,
    )
    kwargs.update(overrides)
    return TeacherConfig(**kwargs)


def random_inputs(batch: int = 2, size: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.randn(batch, 3, size, size, generator=g),
        "hsi": torch.randn(batch, HSI_BANDS, size, size, generator=g),
        "dem": torch.randn(batch, 3, size, size, generator=g),
    }


# ---------------------------------------------------------------- teacher structure


@pytest.mark.parametrize("subset", [c for r in (1, 2, 3) for c in combinations(MODS, r)])
def test_teacher_works_with_any_subset_and_says_which(subset: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    teacher = Teacher(small_teacher_config()).eval()
    x = random_inputs()
    out = teacher({k: x[k] for k in subset})
    assert out.logits.shape == (2, K, 8, 8)
    assert out.features.shape == (2, 64, 8, 8)
    assert out.used == subset
    assert bool(out.valid.all()) and bool(torch.isfinite(out.logits).all())
    # passing None is the same as leaving the modality out
    with_none = teacher({k: (x[k] if k in subset else None) for k in MODS})
    assert torch.equal(with_none.logits, out.logits)


def test_default_teacher_follows_the_design() -> None:
    cfg = TeacherConfig(n_classes=5)
    assert cfg.modality_names == ("rgb", "hsi", "dem") and cfg.bands_of("hsi") == 224
    teacher = Teacher(cfg).eval()
    assert teacher.attention.n_heads == 8
    proj = teacher.projections["hsi"].net
    assert [type(m).__name__ for m in proj] == ["Linear", "LayerNorm", "GELU", "Linear"]
    assert proj[-1].out_features == 256
    head = teacher.classifier.net
    assert (head[0].in_channels, head[0].out_channels, head[3].out_channels) == (256, 128, 5)
    assert head[2].p == 0.3
    x = {"rgb": torch.randn(1, 3, 5, 7), "hsi": torch.randn(1, 224, 5, 7), "dem": torch.randn(1, 3, 5, 7)}
    out = teacher(x)
    assert out.logits.shape == (1, 5, 5, 7) and out.features.shape == (1, 256, 5, 7)


def test_pixel_missing_a_modality_is_predicted_from_the_others_exactly() -> None:
    torch.manual_seed(1)
    teacher = Teacher(small_teacher_config()).eval()
    x = random_inputs(batch=1)
    x["rgb"][0, :, 3, 4] = float("nan")  # RGB nodata at one pixel only
    out = teacher(x)
    without_rgb = teacher({"hsi": x["hsi"], "dem": x["dem"]})
    assert torch.allclose(out.features[0, :, 3, 4], without_rgb.features[0, :, 3, 4], atol=1e-5)
    assert torch.allclose(out.logits[0, :, 3, 4], without_rgb.logits[0, :, 3, 4], atol=1e-5)
    # elsewhere RGB does contribute
    assert not torch.allclose(out.features[0, :, 0, 0], without_rgb.features[0, :, 0, 0], atol=1e-3)
    assert out.used == MODS and bool(out.valid.all())


def test_pixel_without_any_input_is_marked_invalid() -> None:
    teacher = Teacher(small_teacher_config()).eval()
    x = random_inputs(batch=1)
    for name in MODS:
        x[name][0, :, 2, 2] = float("nan")
    x["hsi"][0, 0, 5, 5] = float("nan")  # one bad band makes the HSI pixel unusable
    out = teacher(x)
    assert not bool(out.valid[0, 2, 2]) and int(out.valid.sum()) == 63
    assert torch.equal(out.features[0, :, 2, 2], torch.zeros(64))
    assert bool(torch.isfinite(out.logits).all()) and bool(torch.isfinite(out.features).all())
    only_hsi = teacher({"hsi": x["hsi"]})
    assert not bool(only_hsi.valid[0, 5, 5]) and not bool(only_hsi.valid[0, 2, 2])
    all_nan = teacher({"hsi": torch.full((1, HSI_BANDS, 4, 4), float("nan"))})
    assert all_nan.used == () and not bool(all_nan.valid.any())


def test_modality_dropout_hides_whole_modalities_in_training_only() -> None:
    torch.manual_seed(2)
    teacher = Teacher(small_teacher_config())
    x = random_inputs(batch=1, size=4)
    teacher.train()
    seen = {teacher(x, modality_dropout=0.7).used for _ in range(40)}
    assert () not in seen  # at least one modality is always kept
    assert any(len(s) == 1 for s in seen) and any(len(s) >= 2 for s in seen)
    teacher.eval()
    assert {teacher(x, modality_dropout=0.7).used for _ in range(5)} == {MODS}
    a, b = teacher(x), teacher(x)
    assert torch.equal(a.logits, b.logits)  # eval mode is deterministic (no dropout)
    with pytest.raises(ValueError):
        teacher(x, modality_dropout=1.0)


def test_teacher_ensemble_averages_its_members_probabilities_and_features() -> None:
    torch.manual_seed(0)
    ensemble = make_teacher(small_teacher_config(members=3)).eval()
    assert isinstance(ensemble, TeacherEnsemble) and len(ensemble.members) == 3
    x = random_inputs()
    for name in MODS:  # one pixel without any input, one with HSI only
        x[name][0, :, 1, 1] = float("nan")
    x["rgb"][1, :, 2, 3] = float("nan")
    x["dem"][1, :, 2, 3] = float("nan")
    with torch.no_grad():
        out = ensemble(x, modality_dropout=0.5)  # ignored in eval mode
        members = [m(x) for m in ensemble.members]
    mean_probs = torch.stack([torch.softmax(m.logits, dim=1) for m in members]).mean(dim=0)
    assert torch.allclose(torch.softmax(out.logits, dim=1), mean_probs, atol=1e-6)
    assert torch.allclose(out.features, torch.stack([m.features for m in members]).mean(dim=0))
    assert not out.valid[0, 1, 1] and out.valid[1, 2, 3] and out.used == MODS
    # the members differ, so the mean is not any one of them
    assert not torch.allclose(members[0].logits, members[1].logits)
    hsi_only = ensemble({"hsi": x["hsi"]})
    assert hsi_only.used == ("hsi",) and hsi_only.logits.shape == out.logits.shape
    with pytest.raises(ValueError, match="one member"):
        Teacher(small_teacher_config(members=2))
    with pytest.raises(ValueError, match="at least two"):
        TeacherEnsemble(small_teacher_config())
    with pytest.raises(ValueError, match="expected 2 teachers"):
        TeacherEnsemble(small_teacher_config(members=2), [Teacher(small_teacher_config())])
    assert type(make_teacher(small_teacher_config())) is Teacher


def test_input_errors_say_what_to_fix() -> None:
    teacher = Teacher(small_teacher_config()).eval()
    x = random_inputs()
    with pytest.raises(InputError, match="has 10 bands but the model was trained on 16"):
        teacher({"hsi": torch.randn(2, 10, 8, 8)})
    with pytest.raises(InputError, match="Unknown input modality 'HSI'"):
        teacher({"rgb": x["rgb"], "HSI": x["hsi"]})
    # a known modality the model does not take is ignored (one batch dict feeds teacher and student)
    assert teacher({"rgb": x["rgb"], "ms": torch.randn(2, 8, 8, 8)}).used == ("rgb",)
    with pytest.raises(InputError, match="align all rasters"):
        teacher({"rgb": x["rgb"], "hsi": torch.randn(2, HSI_BANDS, 8, 9)})
    with pytest.raises(InputError, match="at least one of"):
        teacher({"rgb": None})
    student = make_student(K)
    with pytest.raises(InputError, match="rgb is missing"):
        student({"hsi": x["hsi"]})
    assert student(x).used == ("rgb",)


def test_configs_refuse_bad_values() -> None:
    with pytest.raises(ConfigError, match="multiple of 'n_heads'"):
        TeacherConfig(n_classes=3, embed_dim=100)
    with pytest.raises(ConfigError, match="n_classes"):
        StudentConfig(n_classes=1)
    with pytest.raises(ConfigError, match="unknown modality"):
        ModalitySpec("lidar", 1)
    with pytest.raises(ConfigError, match="bands"):
        ModalitySpec("hsi", 10**9)
    cfg = small_teacher_config()
    assert TeacherConfig.from_dict(cfg.to_dict()) == cfg
    bad = cfg.to_dict() | {"surprise": 1}
    with pytest.raises(ConfigError, match="unknown architecture field"):
        TeacherConfig.from_dict(bad)
    for members in (0, 17):
        with pytest.raises(ConfigError, match="'members' must be between 1 and 16"):
            small_teacher_config(members=members)
    # 'members' is the only field a card may lack (older files); a student has no such field
    no_width = {k: v for k, v in cfg.to_dict().items() if k != "encoder_width"}
    with pytest.raises(ConfigError, match="missing architecture field"):
        TeacherConfig.from_dict(no_width)
    with pytest.raises(ConfigError, match="unknown architecture field"):
        StudentConfig.from_dict(StudentConfig(n_classes=3).to_dict() | {"members": 2})


# ---------------------------------------------------------------- student


def test_student_has_tens_of_thousands_of_parameters() -> None:
    for k in (2, 6, 12):
        student = make_student(k)
        n = sum(p.numel() for p in student.parameters())
        w = 32
        # 1x1 conv 3->32, two 3x3 convs 32->32, projection 32->256, classifier 256->128->K
        analytic = (3 * w + w) + 2 * (9 * w * w + w) + (w * 256 + 256) + (256 * 128 + 128) + (128 * k + k)
        assert n == analytic
        assert 10_000 <= n < 100_000
    teacher_n = sum(p.numel() for p in Teacher(TeacherConfig(n_classes=6)).parameters())
    assert teacher_n > 5 * sum(p.numel() for p in make_student(6).parameters())


def test_student_forward_matches_teacher_signature_and_space() -> None:
    student = make_student(K, embed_dim=64).eval()
    x = random_inputs()
    x["rgb"][1, 2, 0, 0] = float("nan")
    out = student({"rgb": x["rgb"]})
    assert out.logits.shape == (2, K, 8, 8) and out.features.shape == (2, 64, 8, 8)
    assert out.used == ("rgb",) and not bool(out.valid[1, 0, 0]) and int(out.valid.sum()) == 127
    assert bool(torch.isfinite(out.logits).all())
    teacher_out = Teacher(small_teacher_config()).eval()(x)
    assert teacher_out.features.shape == out.features.shape  # ready for feature distillation


def test_multispectral_student_for_the_progressive_chain() -> None:
    ms = make_multispectral_student(K, bands=8, embed_dim=64)
    assert ms.config.modality_names == ("ms",) and ms.config.in_channels == 8
    out = ms({"ms": torch.randn(1, 8, 6, 6)})
    assert out.logits.shape == (1, K, 6, 6) and out.used == ("ms",)
    two = Student(StudentConfig(n_classes=K, modalities=(ModalitySpec("rgb", 3), ModalitySpec("ms", 8))))
    assert two({"rgb": torch.randn(1, 3, 4, 4), "ms": torch.randn(1, 8, 4, 4)}).used == ("rgb", "ms")


# ---------------------------------------------------------------- tiny real training

# Classes have distinct HSI spectra (strongly separable) but RGB means that differ by only
# 0.35 noise standard deviations, and the DEM is pure noise: the teacher should learn from HSI,
# an RGB model can only do somewhat better than chance.
_G = torch.Generator().manual_seed(1234)
SPECTRA = torch.randn(K, HSI_BANDS, generator=_G)
RGB_MEANS = torch.tensor([[0.0, 0.0, 0.0], [0.35, 0.0, 0.0], [0.0, 0.35, 0.0]])


def synthetic_scene(n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``n`` 16x16 images of 4x4-pixel class blocks, with their labels."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, K, (n, SIZE // 4, SIZE // 4), generator=g)
    labels = blocks.repeat_interleave(4, 1).repeat_interleave(4, 2)
    hsi = SPECTRA[labels].permute(0, 3, 1, 2) + 0.5 * torch.randn(n, HSI_BANDS, SIZE, SIZE, generator=g)
    rgb = RGB_MEANS[labels].permute(0, 3, 1, 2) + torch.randn(n, 3, SIZE, SIZE, generator=g)
    dem = torch.randn(n, 3, SIZE, SIZE, generator=g)
    return {"rgb": rgb, "hsi": hsi, "dem": dem}, labels


def accuracy(model: torch.nn.Module, x: dict[str, torch.Tensor], y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model.eval()(x).logits.argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def trained_teacher() -> Teacher:
    torch.manual_seed(0)
    teacher = Teacher(small_teacher_config())
    x, y = synthetic_scene(64, seed=1)
    opt = torch.optim.Adam(teacher.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(7)
    teacher.train()
    for _ in range(50):
        idx = torch.randint(0, 64, (8,), generator=g)
        out = teacher({k: v[idx] for k, v in x.items()}, modality_dropout=0.3)
        loss = masked_cross_entropy(out.logits, y[idx], out.valid)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return teacher.eval()


def test_teacher_trained_50_steps_beats_chance_on_unseen_scene(trained_teacher: Teacher) -> None:
    x, y = synthetic_scene(16, seed=99)  # a scene never used in training
    untrained = Teacher(small_teacher_config())
    chance = 1.0 / K
    assert accuracy(untrained, x, y) < 0.6
    assert accuracy(trained_teacher, x, y) > 0.9
    # thanks to modality dropout it also works with HSI alone; RGB alone is weak by construction
    assert accuracy(trained_teacher, {"hsi": x["hsi"]}, y) > 0.9
    assert accuracy(trained_teacher, {"rgb": x["rgb"]}, y) < 0.7
    assert accuracy(trained_teacher, {"rgb": x["rgb"]}, y) > chance - 0.05


def test_student_distilled_50_steps_beats_chance_on_unseen_scene(trained_teacher: Teacher) -> None:
    torch.manual_seed(1)
    student = make_student(K, encoder_width=16, embed_dim=64)
    x, _labels_never_used = synthetic_scene(64, seed=1)
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(8)
    for _ in range(50):
        idx = torch.randint(0, 64, (8,), generator=g)
        batch = {k: v[idx] for k, v in x.items()}
        with torch.no_grad():
            t_out = trained_teacher(batch)
        s_out = student.train()({"rgb": batch["rgb"]})
        losses = distillation_loss(
            s_out.logits, t_out.logits, s_out.features, t_out.features, s_out.valid & t_out.valid,
            temperature=2.0, feature_weight=0.5,
        )
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
    xt, yt = synthetic_scene(16, seed=99)
    acc = accuracy(student, {"rgb": xt["rgb"]}, yt)
    # 4096 test pixels: chance is 1/3 +- 0.01, so 0.45 is far outside luck
    assert acc > 0.45, acc


def test_predict_gives_probabilities_with_nodata_as_nan() -> None:
    from cmkd_plugin.engine.models.inference import predict

    teacher = Teacher(small_teacher_config())  # left in training mode on purpose
    x = random_inputs(batch=1)
    for name in MODS:
        x[name][0, :, 1, 1] = float("nan")
    pred = predict(teacher, x)
    assert teacher.training  # mode restored
    assert pred.probabilities.shape == (1, K, 8, 8) and pred.used == MODS
    assert torch.isnan(pred.probabilities[0, :, 1, 1]).all() and int(pred.classes[0, 1, 1]) == -1
    ok = pred.valid
    sums = pred.probabilities.sum(dim=1)[ok]
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    teacher.eval()
    with torch.no_grad():
        logits = teacher(x).logits
    assert torch.equal(pred.classes[ok], logits.argmax(1)[ok])
