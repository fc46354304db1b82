"""A regression of several targets printed ``rmse 48.0424`` as its headline: the mean of the
targets' RMSEs (57.43 and 38.65) in their different units, read as one error. The printed
tables (finetune summary, ``evaluate``) now label the headline rows as the mean they are;
the keys (``rmse``, ``metrics.jsonl``, ``task.metric``) stay."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error

from encoderkit.tasks.metrics import format_table, regression_metrics


def _rows(text: str) -> dict[str, str]:
    """label -> value of each printed row (the label may hold spaces; the value is last)."""
    return {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1] for line in text.splitlines()[1:]}


def test_a_mean_over_targets_in_different_units_is_labelled_as_one():
    rng = np.random.default_rng(0)
    y = np.column_stack([rng.normal(150, 60, 50), rng.normal(3, 0.05, 50) * 1000])
    pred = y + rng.normal(0, [40, 30], (50, 2))
    rows = _rows(format_table({"evaluate": regression_metrics(y, pred, ["t1", "t2"])}))
    per = [mean_squared_error(y[:, j], pred[:, j]) ** 0.5 for j in range(2)]
    assert "rmse" not in rows and "mae" not in rows and "r2" not in rows
    assert float(rows["rmse (mean of 2 targets, mixed units)"]) == pytest.approx(np.mean(per), abs=1e-4)
    assert "mae (mean of 2 targets, mixed units)" in rows and "r2 (mean of 2 targets)" in rows
    assert float(rows["rmse/t1"]) == pytest.approx(per[0], abs=1e-4)
    # one target: its own figures, plainly labelled
    one = _rows(format_table({"last": regression_metrics(y[:, 0], pred[:, 0], ["t1"])}))
    assert set(one) == {"rmse", "mae", "r2"} and float(one["rmse"]) == pytest.approx(per[0], abs=1e-4)
