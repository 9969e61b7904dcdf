"""Losses against hand-computed values and an independent numpy implementation; masking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cmkd_plugin.engine.models.losses import (
    block_distillation_loss,
    class_balanced_weights,
    distillation_loss,
    masked_cross_entropy,
    soft_cross_entropy,
)
from cmkd_plugin.engine.models.schedule import SCHEDULE_KINDS, temperature_at

LN2 = math.log(2.0)


def _pixels(values: list[list[float]]) -> torch.Tensor:
    """Per-pixel vectors [[c0, c1, ...], ...] -> (1, C, 1, N) tensor."""
    return torch.tensor(values, dtype=torch.float32).T.reshape(1, len(values[0]), 1, len(values))


# ---------------------------------------------------------------- cross-entropy, by hand


def test_cross_entropy_hand_values() -> None:
    # pixel a: logits [0, 0], label 0 -> -log(1/2) = ln 2
    # pixel b: logits [ln 3, 0] -> p = [3/4, 1/4], label 1 -> -log(1/4) = 2 ln 2
    # pixel c: label -1 (unlabelled), pixel d: label 255, pixel e: invalid -> ignored
    logits = _pixels([[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0], [1.0, 2.0], [9.0, -9.0]])
    labels = torch.tensor([[[0, 1, -1, 255, 1]]])
    valid = torch.tensor([[[True, True, True, True, False]]])
    loss = masked_cross_entropy(logits, labels, valid)
    assert loss.item() == pytest.approx((LN2 + 2 * LN2) / 2, rel=1e-6)
    # class weights [1, 3]: (1 * ln2 + 3 * 2 ln2) / (1 + 3) = 7/4 ln 2
    weighted = masked_cross_entropy(logits, labels, valid, torch.tensor([1.0, 3.0]))
    assert weighted.item() == pytest.approx(7 / 4 * LN2, rel=1e-6)


def test_soft_cross_entropy_hand_values_and_one_hot_equals_the_hard_loss() -> None:
    # pixel a: logits [0, 0], target [1/2, 1/2] -> ln 2; pixel b: logits [ln 3, 0] (p = 3/4,
    # 1/4), target [1/4, 3/4] -> -(1/4 ln 3/4 + 3/4 ln 1/4); pixel c: outside the mask, NaN.
    logits = _pixels([[0.0, 0.0], [math.log(3.0), 0.0], [float("nan"), 1.0]])
    targets = _pixels([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]])
    mask = torch.tensor([[[True, True, False]]])
    b = -(0.25 * math.log(0.75) + 0.75 * math.log(0.25))
    assert soft_cross_entropy(logits, targets, mask).item() == pytest.approx((LN2 + b) / 2, rel=1e-6)
    # class weights [1, 3]: sum_k w_k t_k (-log p_k) / sum_k w_k t_k over the pixels
    w = torch.tensor([1.0, 3.0])
    num = (0.5 * LN2 + 1.5 * LN2) + (0.25 * -math.log(0.75) + 2.25 * -math.log(0.25))
    assert soft_cross_entropy(logits, targets, mask, w).item() == pytest.approx(num / 4.5, rel=1e-6)
    logits.requires_grad_(True)
    soft_cross_entropy(logits, targets, mask).backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad[..., 2] == 0).all()
    # one-hot targets: the class-weighted cross-entropy on their labels
    rng = np.random.default_rng(2)
    z = torch.from_numpy(rng.normal(size=(2, 4, 3, 3)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 4, size=(2, 3, 3)))
    onehot = torch.nn.functional.one_hot(labels, 4).permute(0, 3, 1, 2).float()
    valid = torch.from_numpy(rng.random((2, 3, 3)) > 0.3)
    w = torch.tensor([1.0, 2.0, 0.5, 4.0])
    assert soft_cross_entropy(z, onehot, valid, w).item() == pytest.approx(
        masked_cross_entropy(z, labels, valid, w).item(), rel=1e-5)


def _numpy_ce(logits: np.ndarray, labels: np.ndarray, mask: np.ndarray, w: np.ndarray) -> float:
    num = den = 0.0
    b, k, h, wd = logits.shape
    for i in range(b):
        for y in range(h):
            for x in range(wd):
                lab = labels[i, y, x]
                if not mask[i, y, x] or lab in (-1, 255):
                    continue
                z = logits[i, :, y, x].astype(np.float64)
                logp = z - z.max() - math.log(np.exp(z - z.max()).sum())
                num += w[lab] * -logp[lab]
                den += w[lab]
    return num / den


def test_cross_entropy_matches_numpy_on_random_data() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 5, 6, generator=g) * 3
    labels = torch.randint(0, 4, (2, 5, 6), generator=g)
    labels[0, 0, :3] = -1
    labels[1, 2, 2] = 255
    valid = torch.rand(2, 5, 6, generator=g) > 0.3
    w = torch.tensor([0.5, 1.0, 2.0, 4.0])
    got = masked_cross_entropy(logits, labels, valid, w).item()
    want = _numpy_ce(logits.numpy(), labels.numpy(), valid.numpy(), w.numpy())
    assert got == pytest.approx(want, rel=1e-5)


# ---------------------------------------------------------------- distillation, by hand


def test_distillation_components_hand_values() -> None:
    t = 2.0
    # teacher logits [2 ln3, 0] / T = [ln3, 0] -> p_t = [3/4, 1/4]; student [0, 0] -> p_s = [1/2, 1/2]
    kl_a = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    # identical distributions -> KL 0
    teacher_logits = _pixels([[2 * math.log(3.0), 0.0], [1.0, 1.0], [7.0, -3.0]])
    student_logits = _pixels([[0.0, 0.0], [4.0, 4.0], [-8.0, 8.0]])
    # features: cos([1,0],[1,1]) = 1/sqrt2 ; cos([0,1],[0,-1]) = -1
    student_feat = _pixels([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]])
    teacher_feat = _pixels([[1.0, 1.0], [0.0, -1.0], [-1.0, 0.0]])
    valid = torch.tensor([[[True, True, False]]])  # third pixel is nodata
    out = distillation_loss(student_logits, teacher_logits, student_feat, teacher_feat, valid, t, feature_weight=0.5)
    kd = t * t * (kl_a + 0.0) / 2
    feature = ((1 - 1 / math.sqrt(2)) + 2.0) / 2
    assert out["kd"].item() == pytest.approx(kd, rel=1e-5)
    assert out["feature"].item() == pytest.approx(feature, rel=1e-5)
    assert out["ce"].item() == 0.0
    assert out["total"].item() == pytest.approx(kd + 0.5 * feature, rel=1e-5)

    # optional label term: student pixel b has p = [1/2, 1/2] -> CE ln 2 whatever the label
    labels = torch.tensor([[[-1, 1, 0]]])
    with_ce = distillation_loss(
        student_logits, teacher_logits, student_feat, teacher_feat, valid, t,
        feature_weight=0.5, labels=labels, ce_weight=0.25,
    )
    assert with_ce["ce"].item() == pytest.approx(LN2, rel=1e-6)
    assert with_ce["total"].item() == pytest.approx(kd + 0.5 * feature + 0.25 * LN2, rel=1e-5)


def _numpy_kd(s: np.ndarray, t: np.ndarray, mask: np.ndarray, temp: float, pw: np.ndarray | None) -> float:
    def log_softmax(z: np.ndarray) -> np.ndarray:
        z = z / temp
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    lt, ls = log_softmax(t.astype(np.float64)), log_softmax(s.astype(np.float64))
    kl = (np.exp(lt) * (lt - ls)).sum(axis=1) * temp * temp
    w = np.ones_like(kl) if pw is None else pw[t.argmax(axis=1)]
    return float((kl * w)[mask].sum() / w[mask].sum())


def _numpy_cos(s: np.ndarray, t: np.ndarray, mask: np.ndarray) -> float:
    s64, t64 = s.astype(np.float64), t.astype(np.float64)
    cos = (s64 * t64).sum(1) / (np.linalg.norm(s64, axis=1) * np.linalg.norm(t64, axis=1))
    return float((1 - cos)[mask].mean())


def test_distillation_matches_numpy_with_class_balanced_pixel_weights() -> None:
    g = torch.Generator().manual_seed(11)
    s_log, t_log = torch.randn(2, 5, 4, 4, generator=g) * 2, torch.randn(2, 5, 4, 4, generator=g) * 2
    s_f, t_f = torch.randn(2, 8, 4, 4, generator=g), torch.randn(2, 8, 4, 4, generator=g)
    valid = torch.rand(2, 4, 4, generator=g) > 0.25
    pw = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])
    out = distillation_loss(s_log, t_log, s_f, t_f, valid, 3.0, feature_weight=1.0, pixel_class_weights=pw)
    want_kd = _numpy_kd(s_log.numpy(), t_log.numpy(), valid.numpy(), 3.0, pw.numpy())
    assert out["kd"].item() == pytest.approx(want_kd, rel=1e-5)
    plain = distillation_loss(s_log, t_log, s_f, t_f, valid, 3.0, feature_weight=1.0)
    assert plain["kd"].item() == pytest.approx(_numpy_kd(s_log.numpy(), t_log.numpy(), valid.numpy(), 3.0, None), rel=1e-5)
    assert plain["feature"].item() == pytest.approx(_numpy_cos(s_f.numpy(), t_f.numpy(), valid.numpy()), rel=1e-5)
    # the weighting really changes the value (so the test above can tell the two apart)
    assert abs(out["kd"].item() - plain["kd"].item()) > 1e-3


def test_masked_pixels_do_not_change_loss_or_gradients() -> None:
    g = torch.Generator().manual_seed(5)
    s_log = torch.randn(1, 3, 6, 6, generator=g)
    t_log = torch.randn(1, 3, 6, 6, generator=g)
    s_f, t_f = torch.randn(1, 16, 6, 6, generator=g), torch.randn(1, 16, 6, 6, generator=g)
    labels = torch.randint(0, 3, (1, 6, 6), generator=g)
    valid = torch.zeros(1, 6, 6, dtype=torch.bool)
    valid[:, 1:4, 2:5] = True

    def run(sl: torch.Tensor, tl: torch.Tensor, sf: torch.Tensor, tf: torch.Tensor, lab: torch.Tensor):
        sl = sl.clone().requires_grad_(True)
        sf = sf.clone().requires_grad_(True)
        out = distillation_loss(sl, tl, sf, tf, valid, 2.5, 0.5, labels=lab, ce_weight=1.0)
        out["total"].backward()
        return out, sl.grad, sf.grad

    ref, ref_gl, ref_gf = run(s_log, t_log, s_f, t_f, labels)
    garbage = ~valid.unsqueeze(1)
    junk = lambda x: torch.where(garbage, torch.full_like(x, float("nan")), x)  # noqa: E731
    big = lambda x: torch.where(garbage, torch.full_like(x, 1e6), x)  # noqa: E731
    lab2 = torch.where(valid, labels, torch.full_like(labels, 2))
    out, gl, gf = run(junk(s_log), big(t_log), big(s_f), junk(t_f), lab2)
    for key in ("total", "kd", "feature", "ce"):
        assert out[key].item() == pytest.approx(ref[key].item(), rel=1e-6)
    assert torch.isfinite(gl).all() and torch.isfinite(gf).all()
    assert torch.equal(gl[garbage.expand_as(gl)], torch.zeros_like(gl[garbage.expand_as(gl)]))
    assert torch.allclose(gl, ref_gl) and torch.allclose(gf, ref_gf)
    ce_ref = masked_cross_entropy(s_log, labels, valid)
    assert masked_cross_entropy(junk(s_log), lab2, valid).item() == pytest.approx(ce_ref.item(), rel=1e-6)


def test_teacher_receives_no_gradient_and_empty_mask_gives_zero() -> None:
    s = torch.randn(1, 3, 2, 2, requires_grad=True)
    t = torch.randn(1, 3, 2, 2, requires_grad=True)
    sf = torch.randn(1, 4, 2, 2, requires_grad=True)
    tf = torch.randn(1, 4, 2, 2, requires_grad=True)
    out = distillation_loss(s, t, sf, tf, torch.ones(1, 2, 2, dtype=torch.bool), 4.0)
    out["total"].backward()
    assert t.grad is None and tf.grad is None and s.grad is not None and sf.grad is not None
    empty = distillation_loss(s, t, sf, tf, torch.zeros(1, 2, 2, dtype=torch.bool), 4.0)
    assert empty["total"].item() == 0.0
    empty["total"].backward()  # must not raise


def test_distillation_rejects_mismatched_feature_spaces() -> None:
    with pytest.raises(ValueError, match="embed_dim"):
        distillation_loss(
            torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.zeros(1, 8, 2, 2), torch.zeros(1, 4, 2, 2),
            torch.ones(1, 2, 2, dtype=torch.bool), 2.0,
        )


def test_block_distillation_matches_proportions_by_hand() -> None:
    # One 2 x 2 block. Student pixels: two sure of class 0, two sure of class 1 (logits +-20)
    # -> block mean [1/2, 1/2], which is exactly the teacher's [1/2, 1/2]: KL 0, although each
    # student pixel is far from the teacher's mixture (pixel-wise KL = 1/2 ln(1/2) +
    # 1/2 ln(1/2 / e^-40) = 20 - ln 2 per pixel).
    sure = 20.0
    s = torch.tensor([[[sure, sure], [-sure, -sure]], [[-sure, -sure], [sure, sure]]]).unsqueeze(0)
    t = torch.zeros(1, 2, 1, 1)
    sf = torch.tensor([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]]).unsqueeze(0)
    tf = torch.tensor([1.0, 1.0]).reshape(1, 2, 1, 1)  # cos(block mean [1/2, 1/2], [1, 1]) = 1
    valid, t_valid = torch.ones(1, 2, 2, dtype=torch.bool), torch.ones(1, 1, 1, dtype=torch.bool)
    out = block_distillation_loss(s, t, sf, tf, valid, t_valid, 2, 1.0, feature_weight=0.5)
    assert out["kd"].item() == pytest.approx(0.0, abs=1e-6)
    assert out["feature"].item() == pytest.approx(0.0, abs=1e-6)
    pixelwise = distillation_loss(s, t.expand(1, 2, 2, 2), sf, tf.expand(1, 2, 2, 2), valid, 1.0)
    assert pixelwise["kd"].item() == pytest.approx(sure - LN2, rel=1e-4)
    # Teacher [3/4, 1/4] against that student: KL = 3/4 ln(3/2) + 1/4 ln(1/2); at T = 2 the
    # student's pixels soften too but stay symmetric, so the block mean is still [1/2, 1/2].
    t2 = torch.tensor([2 * math.log(3.0), 0.0]).reshape(1, 2, 1, 1)
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    out2 = block_distillation_loss(s, t2, sf, tf, valid, t_valid, 2, 2.0)
    assert out2["kd"].item() == pytest.approx(4.0 * kl, rel=1e-4)
    # An invalid student pixel leaves the block mean to the other three: [2/3, 1/3] (feature
    # mean [2/3, 1/3], cosine with [1, 1] = 3 / sqrt(2 * 5)).
    valid3 = valid.clone()
    valid3[0, 1, 1] = False
    out3 = block_distillation_loss(s, t, sf, tf, valid3, t_valid, 2, 1.0)
    assert out3["kd"].item() == pytest.approx(0.5 * math.log(0.5 / (2 / 3)) + 0.5 * math.log(0.5 / (1 / 3)), rel=1e-4)
    assert out3["feature"].item() == pytest.approx(1 - 3 / math.sqrt(10), rel=1e-4)


def test_block_distillation_at_factor_one_is_the_pixel_loss_and_masks_blocks() -> None:
    g = torch.Generator().manual_seed(3)
    s_log, t_log = torch.randn(2, 4, 4, 4, generator=g), torch.randn(2, 4, 4, 4, generator=g)
    s_f, t_f = torch.randn(2, 6, 4, 4, generator=g), torch.randn(2, 6, 4, 4, generator=g)
    valid = torch.rand(2, 4, 4, generator=g) > 0.3
    pw = torch.tensor([1.0, 2.0, 0.5, 3.0])
    block = block_distillation_loss(s_log, t_log, s_f, t_f, valid, valid, 1, 2.0, 0.5, pixel_class_weights=pw)
    pixel = distillation_loss(s_log, t_log, s_f, t_f, valid, 2.0, 0.5, pixel_class_weights=pw)
    for key in ("total", "kd", "feature"):
        assert block[key].item() == pytest.approx(pixel[key].item(), rel=1e-5)
    # factor 2: a teacher pixel without inputs, or a block with fewer than half of its student
    # pixels valid, adds nothing whatever the values there.
    t2, tf2 = torch.randn(2, 4, 2, 2, generator=g), torch.randn(2, 6, 2, 2, generator=g)
    t_valid = torch.ones(2, 2, 2, dtype=torch.bool)
    t_valid[0, 0, 0] = False
    valid2 = torch.ones(2, 4, 4, dtype=torch.bool)
    valid2[1, 2:, 2:] = torch.tensor([[True, False], [False, False]])
    ref = block_distillation_loss(s_log, t2, s_f, tf2, valid2, t_valid, 2, 1.0)
    t2b, tf2b = t2.clone(), tf2.clone()
    t2b[0, :, 0, 0], tf2b[0, :, 0, 0] = 50.0, -9.0
    t2b[1, :, 1, 1], tf2b[1, :, 1, 1] = -50.0, 9.0
    out = block_distillation_loss(s_log, t2b, s_f, tf2b, valid2, t_valid, 2, 1.0)
    assert out["total"].item() == pytest.approx(ref["total"].item(), rel=1e-6)
    with pytest.raises(ValueError, match="whole blocks"):
        block_distillation_loss(s_log[:, :, :3], t2, s_f[:, :, :3], tf2, valid2[:, :3], t_valid, 2, 1.0)


# ---------------------------------------------------------------- class-balanced weights


def test_class_balanced_weights_hand_values() -> None:
    # inverse frequency: raw [1/100, 1/10, -] -> scaled to sum 2 (two classes present)
    w = class_balanced_weights([100, 10, 0], beta=1.0, method="inverse_power").numpy()
    assert w == pytest.approx([0.01 * 2 / 0.11, 0.1 * 2 / 0.11, 0.0], rel=1e-5)
    # effective number, beta 0.9
    raw = [(1 - 0.9) / (1 - 0.9**100), (1 - 0.9) / (1 - 0.9**10)]
    w = class_balanced_weights([100, 10, 0], beta=0.9).numpy()
    assert w == pytest.approx([raw[0] * 2 / sum(raw), raw[1] * 2 / sum(raw), 0.0], rel=1e-5)
    # beta 0: equal weights; square root option
    assert class_balanced_weights([5, 500], beta=0.0).numpy() == pytest.approx([1.0, 1.0])
    sq = class_balanced_weights([4, 100], beta=0.5, method="inverse_power").numpy()
    assert sq[0] / sq[1] == pytest.approx(5.0, rel=1e-5)
    with pytest.raises(ValueError, match="all zero"):
        class_balanced_weights([0, 0])
    with pytest.raises(ValueError, match="beta"):
        class_balanced_weights([1, 2], beta=1.0)


# ---------------------------------------------------------------- temperature schedule


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
@pytest.mark.parametrize("start,end", [(4.0, 1.0), (1.0, 6.0)])
def test_temperature_endpoints_and_monotonic(kind: str, start: float, end: float) -> None:
    n = 20
    values = [temperature_at(e, n, start, end, kind) for e in range(n)]
    assert values[0] == pytest.approx(start) and values[-1] == pytest.approx(end)
    steps = np.diff(values)
    assert np.all(steps * np.sign(end - start) > 0)  # strictly monotonic towards the end value
    fine = [temperature_at(e / 10, n, start, end, kind) for e in range(0, 10 * (n - 1) + 1)]
    assert np.all(np.diff(fine) * np.sign(end - start) > 0)


def test_temperature_shapes_differ_as_documented() -> None:
    n = 11
    assert temperature_at(5, n, 5.0, 1.0, "linear") == pytest.approx(3.0)
    assert temperature_at(5, n, 5.0, 1.0, "cosine") == pytest.approx(3.0)
    # cosine changes slowly at the start: closer to `start` than linear after one epoch
    lin, cos = temperature_at(1, n, 5.0, 1.0, "linear"), temperature_at(1, n, 5.0, 1.0, "cosine")
    assert lin == pytest.approx(4.6) and cos == pytest.approx(1 + 4 * (1 + math.cos(math.pi * 0.1)) / 2)
    assert cos > lin
    assert temperature_at(0, 1, 3.0, 1.0) == 3.0


@pytest.mark.parametrize(
    "args",
    [(0, 10, 4.0, 1.0, "step"), (0, 0, 4.0, 1.0, "linear"), (10, 10, 4.0, 1.0, "linear"), (0, 10, 0.0, 1.0, "linear")],
)
def test_temperature_rejects_bad_arguments(args: tuple) -> None:
    with pytest.raises(ValueError):
        temperature_at(*args)
