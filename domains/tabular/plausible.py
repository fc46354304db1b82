"""A table's numeric fills under ``encoderkit.plausible_fills``'s rule, decided from what the
run's training data showed (the schema's statistics) and the rows being filled."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from encoderkit.plausible_fills import column_range, plausible_values


def _exact(z: float, col: Mapping[str, Any]) -> float:
    """The value whose normalised form is ``z`` (an edge of the column ``col``), back as the
    decimal it was written as: ``z * std + mean`` in float64 is off by a few units in the last
    place of its terms (0 came back as -1.7e-17, which would read as a negative value seen in
    training); within that of 0 it is 0, else 15 significant digits drop the error."""
    x = z * col["std"] + col["mean"]
    if abs(x) <= 8 * np.finfo(np.float64).eps * (abs(z * col["std"]) + abs(col["mean"])):
        return 0.0
    return float(f"{x:.15g}")


def training_range(col: Mapping[str, Any]) -> tuple[float, float] | None:
    """The smallest and largest value of a numeric column in the run's training rows: the
    first and last of its schema ``edges`` (unique quantiles 0 .. 1 of the normalised values,
    ``schema.py``); None for a column without them (a categorical one)."""
    edges = col.get("edges")
    if col.get("kind") != "numeric" or not edges:
        return None
    return _exact(edges[0], col), _exact(edges[-1], col)


def plausible_column(values: Any, column: pd.Series, col: Mapping[str, Any]) -> Any:
    """``values``, the fills of some missing cells of the numeric ``column`` (the rows being
    filled; schema entry ``col``), under ``plausible_numbers``. Dates are left alone."""
    if col.get("datetime"):
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
