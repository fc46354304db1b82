"""best/ selection: a better primary metric wins; an equal one wins only with a lower
validation loss (small validation sets tie on accuracy / F1 for many evaluations); a later
one within the metric's sampling noise on the validation split wins too."""

from __future__ import annotations

import math

import pytest

from encoderkit.tasks.objective import TaskObjective, selection_tolerance


def _fresh(metric: str, tolerance: float = 0.0) -> TaskObjective:
    obj = object.__new__(TaskObjective)  # only the selection state, no trainer
    obj.metric, obj.best, obj.bad_evals = metric, None, 0
    obj.peak, obj.peak_loss, obj.tolerance = None, None, tolerance
    return obj


def test_tie_on_metric_is_broken_by_validation_loss():
    obj = _fresh("macro_f1")
    evals = [(0.92, 0.40), (0.92, 0.30), (0.92, 0.35), (0.90, 0.10), (0.95, 0.90)]
    picked = [obj._update(f1, loss) for f1, loss in evals]
    assert picked == [True, True, False, False, True]
    assert (obj.best, obj.peak_loss, obj.bad_evals) == (0.95, 0.90, 0)


def test_lower_is_better_metric_and_missing_loss():
    obj = _fresh("rmse")
    assert [obj._update(v, None) for v in (2.0, 2.0, 1.5, 1.7)] == [True, False, True, False]
    assert obj.best == 1.5 and obj.bad_evals == 1


def test_tolerance_is_one_standard_error_of_a_fraction():
    assert selection_tolerance("macro_f1", 7) == pytest.approx(0.5 / math.sqrt(7))  # 0.189
    assert selection_tolerance("accuracy", 100) == pytest.approx(0.05)
    assert selection_tolerance("loss", 7) == 0.0 and selection_tolerance("r2", 7) == 0.0
    assert selection_tolerance("macro_f1", 0) == 0.0


def test_later_evaluation_within_noise_becomes_best_but_patience_counts_the_peak():
    """7 validation records (tolerance 0.189): 0.57, 1.0, 0.86, 0.71, 0.86 -> the 0.86 of the
    last evaluation is within noise of the peak 1.0 and is kept; 0.71 is not."""
    obj = _fresh("macro_f1", selection_tolerance("macro_f1", 7))
    picked = [obj._update(v, 0.5) for v in (0.57, 1.0, 0.86, 0.71, 0.86)]
    assert picked == [True, True, True, False, True]
    assert (obj.best, obj.peak) == (0.86, 1.0)
    assert obj.bad_evals == 3  # no improvement on the peak after the second evaluation
    # a large validation set (tolerance 0.005) selects as without tolerance
    big = _fresh("macro_f1", selection_tolerance("macro_f1", 10_000))
    assert [big._update(v, 0.5) for v in (0.57, 1.0, 0.86, 0.71, 0.86)] == [True, True, False, False, False]
    assert big.best == 1.0
