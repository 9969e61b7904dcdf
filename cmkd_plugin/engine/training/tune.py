"""Search for distillation settings (``tunedistillation``): differential evolution, a grid or
random sampling over the temperatures, the feature weight and the class-balance strength.

The scene and the teacher's targets are prepared once (:func:`~.pipeline.prepare_distillation`);
each candidate is then scored by a *short* distillation (``TuningConfig.eval_epochs`` epochs of
``eval_patches_per_epoch`` patches, the same seed for every candidate so that the settings, not
the initial weights, make the difference) and its :func:`~.distill.selection_score` (overall
accuracy, ties broken by macro-F1) at the validation blocks of the labels. The three methods
share that objective, so a comparison between them compares the searches only.

Budget: ``max_evaluations`` is a hard bound on distillation runs. Differential evolution gets a
population of ``max(5, min(budget // 3, 10 x dimensions))`` Latin-hypercube points and as many
generations as the rest of the budget allows (``polish=False``, ``tol=0``); the objective itself
stops the search at the budget. The grid has as many points as fit in the budget (levels added
one dimension at a time, cell-centred), random search draws ``max_evaluations`` uniform points.

The table (CSV, one row per evaluation) is rewritten atomically after every evaluation, so a
cancelled or failed search leaves the complete rows of what it evaluated; the model file and the
report are written only at the end.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic import atomic_output, check_writable, refuse_inputs_as_outputs
from ..errors import InputError
from ..feedback import Feedback
from ..geo.labels import UNLABELLED
from .common import single_threaded
from .config import DistillConfig, TuningConfig
from .distill import selection_score, validation_metrics
from .pipeline import (DistillationInputs, StudentRun, finish_distillation, prepare_distillation,
                       prepare_outputs)


@dataclass(frozen=True)
class Dimension:
    """One searched setting: its name, bounds and meaning."""

    name: str
    low: float
    high: float
    doc: str


#: The search space. The end temperature is searched as a fraction of the start temperature so
#: that every candidate anneals downwards (end <= start) without a constraint.
DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("temperature_start", 1.0, 8.0, "distillation temperature of the first epoch"),
    Dimension("temperature_end_fraction", 0.1, 1.0,
              "temperature of the last epoch as a fraction of the start temperature"),
    Dimension("feature_weight", 0.0, 2.0, "weight of the feature-alignment term (1 - cosine)"),
    Dimension("class_balance_beta", 0.0, 1.0,
              "class-balance strength: pixel weight 1 / n_c ** beta (0 = no balancing)"),
)
#: Settings written to the table and returned, in this order.
SETTINGS = ("temperature_start", "temperature_end", "feature_weight", "class_balance_beta")
TABLE_COLUMNS = ("evaluation", "method", *SETTINGS, "validation_oa", "validation_macro_f1",
                 "score", "seconds", "best_so_far")


@dataclass
class Evaluation:
    """One short distillation of the search (a row of the table).

    Attributes:
        index: 1-based evaluation number.
        method: search method.
        settings: the :data:`SETTINGS` of the candidate.
        oa: validation overall accuracy; ``macro_f1`` validation macro-F1.
        score: :func:`~.distill.selection_score` (the maximised objective).
        seconds: wall time of the distillation and its scoring.
        best_so_far: the best score of the search up to and including this evaluation.
    """

    index: int
    method: str
    settings: dict[str, float]
    oa: float
    macro_f1: float
    score: float
    seconds: float
    best_so_far: bool

    def row(self) -> dict[str, Any]:
        return {"evaluation": self.index, "method": self.method,
                **{k: round(self.settings[k], 6) for k in SETTINGS},
                "validation_oa": round(self.oa, 6), "validation_macro_f1": round(self.macro_f1, 6),
                "score": round(self.score, 6), "seconds": round(self.seconds, 3),
                "best_so_far": int(self.best_so_far)}


class _BudgetSpent(Exception):
    """Raised by the objective when the search asks for one evaluation more than the budget."""


def active_dimensions(tuning: TuningConfig) -> tuple[Dimension, ...]:
    """The dimensions searched under ``tuning`` (class balance only if asked)."""
    return tuple(d for d in DIMENSIONS
                 if tuning.tune_class_balance or d.name != "class_balance_beta")


def candidate_config(base: DistillConfig, dims: tuple[Dimension, ...], x: np.ndarray) -> DistillConfig:
    """``base`` with the settings of the point ``x`` (one value per dimension of ``dims``)."""
    values = {d.name: float(np.clip(v, d.low, d.high)) for d, v in zip(dims, x)}
    start = values.get("temperature_start", base.temperature_start)
    fraction = values.get("temperature_end_fraction", base.temperature_end / base.temperature_start)
    return replace(base, temperature_start=start, temperature_end=start * fraction,
                   feature_weight=values.get("feature_weight", base.feature_weight),
                   class_balance_beta=values.get("class_balance_beta", base.class_balance_beta))


def grid_points(dims: tuple[Dimension, ...], budget: int) -> np.ndarray:
    """A regular grid of at most ``budget`` points: one level per dimension to start with, then
    one more level for each dimension in turn while the product fits; levels are the centres of
    equal cells of each range (a single level is the middle of the range).

    Returns:
        (n, len(dims)) points, ``n <= budget``, in lexicographic order.
    """
    levels = [1] * len(dims)
    grown = True
    while grown:
        grown = False
        for i in range(len(dims)):
            trial = levels.copy()
            trial[i] += 1
            if math.prod(trial) <= budget:
                levels, grown = trial, True
    axes = [d.low + (np.arange(n) + 0.5) * (d.high - d.low) / n for d, n in zip(dims, levels)]
    return np.array(list(itertools.product(*axes)), dtype=np.float64).reshape(-1, len(dims))


def random_points(dims: tuple[Dimension, ...], budget: int, seed: int) -> np.ndarray:
    """``budget`` points drawn uniformly in the bounds with ``seed``."""
    rng = np.random.default_rng(seed)
    low = np.array([d.low for d in dims])
    high = np.array([d.high for d in dims])
    return low + rng.random((budget, len(dims))) * (high - low)


def de_population(n_dims: int, budget: int) -> int:
    """Population of the differential evolution for a budget (scipy needs at least 5)."""
    return max(5, min(budget // 3, 10 * n_dims))


def write_table(path: str | os.PathLike[str], evaluations: list[Evaluation]) -> None:
    """Write (replace) the table atomically: readers see the old or the new complete file."""
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=TABLE_COLUMNS)
            writer.writeheader()
            for e in evaluations:
                writer.writerow(e.row())


class Objective:
    """Score a point by a short distillation; record it and rewrite the table.

    Calling it returns the negated score (scipy minimises); beyond ``tuning.max_evaluations``
    calls it raises :class:`_BudgetSpent` without distilling.
    """

    def __init__(self, prepared: DistillationInputs, base: DistillConfig, tuning: TuningConfig,
                 table: str | os.PathLike[str] | None, feedback: Feedback) -> None:
        self.prepared = prepared
        self.dims = active_dimensions(tuning)
        self.tuning = tuning
        self.config = replace(base, epochs=tuning.eval_epochs,
                              patches_per_epoch=tuning.eval_patches_per_epoch, seed=tuning.seed,
                              progressive=False)
        self.table = table
        self.feedback = feedback
        self.evaluations: list[Evaluation] = []

    def __call__(self, x: np.ndarray) -> float:
        n, budget = len(self.evaluations), self.tuning.max_evaluations
        if n >= budget:
            raise _BudgetSpent()
        config = candidate_config(self.config, self.dims, np.asarray(x, dtype=np.float64))
        # Per-epoch messages of twenty short runs would drown the log: one line per candidate.
        fb = replace(self.feedback.step(100.0 * n / budget, 100.0 * (n + 1) / budget),
                     on_info=lambda _m: None)
        t0 = time.perf_counter()
        p = self.prepared
        result = p.distil(config, fb, f"Candidate {n + 1}")
        metrics = validation_metrics(result.model, p.rgb, p.student_cards, p.val_labels,
                                     p.scene.class_names, p.scene.valid, config.seed)
        if metrics is None:  # checked before the search; kept for a clear message
            raise InputError("No validation label is left to score the candidates.")
        score = selection_score(metrics)
        best = max((e.score for e in self.evaluations), default=-math.inf)
        settings = {k: float(getattr(config, k)) for k in SETTINGS}
        self.evaluations.append(Evaluation(
            n + 1, self.tuning.method, settings, float(metrics["oa"] or 0.0),
            float(metrics["macro_f1"] or 0.0), score, time.perf_counter() - t0, score > best))
        if self.table is not None:
            write_table(self.table, self.evaluations)
        self.feedback.info(
            f"Evaluation {n + 1}/{budget}: T {settings['temperature_start']:.2f} -> "
            f"{settings['temperature_end']:.2f}, feature weight {settings['feature_weight']:.2f}, "
            f"class balance {settings['class_balance_beta']:.2f}: validation OA "
            f"{metrics['oa'] or 0.0:.3f}, macro-F1 {metrics['macro_f1'] or 0.0:.3f}"
            + (" (best so far)" if score > best else ""))
        return -score

    def best(self) -> Evaluation:
        """The best evaluation (the first one on a tie)."""
        return max(self.evaluations, key=lambda e: e.score)


def _run_de(objective: Objective, seed: int) -> None:
    from scipy.optimize import differential_evolution
    from scipy.stats import qmc

    dims, budget = objective.dims, objective.tuning.max_evaluations
    size = de_population(len(dims), budget)
    unit = qmc.LatinHypercube(d=len(dims), seed=seed).random(size)
    init = qmc.scale(unit, [d.low for d in dims], [d.high for d in dims])
    generations = max(0, math.ceil((budget - size) / size))
    differential_evolution(objective, [(d.low, d.high) for d in dims], maxiter=generations,
                           init=init, seed=seed, polish=False, tol=0.0, atol=0.0,
                           updating="immediate", workers=1)


def _run_points(objective: Objective, points: np.ndarray) -> None:
    for x in points:
        objective(x)


SEARCHES: dict[str, Callable[[Objective, int], None]] = {
    "de": _run_de,
    "grid": lambda o, seed: _run_points(o, grid_points(o.dims, o.tuning.max_evaluations)),
    "random": lambda o, seed: _run_points(o, random_points(o.dims, o.tuning.max_evaluations, seed)),
}


def check_validation_labels(prepared: DistillationInputs) -> None:
    """Tuning scores candidates at the validation blocks: fail early when there are none."""
    val = prepared.val_labels
    if val is None:
        raise InputError("Tuning needs labels: candidates are scored at the validation blocks "
                         "of the labels. Give a labelled point or polygon layer.")
    if not (val[prepared.scene.valid] != UNLABELLED).any():
        raise InputError("No labelled pixel falls in a validation block, so candidates cannot be "
                         "scored. Add labels spread over the scene, or retrain the teacher with "
                         "smaller validation blocks (its split is reused).")


def search(prepared: DistillationInputs, base: DistillConfig, tuning: TuningConfig,
           table: str | os.PathLike[str] | None = None,
           feedback: Feedback | None = None) -> list[Evaluation]:
    """Run the search; return every evaluation in order (at most ``tuning.max_evaluations``).

    Raises:
        InputError: no validation labels.
        CancelledError: the user stopped it (the table keeps the evaluations done so far).
    """
    feedback = feedback or Feedback()
    check_validation_labels(prepared)
    objective = Objective(prepared, base, tuning, table, feedback)
    if table is not None:
        write_table(table, [])
    try:
        SEARCHES[tuning.method](objective, tuning.seed)
    except _BudgetSpent:
        pass
    return objective.evaluations


@dataclass
class TuningRun:
    """A tuning: its evaluations, the best one and the final distillation."""

    evaluations: list[Evaluation]
    best: Evaluation
    student: StudentRun
    outputs: dict[str, Any]


@single_threaded
def run_tuning(
    teacher: str, rgb: str, hsi: str | None, dem: str | None, labels: str | None,
    output_table: str, output_model: str, output_report: str,
    tuning: TuningConfig = TuningConfig(), base: DistillConfig = DistillConfig(),
    label_field: str = "mineral", feedback: Feedback | None = None,
) -> TuningRun:
    """Search distillation settings, then distil the student with the best ones at the full
    ``base.epochs`` and write it with its report (as ``distillstudent`` does).

    Args:
        output_table: CSV of every evaluation (rewritten after each one).
        tuning: search method, budget, short-run size, seed (also the distillation seed).
        base: the other distillation settings (epochs of the final run, patch size...).

    Returns:
        The run; ``run.outputs`` holds ``OUTPUT_TABLE``, ``OUTPUT_MODEL``, ``OUTPUT_REPORT``,
        ``EVALUATIONS``, ``BEST_SCORE``, ``BEST_VALIDATION_OA``, ``BEST_TEMPERATURE_START``,
        ``BEST_TEMPERATURE_END``, ``BEST_FEATURE_WEIGHT``, ``BEST_CLASS_BALANCE_BETA`` and the
        final student's ``STUDENT_OA``, ``BASELINE_OA``, ``TEACHER_OA``...
    """
    feedback = feedback or Feedback()
    if labels is None:
        raise InputError("Tuning needs labels: candidates are scored at the validation blocks "
                         "of the labels. Give a labelled point or polygon layer.")
    if base.progressive:
        raise InputError("Tuning distils directly to RGB; turn the progressive chain off.")
    paths = prepare_outputs(output_model, output_report)
    table = check_writable(output_table)
    if table.resolve() in {p.resolve() for p in paths}:
        raise InputError("The table, the model file and the report must be different files.")
    refuse_inputs_as_outputs([teacher, rgb, hsi, dem, labels], [table, *paths])
    base = replace(base, seed=tuning.seed)
    prepared = prepare_distillation(teacher, rgb, hsi, dem, labels, label_field, False,
                                    feedback.step(0, 8))
    evaluations = search(prepared, base, tuning, table, feedback.step(8, 80))
    best = max(evaluations, key=lambda e: e.score)
    feedback.info(f"Best of {len(evaluations)} evaluations: #{best.index}, validation OA "
                  f"{best.oa:.3f}; distilling the student with it for {base.epochs} epochs.")
    final = replace(base, **best.settings)
    summary = {"tuning": {**tuning.to_dict(), "evaluations": len(evaluations),
                          "best_evaluation": best.index, "best_score": best.score,
                          "table": Path(table).name,
                          "search_space": {d.name: [d.low, d.high] for d in active_dimensions(tuning)}}}
    student = finish_distillation(prepared, final, paths, feedback.step(80, 100), summary)
    outputs = {"OUTPUT_TABLE": str(table), **student.outputs, "EVALUATIONS": len(evaluations),
               "BEST_EVALUATION": best.index, "BEST_SCORE": best.score,
               "BEST_VALIDATION_OA": best.oa, "BEST_VALIDATION_MACRO_F1": best.macro_f1,
               **{f"BEST_{k.upper()}": v for k, v in best.settings.items()}}
    return TuningRun(evaluations, best, student, outputs)


__all__ = ["DIMENSIONS", "Evaluation", "Objective", "TuningRun", "candidate_config", "grid_points",
           "random_points", "run_tuning", "search", "write_table"]
