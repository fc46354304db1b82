"""best/ selection: a better primary metric wins; an equal one wins only with a lower
validation loss (small validation sets tie on accuracy / F1 for many evaluations)."""

from __future__ import annotations

from encoderkit.tasks.objective import TaskObjective


def _fresh(metric: str) -> TaskObjective:
    obj = object.__new__(TaskObjective)  # only the selection state, no trainer
    obj.metric, obj.best, obj.best_loss, obj.bad_evals = metric, None, None, 0
    return obj


def test_tie_on_metric_is_broken_by_validation_loss():
    obj = _fresh("macro_f1")
    evals = [(0.92, 0.40), (0.92, 0.30), (0.92, 0.35), (0.90, 0.10), (0.95, 0.90)]
    picked = [obj._update(f1, loss) for f1, loss in evals]
    assert picked == [True, True, False, False, True]
    assert (obj.best, obj.best_loss, obj.bad_evals) == (0.95, 0.90, 0)


def test_lower_is_better_metric_and_missing_loss():
    obj = _fresh("rmse")
    assert [obj._update(v, None) for v in (2.0, 2.0, 1.5, 1.7)] == [True, False, True, False]
    assert obj.best == 1.5 and obj.bad_evals == 1
