"""Accuracy metrics against confusion matrices computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cmkd_plugin.engine.models.metrics import (
    accuracy_report,
    cohen_kappa,
    confusion_matrix,
    macro_f1,
    overall_accuracy,
    per_class_f1,
    producers_accuracy,
    users_accuracy,
)

NAN = float("nan")


def test_three_class_example_by_hand() -> None:
    reference = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    predicted = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    cm = confusion_matrix(reference, predicted, 3)
    assert cm.tolist() == [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    assert overall_accuracy(cm) == pytest.approx(0.7)
    # p_e = (4*4 + 3*3 + 3*3) / 100 = 0.34 ; kappa = (0.7 - 0.34) / 0.66
    assert cohen_kappa(cm) == pytest.approx(0.36 / 0.66)
    assert per_class_f1(cm) == pytest.approx([6 / 8, 4 / 6, 4 / 6])
    assert macro_f1(cm) == pytest.approx((0.75 + 2 / 3 + 2 / 3) / 3)


def test_producers_and_users_accuracy_are_not_swapped() -> None:
    # reference 0,0,0,1 ; predicted 0,0,1,1 -> cm [[2,1],[0,1]]
    cm = confusion_matrix(np.array([[0, 0], [0, 1]]), np.array([[0, 0], [1, 1]]), 2)
    assert cm.tolist() == [[2, 1], [0, 1]]
    assert producers_accuracy(cm) == pytest.approx([2 / 3, 1.0])  # recall, per reference row
    assert users_accuracy(cm) == pytest.approx([1.0, 0.5])  # precision, per map column
    assert per_class_f1(cm) == pytest.approx([0.8, 2 / 3])
    # p_o = 0.75, p_e = (3*2 + 1*2) / 16 = 0.5
    assert cohen_kappa(cm) == pytest.approx(0.5)


def test_unlabelled_and_masked_pixels_are_not_counted() -> None:
    reference = np.array([0, 1, -1, 255, 1, 2])
    predicted = np.array([0, 1, 2, 2, 0, 1])
    valid = np.array([True, True, True, True, True, False])
    cm = confusion_matrix(reference, predicted, 3, valid)
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    assert overall_accuracy(cm) == pytest.approx(2 / 3)


def test_absent_class_is_nan_not_zero_and_left_out_of_macro_f1() -> None:
    cm = np.array([[5, 0, 0], [1, 4, 0], [0, 0, 0]])
    f1 = per_class_f1(cm)
    assert math.isnan(f1[2]) and math.isnan(producers_accuracy(cm)[2]) and math.isnan(users_accuracy(cm)[2])
    assert macro_f1(cm) == pytest.approx((10 / 11 + 8 / 9) / 2)
    # a class in the reference but never predicted has F1 0 (it counts against macro-F1)
    cm2 = np.array([[5, 0], [3, 0]])
    assert per_class_f1(cm2)[1] == 0.0 and math.isnan(users_accuracy(cm2)[1])


def test_degenerate_cases() -> None:
    perfect = np.array([[4, 0], [0, 0]])
    assert cohen_kappa(perfect) == 1.0 and overall_accuracy(perfect) == 1.0
    empty = np.zeros((2, 2), dtype=int)
    assert math.isnan(overall_accuracy(empty)) and math.isnan(cohen_kappa(empty)) and math.isnan(macro_f1(empty))
    # systematically wrong: kappa negative
    assert cohen_kappa(np.array([[0, 5], [5, 0]])) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="differ in size"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)


def test_random_labels_match_a_loop_count() -> None:
    rng = np.random.default_rng(4)
    ref, pred = rng.integers(0, 5, 1000), rng.integers(0, 5, 1000)
    cm = confusion_matrix(ref, pred, 5)
    loop = np.zeros((5, 5), dtype=int)
    for r, p in zip(ref, pred):
        loop[r, p] += 1
    assert np.array_equal(cm, loop)
    assert abs(cohen_kappa(cm)) < 0.1  # independent random maps agree only by chance


def test_accuracy_report_is_json_ready() -> None:
    cm = np.array([[5, 0, 0], [1, 4, 0], [0, 0, 0]])
    report = accuracy_report(cm, ["calcite", "serpentine", "olivine"])
    text = json.dumps(report, allow_nan=False)  # NaN must have become null
    back = json.loads(text)
    assert back["n_pixels"] == 10 and back["overall_accuracy"] == pytest.approx(0.9)
    assert back["per_class"]["olivine"]["f1"] is None
    assert back["per_class"]["serpentine"]["producers_accuracy"] == pytest.approx(0.8)
    assert back["confusion_matrix"] == cm.tolist()
    with pytest.raises(ValueError):
        accuracy_report(cm, ["a", "b"])
