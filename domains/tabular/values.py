"""A table column's cells as values: numbers (float64; datetimes and timedeltas as
nanoseconds), category values as JSON, and the one policy for the cells of a numeric column
that are not numbers (``column_numbers``)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from encoderkit.data.textforms import ascii_width, wide_text
from encoderkit.errors import DataError

from domains.tabular import reading

def _json_value(v: Any) -> Any:
    """numpy / pandas scalar -> a JSON-native value (categories must survive json)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else v
    return str(v)


def _is_date_objects(s: pd.Series) -> bool:
    """An object column of ``datetime.date`` values: how pyarrow hands over a CSV column of
    ``2020-01-31`` cells or a Parquet date32 column."""
    return s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "date"


def _is_datetime(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(s.dtype) or _is_date_objects(s)


def _is_timedelta(s: pd.Series) -> bool:
    return pd.api.types.is_timedelta64_dtype(s.dtype)


def _datetime_ns(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A datetime (or date) column as int64 nanoseconds since the epoch, a timedelta column
    as int64 nanoseconds, and where observed."""
    ok = s.notna().to_numpy()
    out = np.zeros(len(s), dtype=np.int64)
    if ok.any():
        # as_unit: pandas keeps s/ms/us/ns resolutions; the schema always speaks nanoseconds
        t = s[ok] if _is_timedelta(s) else pd.to_datetime(s[ok])
        out[ok] = t.dt.as_unit("ns").astype("int64").to_numpy()
    return out, ok


def numeric_values(s: pd.Series) -> np.ndarray:
    """A numeric or datetime column as float64 (datetimes: nanoseconds since the epoch;
    timedeltas: nanoseconds; pd.to_numeric would read NaT as -9.2e18)."""
    if _is_datetime(s) or _is_timedelta(s):
        ns, ok = _datetime_ns(s)
        out = np.full(len(s), np.nan)
        out[ok] = ns[ok].astype(np.float64)
        return out
    # to_numpy with na_value: an Arrow or nullable column's pd.NA as NaN (pd.to_numeric of an
    # Arrow string column holds NaN for its words, NA for its holes: a notna() test of it
    # took every word for a number). A column of numbers goes this way too: pd.to_numeric
    # of an Arrow decimal with nulls gave fewer values than rows, of an Arrow halffloat a
    # TypeError (pandas has no nullable float16)
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    if wide_text(s):  # ２２９．６ as 229.6: pandas reads no full-width digit (textforms.ascii_width)
        s = s.map(ascii_width, na_action="ignore")
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def missing_marks(s: pd.Series) -> np.ndarray:
    """Which cells of ``s`` are one of ``MISSING_MARKS`` or Stata's ``.a`` .. ``.z`` (any case,
    outer spaces ignored)."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return np.zeros(len(s), dtype=bool)
    return reading.is_mark(s)


def row_name(s: pd.Series, i: int, source: str | None, rows: np.ndarray | None = None) -> str:
    """Position ``i`` of ``s`` as its reader counts it: the file's 1-based data row (a
    header line not counted; ``rows``: the file's 0-based data row of each position of
    ``s``, where rows were left out before, such as rows with no cell), or the DataFrame's
    index label given from Python."""
    if source:
        return f"data row {(int(rows[i]) if rows is not None else i) + 1}"
    return f"row {s.index[i]}"


def column_numbers(s: pd.Series, name: str, opts: Mapping[str, Any],
                   source: str | None = None, rows: np.ndarray | None = None) -> tuple[np.ndarray, str | None]:
    """The cells of the numeric column ``name`` as float64 (``numeric_values``) under the one
    policy every reader applies (ingest, impute, predict / embed / infill on a raw table), and
    the warning to give, if any. ``opts``: the ingest options the schema was made with.

    An infinite value is a ``DataError`` (as scikit-learn's imputers: not a value, not missing
    either). A cell that is not a number (``abc``, ``n/a``) is missing, with a warning naming
    the count, examples and first row; it is a ``DataError`` with ``strict``, or when the
    column is mostly such cells (fewer than ``numeric_fraction`` of its cells are numbers, so
    ingest would not have read it as numbers) unless ``columns`` forced it numeric. At
    predict time such a column was read as all missing, its predictions those of an empty
    column, without a word. ``source``, ``rows``: the file, and its data rows (``row_name``)."""
    v = numeric_values(s)
    where = f"{source}: " if source else ""
    with np.errstate(invalid="ignore"):
        inf = np.isinf(v)
    if inf.any():
        # a file's 1e400 is read as inf (beyond float64's largest, about 1.8e308): said so, as
        # "infinite value" alone sent the user looking for an inf that the file does not hold
        raise DataError(f"column {name!r} holds {int(inf.sum())} infinite value(s) (first at "
                        f"{row_name(s, int(np.flatnonzero(inf)[0]), source, rows)}); a number beyond "
                        f"float64's range (about ±1.8e308, such as 1e400) is read as infinite: make "
                        f"them empty (missing) or finite numbers within that range", file=source)
    given = s.notna().to_numpy()
    text = given & np.isnan(v)
    if not text.any():
        return v, None
    count, present = int(text.sum()), int(given.sum())
    marked = int((text & missing_marks(s)).sum())  # "." / "-": holes, not stray text
    examples = list(s[text].astype(str).unique()[:3])
    first = int(np.flatnonzero(text)[0])
    at = row_name(s, first, source, rows)
    said = f"column {name!r}: {count} non-numeric cell(s) such as {examples} (first at {at})"
    if opts.get("strict"):
        raise DataError(f"{said} (strict=true)", file=source)
    fraction = float(opts.get("numeric_fraction", 0.9))
    if present > marked and 1.0 - (count - marked) / (present - marked) < fraction and \
            (opts.get("columns") or {}).get(name) != "numeric":
        raise DataError(f"column {name!r}: {count} of its {present} non-empty cells are not numbers "
                        f"(such as {examples}, first at {at}), but the model reads it as numbers "
                        f"(ingest does when at least {fraction:.0%} of a column's cells are): check "
                        f"that the column holds what it held in training", file=source)
    return v, f"{where}{said} read as missing"
