"""Which kind a table column is read as (numeric or categorical) when the ingest options do
not say, and which text columns are identifiers (each value once) rather than categories."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from encoderkit.data.textforms import ascii_width, wide_text

from domains.tabular.bigids import spread_ids
from domains.tabular.bigints import beyond_int64, magnitudes
from domains.tabular.numcodes import MAX_CODES as CODES_MAX
from domains.tabular.numcodes import collapsing_counts
from domains.tabular.values import _is_datetime, _is_timedelta, missing_marks, numeric_values

# an integer column is read as category codes only when each code is seen this many times on
# average: a handful of distinct counts in a small table (7 values in 17 rows) are numbers
CODE_REPEATS = 5


def _codes(values: np.ndarray, threshold: int) -> bool:
    """Whether the integers ``values`` (observed cells) look like category codes rather
    than counts or measurements: at most ``threshold`` distinct values, and either two
    (yes / no as 0 / 1) or each seen ``CODE_REPEATS`` times on average (a category has to
    be seen a few times to be learnt as one). A code column is filled with a value seen in
    it; a number column with a number (rounded to an integer), which for a small table's
    counts, such as 0, 1, 4, 6, 37 executions in 17 states, is the better fill: read as
    codes, a hidden 4 was filled with 37 (an unordered category says nothing of which
    codes are near), 19x the error of the column mean."""
    distinct = np.unique(values)
    if distinct.size > threshold:
        return False
    return bool(distinct.size <= 2 or values.size >= CODE_REPEATS * distinct.size)


# fewer observed values than this, and a column of distinct words may still be categories
IDENTIFIER_MIN = 5


def _infer_kind(s: pd.Series, opts: Mapping[str, Any]) -> str:
    if _is_datetime(s) or _is_timedelta(s):
        return "numeric"
    if wide_text(s):  # ２２９．６, ０１２３: judged as their ASCII twins are (review r2)
        return _infer_kind(_ascii_twin(s), opts)
    if beyond_int64(s):  # ids and codes of 20 digits: no float holds them; amounts are numbers (bigints.py)
        # ids of several lengths spread as amounts do, but with their digits drawn evenly (bigids.py)
        return "numeric" if magnitudes(s) and not spread_ids(s) and \
            not _codes(numeric_values(s), opts["categorical_threshold"]) else "categorical"
    if pd.api.types.is_bool_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_integer_dtype(s.dtype):
        # counted as the integers they are: as float64, the 19-digit codes 1456789012345678901
        # and ...917 were one value (float64 holds about 16 digits), so distinct codes were
        # counted as fewer, and int64 values near its limits as 2 (codes, filled -2**63)
        return "categorical" if _codes(s.dropna().to_numpy(), opts["categorical_threshold"]) else "numeric"
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = s.dropna().to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):  # inf: not integral; refused below, column named
            integral = bool(np.all(np.mod(v, 1.0) == 0.0))
        return "categorical" if integral and _codes(v, opts["categorical_threshold"]) else "numeric"
    present = s.dropna()
    # a boolean column with holes comes as object (True / False / None): pd.to_numeric
    # would read it as 0 / 1 and fill 0.37; it is two categories
    if s.dtype == object and pd.api.types.infer_dtype(present, skipna=True) == "boolean":
        return "categorical"
    # digits led by a zero (zip codes 02139, FIPS 01001) are codes, written as such
    if pd.api.types.infer_dtype(present, skipna=True) == "string" and \
            present.astype(str).str.strip().str.fullmatch(r"0\d+").any():
        return "categorical"
    if _collapsing(present) is not None:  # 3.1 beside 3.10: codes (numcodes.py)
        return "categorical"
    # text: numeric if nearly every cell parses as a number (a stray "abc" is missing), not
    # counting the cells that mark a missing value ("." / "-", however many)
    rest = present[~missing_marks(present)]
    if len(rest) and _number_share(rest) >= opts["numeric_fraction"]:
        return "numeric"
    return "categorical"


# Python values pandas gives for the cells of a nested Arrow column (list: ndarray or list,
# struct: dict, map: a list of (key, value) tuples)
_NESTED_CELLS = (np.ndarray, list, dict, set)


def nested_type(s: pd.Series) -> str | None:
    """The type of the column ``s`` when its cells are nested values (a Parquet list, struct
    or map column; an Arrow-backed one), else None. Such a cell is no number and no category
    (no value count: an array is unhashable, so ingest met a TypeError naming no column):
    the column is left out of the model, kept as read (``nested_message``)."""
    dtype = s.dtype
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        return str(dtype.pyarrow_dtype) if pa.types.is_nested(dtype.pyarrow_dtype) else None
    if dtype != object:
        return None
    present = s.dropna()
    if pd.api.types.infer_dtype(present, skipna=True) != "mixed":  # text, numbers, dates: C-speed
        return None
    kinds = sorted({_NESTED_NAMES.get(type(v).__name__, "list") if not isinstance(v, list) or
                    not v or not all(isinstance(x, tuple) for x in v) else "map"
                    for v in present if isinstance(v, _NESTED_CELLS)})
    return f"nested values ({' / '.join(kinds)})" if kinds else None


# a nested cell's Python type -> the Arrow type it came from (a map's cell: a list of tuples)
_NESTED_NAMES = {"dict": "struct", "set": "set"}


def nested_message(name: str, type_: str) -> str:
    """What ingest says of the column ``name`` whose cells are nested (``nested_type``)."""
    return (f"column {name!r} holds {type_}: neither numbers nor categories, so it is left out "
            f"of the model, its cells kept as they are")


def _ascii_twin(s: pd.Series) -> pd.Series:
    """The full-width text column ``s`` as an ASCII file's reader gives it: integers (nullable)
    when every cell is one and none is led by a zero (``０１２３`` is a code, kept as text, so the
    code rules below see it), else its cells in ASCII. Without it the integer codes ``１０１``,
    ``２０２`` and the zip codes ``００７８`` were numbers, filled with made-up values."""
    text = s.map(ascii_width, na_action="ignore")
    present = text.dropna().astype(str).str.strip()
    if present.str.fullmatch(r"[+-]?\d+").all() and not present.str.fullmatch(r"[+-]?0\d+").any():
        return pd.to_numeric(text, errors="coerce").astype("Int64")
    return text


def _collapsing(text: pd.Series) -> tuple[str, str] | None:
    """``numcodes.collapsing`` of a text column (no missing cell), counted by pandas."""
    if text.nunique() > CODES_MAX:
        return None
    return collapsing_counts(text.astype(str).value_counts().to_dict())


def _number_share(text: pd.Series) -> float:
    """The share of the cells of ``text`` (no missing cell) that ``numeric_values`` reads as
    numbers. Each distinct text of pandas' ``str`` dtype is read once: reading every cell
    made a Python object of each (about 100 bytes a cell: 0.2 GB for a column of 1.75M rows
    of eight words), for the same share (whether a text is a number depends on it alone)."""
    if text.dtype != "str":
        return float((~np.isnan(numeric_values(text))).mean())
    codes, distinct = pd.factorize(text)
    return float((~np.isnan(numeric_values(pd.Series(distinct))))[codes].mean())

