"""Parameter counts, multiply-adds per pixel (against the analytic count) and throughput."""

from __future__ import annotations


import pytest
import torch

from cmkd_plugin.engine.models.config import TeacherConfig
from cmkd_plugin.engine.models.flops import cost_summary, macs_per_pixel, measure_throughput, parameter_count
from cmkd_plugin.engine.models.student import make_student
from cmkd_plugin.engine.models.teacher import Teacher


# One torch thread: other jobs share the 2 cores, and one is then faster and steadier.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _inputs(size: int = 8) -> dict[str, torch.Tensor]:
    return {"rgb": torch.randn(1, 3, size, size), "hsi": torch.randn(1, 224, size, size), "dem": torch.randn(1, 3, size, size)}


def test_student_macs_per_pixel_equal_the_analytic_count() -> None:
    k, w, d = 6, 32, 2
    student = make_student(k)
    analytic = 3 * w + d * 9 * w * w + w * 256 + 256 * 128 + 128 * k
    assert macs_per_pixel(student, _inputs()) == pytest.approx(analytic)
    assert macs_per_pixel(student, _inputs(16)) == pytest.approx(analytic)  # independent of tile size
    assert parameter_count(student) == sum(p.numel() for p in student.parameters())


def test_teacher_macs_include_attention_and_grow_with_modalities() -> None:
    k, w, d, dim, hidden = 6, 32, 2, 256, 128
    teacher = Teacher(TeacherConfig(n_classes=k))

    def analytic(bands: list[int]) -> int:
        m = len(bands)
        encoders = sum(c * w + d * 9 * w * w + w * dim + dim * dim for c in bands)
        # q/k/v and output projections; the M*M*D score and mixing products are element-wise
        # (not counted, < 1 % here)
        attention = m * dim * 3 * dim + m * dim * dim
        return encoders + attention + dim * hidden + hidden * k

    x = _inputs()
    assert macs_per_pixel(teacher, x) == pytest.approx(analytic([3, 224, 3]))
    assert macs_per_pixel(teacher, {"rgb": x["rgb"]}) == pytest.approx(analytic([3]))
    assert teacher.training  # mode restored


def test_throughput_is_measured_and_the_student_is_faster() -> None:
    teacher = Teacher(TeacherConfig(n_classes=4)).eval()
    student = make_student(4)
    x = _inputs(32)
    t_speed = measure_throughput(teacher, x, repeats=2)
    s_speed = measure_throughput(student, x, repeats=2)
    assert 0 < t_speed < s_speed  # ~18x fewer multiply-adds
    summary = cost_summary(student, x, repeats=1)
    assert summary["parameters"] == parameter_count(student) and summary["threads"] == 1
    with pytest.raises(ValueError):
        measure_throughput(student, x, repeats=0)
