"""Cells that stand for a missing value in a table read from a file: the marks files write
in a column of numbers (``.``, ``-``, ``missing``, Stata's ``.a``), a cell of only
whitespace or ``?``, and the ingest option ``missing_value`` (``-999``). Each rule works
column by column, so the whole-file reader (``reading.read_table``) and the streamed ingest
of a large table (``streaming.py``, one column at a time) apply the same code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from encoderkit.data.missing_marks import MISSING_MARKS, _STATA_MISSING, is_mark
from encoderkit.data.textfiles import COMMA_NUMBER

from domains.tabular.bigints import beyond_int64

# a cell of only spaces, tabs or other Unicode spaces, or a question mark among them (RE2
# syntax, as pyarrow.compute takes)
_MISSING_CELL = r"^[\s\p{Zs}]*\??[\s\p{Zs}]*$"


def missing_cells(table: Any) -> list[str]:
    """The distinct cells of ``table``'s text columns that hold only whitespace, or a ``?``.
    Such a cell is missing: a CSV written as ``a , b`` with blanks padded to the column width
    read it as the category ``' '``, so ``impute`` found "no missing cell" to fill; and ``?``
    is how the UCI repository's tables (and the files made from them) mark a missing value:
    read as text it made every number column of such a file a column of categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found: set[str] = set()
    for fld, col in zip(table.schema, table.columns):
        if pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type):
            blank = pc.match_substring_regex(col, _MISSING_CELL)
            found.update(pc.unique(pc.filter(col, blank)).to_pylist())
    return sorted(found)


def comma_column(fld: Any, col: Any) -> str | None:
    """What one column of a text table read with a decimal point says of a decimal comma:
    ``"point"`` (numbers with a fraction: 2.25, so the point is the file's decimal mark),
    ``"comma"`` (text whose every cell is a number written with a decimal comma, one at least
    with a fraction, ``MISSING_MARKS`` aside), or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(fld.type):
        values = pc.drop_null(col)
        if len(values) and pc.any(pc.not_equal(values, pc.floor(values))).as_py():
            return "point"
    elif (pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type)) and col.null_count < len(col):
        values = pc.drop_null(col)
        word = pc.utf8_lower(pc.utf8_trim_whitespace(values))
        mark = pc.or_(pc.is_in(word, value_set=pa.array(sorted(MISSING_MARKS))),
                      pc.match_substring_regex(word, _STATA_MISSING))
        values = pc.filter(values, pc.invert(mark))  # holes beside the numbers
        if len(values) and pc.all(pc.match_substring_regex(values, COMMA_NUMBER)).as_py() and \
                pc.any(pc.match_substring(values, ",")).as_py():
            return "comma"
    return None


def _to_numbers(text: pd.Series, decimal: str) -> Any:
    """The text column ``text`` as numbers when every cell it holds is one (read with the
    decimal mark ``decimal``; integers as pandas' nullable ``Int64``, as the reader gives them:
    473, not 473.0), else None (words beside the numbers: the schema's ``numeric_fraction``
    decides)."""
    given = text.astype("string").str.strip()
    if decimal == ",":
        given = given.where(~given.str.match(COMMA_NUMBER).fillna(False),
                            given.str.replace(",", ".", regex=False))
    values = pd.to_numeric(given, errors="coerce")
    if values[text.notna().to_numpy()].isna().any():
        return None
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if (np.isnan(numbers) | (np.mod(numbers, 1.0) == 0.0)).all():
        if (np.abs(numbers) >= 2.0 ** 63).any() and beyond_int64(text):
            return text  # integers beyond int64: kept as their text, exactly (bigints.py)
        return pd.Series(numbers, index=text.index, dtype="Float64").astype("Int64")
    return numbers


def marked_numbers(frame: pd.DataFrame, decimal: str = ".") -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with each text column whose cells are numbers but for ``MISSING_MARKS``
    (``.``, ``-``, ``missing``, Stata's ``.a``) as numbers, those cells missing; and a message
    per column. Columns of other text are left as they are."""
    out, said = frame, []
    for j, name in enumerate(frame.columns):
        s = frame.iloc[:, j]  # by position: two columns may share a name (refused later, named)
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype) or \
                isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.infer_dtype(s, skipna=True) != "string":
            continue
        marks = is_mark(s)
        if not marks.any() or not (s.notna().to_numpy() & ~marks).any():
            continue
        numbers = _to_numbers(s.where(~marks), decimal)
        if numbers is None:
            continue
        if out is frame:
            out = frame.copy()
        out.isetitem(j, numbers)
        shown = sorted(map(str, pd.unique(s[marks].astype(str).str.strip())))[:3]
        said.append(f"column {str(name)!r}: {int(marks.sum())} cell(s) {', '.join(map(repr, shown))} "
                    f"read as missing values")
    return out, said


def sentinel_counts(frame: pd.DataFrame, value: Any, decimal: str = ".") -> tuple[pd.DataFrame, dict[str, int]]:
    """``frame`` with every cell equal to ``value`` (the ingest option ``missing_value``:
    ``-999``, a word, or a list of them) missing, in number columns by value and in text
    columns by its text (a text column left with numbers only is then numbers, read with
    ``decimal``); and how many cells of each column were."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    words = {str(v).strip() for v in values}
    # the ones that are numbers ("-999" too) match number columns by value; words match text
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").dropna().to_numpy(np.float64)
    out, counts = frame.copy(), {}
    for j, name in enumerate(frame.columns):
        s = frame.iloc[:, j]  # by position: two columns may share a name (refused later, named)
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            hit = np.isin(s.to_numpy(dtype=np.float64, na_value=np.nan), numbers)
        else:
            text = s.astype("string").str.strip()
            hit = text.isin(words).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            holed = s.mask(hit)
            as_numbers = None if pd.api.types.is_numeric_dtype(s.dtype) else _to_numbers(holed, decimal)
            out.isetitem(j, holed if as_numbers is None else as_numbers)
            counts[str(name)] = int(hit.sum())
    return (out, counts) if counts else (frame, counts)


def sentinel_message(value: Any, counts: dict[str, int]) -> list[str]:
    """What ``sentinel_counts``' ``counts`` (column -> cells) say, in one line."""
    if not counts:
        return []
    shown = ", ".join(f"{k} {n}" for k, n in list(counts.items())[:5])
    return [f"{sum(counts.values())} cell(s) equal to missing_value={value!r} read as missing ({shown})"]


def sentinel_cells(frame: pd.DataFrame, value: Any, decimal: str = ".") -> tuple[pd.DataFrame, list[str]]:
    """``sentinel_counts``, and a message naming the columns and counts."""
    out, counts = sentinel_counts(frame, value, decimal)
    return out, sentinel_message(value, counts)
