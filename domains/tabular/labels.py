"""The original values of a label column from a tabular store's records
(``TabularDomain.label_values``, for ``task.label_column``): numbers back in the table's own
units and digits, categories by name; importable from ``domain`` as before.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from encoderkit.errors import DataError


def label_values_of(domain: Any, records: Sequence[Mapping[str, Any]], column: str) -> np.ndarray:
    """``domain.label_values(records, column)`` of a ``TabularDomain`` (see there)."""
    names = [str(c["name"]) for c in domain.columns]
    why = (domain.schema.get("dropped") or {}).get(column)
    if column not in names and why:  # "not in the table" read as a typo
        raise DataError(f"task.label_column={column!r}: ingest dropped that column because {why}, "
                        f"so it holds no label")
    if column not in names:
        raise KeyError(f"column {column!r} is not in the table; columns: {names}")
    inputs = [n for n in names if n != column and n not in set(map(str, domain.options["drop_columns"]))]
    if not inputs:  # every record would featurise to no token: training could never start
        raise DataError(f"task.label_column={column!r} is the only input column of the table: "
                        f"nothing is left to predict it from (columns: {names})")
    j = names.index(column)
    col = domain.columns[j]
    out = np.full(len(records), np.nan, dtype=object)
    at = [np.flatnonzero(np.asarray(rec["column"]) == j) for rec in records]
    have = np.array([a.size > 0 and bool(np.asarray(rec["observed"])[a[0]])
                     for a, rec in zip(at, records)], dtype=bool)
    rows = np.flatnonzero(have)
    if domain.layout.is_numeric[j]:
        z = np.array([np.asarray(records[i]["num"])[at[i][0]] for i in rows], dtype=np.float32)
        for i, v in zip(rows, _stored_numbers(z, col)):
            out[i] = v
        return out
    codes = np.array([int(np.asarray(records[i]["cat"])[at[i][0]]) for i in rows], dtype=np.int64)
    if (codes == 0).any():
        first = records[rows[np.flatnonzero(codes == 0)[0]]]
        raise DataError(f"task.label_column={column!r}: record {first.get('id', '?')!r} holds a value "
                        f"of the column that the store does not keep (it keeps "
                        f"{len(col['categories'])} categories: the most frequent in the training "
                        f"rows, at most ingest's max_categories, default 256); re-ingest with "
                        f"max_categories=<the column's number of values> or give the labels "
                        f"in a file with task.labels=<file>")
    for i, code in zip(rows, codes):
        out[i] = col["categories"][code - 1]
    return out


def _stored_numbers(z: np.ndarray, col: Mapping[str, Any]) -> list[Any]:
    """Numbers of a column from their stored float32 standardised values ``z``: each the
    shortest decimal within the float32 rounding of its ``z`` (an int in an integer column)."""
    x = z.astype(np.float64) * col["std"] + col["mean"]
    # half a float32 ulp of z (the cast at ingest), and float64 round-off of the arithmetic
    bound = ((np.abs(z.astype(np.float64)) * 2.0 ** -24 + 2.0 ** -149) * col["std"]
             + (np.abs(x) + abs(col["mean"])) * 2.0 ** -50)
    out = x.copy()
    todo = np.ones(len(x), dtype=bool)
    for k in range(18):
        r = np.round(x, k)
        ok = todo & (np.abs(r - x) <= bound)
        out[ok] = r[ok]
        todo &= ~ok
        if not todo.any():
            break
    if col.get("integer") and not col.get("datetime"):
        return [int(v) if v.is_integer() else v for v in map(float, out)]
    return [float(v) for v in out]
