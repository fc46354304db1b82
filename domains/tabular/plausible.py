"""A table's numeric fills under ``encoderkit.plausible_fills``'s rule, decided from what the
run's training data showed (the schema's statistics) and the rows being filled."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from encoderkit.plausible_fills import column_range, is_deferred, plausible_values


def training_range(col: Mapping[str, Any]) -> tuple[float, float] | None:
    """The smallest and largest value of a numeric column in the data the run was fitted on,
    every row of it (``low`` / ``high`` of its schema entry, ``schema.py``); None for a column
    without them: a categorical one, or a schema written before they were recorded. Not the
    schema's quantile ``edges``: those are of the training split only, so a negative value
    in a validation row would go unseen and a column that holds negatives be clipped at 0."""
    if col.get("kind") != "numeric" or "low" not in col or "high" not in col:
        return None
    return float(col["low"]), float(col["high"])


def plausible_column(values: Any, column: pd.Series, col: Mapping[str, Any]) -> Any:
    """``values``, the fills of some missing cells of the numeric ``column`` (the rows being
    filled; schema entry ``col``), under ``plausible_numbers``. Dates are left alone, and so
    is every fill while the caller applies the rule where its fill is final
    (``plausible_fills.deferred``: ``encoderkit impute``)."""
    if col.get("datetime") or is_deferred():
        return values
    from domains.tabular.values import numeric_values

    return plausible_numbers(values, numeric_values(column), col)


def plausible_numbers(values: Any, seen: np.ndarray, col: Mapping[str, Any] | None) -> np.ndarray:
    """``values`` (fills of a numeric column whose cells in the rows being filled are ``seen``,
    float64, NaN where missing; schema entry ``col``, None: none) under the rule of
    ``encoderkit.plausible_fills``: a bound holds where the training rows and ``seen`` both keep
    to it; the fills snap to the values of ``seen`` and the training min / max."""
    known = training_range(col) if col is not None else None
    return plausible_values(np.asarray(values, dtype=np.float64), column_range(seen, known))
