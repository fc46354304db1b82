"""Columns of integers beyond the 64-bit range (``18446744073709551615``,
``12345678901234567890123``): account numbers, hashes and other ids written as digits.

pyarrow reads a column of integers as int64 and, when one of them does not fit, the whole
column as float64 (about 16 significant digits): 300 distinct 23-digit ids became two
categories, five 20-digit codes one (``18446744073709551616``, none of them), and a fill
came back ``1.8446744073709552e+19``. The readers (``reading.read_table`` and the streamed
ingest) read such a column as its text instead, so every cell is kept exactly as written;
the schema (``schema._infer_kind``) then treats it as what such numbers nearly always are,
identifiers or codes: an identifier (each value once: left out of the model, its cells kept
as they are) or categories (a fill is a value seen in the column, exactly as written), not
a quantity. The ingest option ``columns={<name>: numeric}`` still models it as a number; its
fills are then integers exact to the 16 or so digits a float64 holds. A Parquet ``uint64``
column beyond int64, or Python ints beyond it in a DataFrame, are treated the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# a cell that writes an integer: digits with an optional sign, outer spaces aside (RE2 and re)
_INTEGER = r"^\s*[-+]?\d+\s*$"
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def overflow_candidates(table: Any) -> list[int]:
    """The float64 columns of the Arrow ``table`` (positions) holding a whole number beyond
    int64: what pyarrow reads a column of integers as when one of them does not fit int64.
    Cheap (a min and a max per float column); ``integer_text`` tells such a column from one
    of floats written ``1e20``."""
    return [j for j, (fld, col) in enumerate(zip(table.schema, table.columns)) if beyond_float(fld, col)]


def beyond_float(fld: Any, col: Any) -> bool:
    """Whether the float column ``col`` (of the field ``fld``) holds a value at least 2**63
    in magnitude (``overflow_candidates``); False for any other type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_floating(fld.type) or col.null_count == len(col):
        return False
    bounds = pc.min_max(col).as_py()
    low, high = bounds["min"], bounds["max"]
    return bool((high is not None and np.isfinite(high) and high >= 2.0 ** 63)
                or (low is not None and np.isfinite(low) and low < -(2.0 ** 63)))


def integer_text(col: Any) -> bool:
    """Whether every non-missing cell of the Arrow text column ``col`` writes an integer
    (``integer_text`` of a column read as text after ``overflow_candidates`` named it)."""
    import pyarrow.compute as pc

    present = pc.drop_null(col)
    return len(present) > 0 and bool(pc.all(pc.match_substring_regex(present, _INTEGER)).as_py())


def beyond_int64(s: pd.Series) -> bool:
    """Whether the column ``s`` holds integers of which one at least lies beyond int64, as
    the readers hand such a column over (text of digits), or as Python gives it (``uint64``,
    or an object column of Python ints)."""
    if pd.api.types.is_unsigned_integer_dtype(s.dtype):
        present = s.dropna()
        return bool(len(present)) and int(present.max()) > INT64_MAX
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return False  # int64 fits, float64 holds no integer exactly beyond 2**53 anyway
    present = s.dropna()
    if not len(present):
        return False
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind == "integer":  # Python ints (pandas keeps those beyond int64 as objects)
        return any(isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX for v in present)
    if kind != "string":
        return False
    text = present.astype(str)
    if not text.str.fullmatch(_INTEGER).all():
        return False
    digits = text.str.strip().str.lstrip("+-").str.lstrip("0")
    long = digits.str.len() >= 19  # 2**63 has 19 digits: shorter ones fit
    return any(not INT64_MIN <= int(t) <= INT64_MAX for t in text[long.to_numpy()])


def big_integer_message(name: str, s: pd.Series) -> str:
    """What ingest says of a column ``beyond_int64`` read as categories."""
    example = next((str(v).strip() for v in s.dropna() if not INT64_MIN <= int(str(v).strip()) <= INT64_MAX), "")
    return (f"column {name!r} holds integers beyond the 64-bit range (such as {example}): too long "
            f"to be modelled as numbers exactly, so it is read as categories, every cell kept as "
            f"written and each fill a value seen in it; the ingest option "
            f"'columns={{{name}: numeric}}' models it as numbers (fills then exact to about 16 digits)")


def identifier_values(s: pd.Series) -> bool:
    """Whether the ``beyond_int64`` column ``s`` holds each of its values once (an id)."""
    present = s.dropna()
    return bool(len(present)) and bool(present.astype(str).str.strip().nunique() == len(present))
