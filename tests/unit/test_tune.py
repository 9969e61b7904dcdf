"""Distillation tuning (``tunedistillation``) on the tiny three-class scene: every method keeps to
the evaluation budget, a seed reproduces the search, the table lists every evaluation, a cancelled
search keeps its table but writes no model, bad inputs give clear errors."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import pytest

from cmkd_plugin.engine.atomic import partial_files
from cmkd_plugin.engine.commands import tunedistillation
from cmkd_plugin.engine.errors import CancelledError, InputError
from cmkd_plugin.engine.feedback import Feedback
from cmkd_plugin.engine.models.modelfile import load_model
from cmkd_plugin.engine.training import tune
from cmkd_plugin.engine.training.config import DistillConfig, TuningConfig
from cmkd_plugin.engine.training.pipeline import prepare_distillation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_scene import train_tiny_teacher, write_scene  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_BASE = DistillConfig(epochs=2, patches_per_epoch=16, patch_size_px=32, encoder_width=8,
                          learning_rate=1e-2)


def tiny_tuning(**over: object) -> TuningConfig:
    return TuningConfig(**{"max_evaluations": 6, "eval_epochs": 2, "eval_patches_per_epoch": 16,
                           "seed": 1, **over})


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = write_scene(tmp_path_factory.mktemp("scene"))
    return {**paths, "teacher": train_tiny_teacher(paths, tmp_path_factory.mktemp("teacher"))}


@pytest.fixture(scope="module")
def prepared(scene: dict[str, Path]) -> tune.DistillationInputs:
    return prepare_distillation(str(scene["teacher"]), str(scene["rgb"]), str(scene["hsi"]),
                                str(scene["dem"]), str(scene["labels"]))


def read_table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def without_seconds(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def counted(prepared: tune.DistillationInputs, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the distillation runs of ``prepared`` (the real ones still run)."""
    calls = [0]
    real = prepared.distil

    def distil(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(prepared, "distil", distil)
    return calls


@pytest.mark.parametrize("method,budget", [("de", 7), ("de", 3), ("grid", 7), ("random", 5)])
def test_budget_is_respected_and_the_table_lists_every_evaluation(
        prepared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, budget: int) -> None:
    calls = counted(prepared, monkeypatch)
    table = tmp_path / "table.csv"
    evaluations = tune.search(prepared, TINY_BASE,
                              tiny_tuning(method=method, max_evaluations=budget), table)
    expected = len(tune.grid_points(tune.DIMENSIONS, budget)) if method == "grid" else budget
    assert 1 <= expected <= budget
    assert calls[0] == len(evaluations) == expected
    rows = read_table(table)
    assert list(rows[0]) == list(tune.TABLE_COLUMNS)
    assert [int(r["evaluation"]) for r in rows] == list(range(1, expected + 1))
    assert {r["method"] for r in rows} == {method}
    best = -1.0
    for row, e in zip(rows, evaluations):
        assert float(row["score"]) == pytest.approx(e.score, abs=1e-6)
        assert 1.0 <= float(row["temperature_start"]) <= 8.0
        assert 0.0 <= float(row["feature_weight"]) <= 2.0
        assert float(row["temperature_end"]) <= float(row["temperature_start"]) + 1e-9
        assert row["best_so_far"] == str(int(e.score > best))
        best = max(best, e.score)
    assert not partial_files(table)


def test_same_seed_same_search_other_seed_differs(prepared, tmp_path: Path) -> None:
    tables = {}
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        # Long enough runs that the candidates' scores differ (2 x 16 patches all tie here).
        tune.search(prepared, TINY_BASE, tiny_tuning(seed=seed, max_evaluations=5, eval_epochs=4,
                                                     eval_patches_per_epoch=32),
                    tmp_path / f"{name}.csv")
        tables[name] = without_seconds(read_table(tmp_path / f"{name}.csv"))
    assert tables["a"] == tables["b"]
    assert len(tables["a"]) == 5
    assert tables["a"] != tables["c"]
    # Candidates do differ in score: the objective is not constant on this scene.
    assert len({r["score"] for r in tables["a"] + tables["c"]}) > 1


def test_grid_covers_the_space_without_exceeding_the_budget() -> None:
    for budget in (1, 2, 7, 12, 16, 20, 81):
        points = tune.grid_points(tune.DIMENSIONS, budget)
        assert 1 <= len(points) <= budget
        assert len({tuple(p) for p in points}) == len(points)
        for i, d in enumerate(tune.DIMENSIONS):
            assert ((points[:, i] > d.low) & (points[:, i] < d.high)).all()
    assert len(tune.grid_points(tune.DIMENSIONS, 16)) == 16  # 2 levels in each of 4 dimensions


def test_run_tuning_distils_the_best_settings(scene, tmp_path: Path) -> None:
    run = tune.run_tuning(str(scene["teacher"]), str(scene["rgb"]), str(scene["hsi"]),
                          str(scene["dem"]), str(scene["labels"]), str(tmp_path / "tune.csv"),
                          str(tmp_path / "student.cmkd"), str(tmp_path / "student.html"),
                          tiny_tuning(method="random", max_evaluations=4, tune_class_balance=False),
                          TINY_BASE)
    rows = read_table(tmp_path / "tune.csv")
    assert len(rows) == run.outputs["EVALUATIONS"] == 4
    best = max(rows, key=lambda r: float(r["score"]))
    assert run.outputs["BEST_SCORE"] == pytest.approx(float(best["score"]), abs=1e-6)
    assert run.outputs["BEST_EVALUATION"] == int(best["evaluation"])
    # Not searched: the class-balance strength stays at the base value.
    assert {float(r["class_balance_beta"]) for r in rows} == {TINY_BASE.class_balance_beta}
    _model, card = load_model(tmp_path / "student.cmkd", expect_kind="student")
    distil = card.training["distill"]
    assert distil["epochs"] == TINY_BASE.epochs
    for key in tune.SETTINGS:
        assert distil[key] == pytest.approx(float(best[key]), abs=1e-5)
        assert run.outputs[f"BEST_{key.upper()}"] == pytest.approx(float(best[key]), abs=1e-5)
    assert card.training["tuning"]["evaluations"] == 4
    assert (tmp_path / "student.html").exists() and run.outputs["STUDENT_OA"] is not None


def test_cancel_keeps_the_table_of_what_was_evaluated_and_writes_no_model(scene, tmp_path: Path) -> None:
    table = tmp_path / "tune.csv"

    def cancelled() -> bool:  # stop once two evaluations are in the table
        return table.exists() and len(read_table(table)) >= 2

    args = argparse.ArgumentParser()
    tunedistillation.add_arguments(args)
    ns = args.parse_args([
        "--teacher", str(scene["teacher"]), "--rgb", str(scene["rgb"]), "--hsi", str(scene["hsi"]),
        "--dem", str(scene["dem"]), "--labels", str(scene["labels"]), "--max-evaluations", "5",
        "--eval-epochs", "2", "--eval-patches-per-epoch", "16", "--epochs", "2",
        "--tile-size", "32", "--patches-per-epoch", "16", "--seed", "1",
        "--output-table", str(table), "--output-model", str(tmp_path / "student.cmkd"),
        "--output-report", str(tmp_path / "student.html")])
    with pytest.raises(CancelledError):
        tunedistillation.run(ns, Feedback(is_cancelled=cancelled))
    rows = read_table(table)
    assert [r["evaluation"] for r in rows] == ["1", "2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.csv"]


def test_bad_inputs_give_clear_errors(scene, prepared, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least 1"):
        TuningConfig(max_evaluations=0)
    with pytest.raises(InputError, match="Unknown search method"):
        TuningConfig(method="annealing")
    common = (str(scene["teacher"]), str(scene["rgb"]), str(scene["hsi"]), str(scene["dem"]))
    outs = (str(tmp_path / "t.csv"), str(tmp_path / "s.cmkd"), str(tmp_path / "s.html"))
    with pytest.raises(InputError, match="needs labels"):
        tune.run_tuning(*common, None, *outs, tiny_tuning(), TINY_BASE)
    with pytest.raises(InputError, match="different files"):
        tune.run_tuning(*common, str(scene["labels"]), str(tmp_path / "s.cmkd"), *outs[1:],
                        tiny_tuning(), TINY_BASE)
    with pytest.raises(InputError, match="also an input"):
        tune.run_tuning(*common, str(scene["labels"]), str(scene["labels"]), *outs[1:],
                        tiny_tuning(), TINY_BASE)
    parser = argparse.ArgumentParser()
    tunedistillation.add_arguments(parser)
    with pytest.raises(SystemExit):  # --labels is required on the command line
        parser.parse_args(["--teacher", "t", "--rgb", "r", "--output-table", "t.csv",
                           "--output-model", "m", "--output-report", "r.html"])
    assert list(tmp_path.iterdir()) == []
