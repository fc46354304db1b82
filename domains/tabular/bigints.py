"""Columns of integers beyond int64's range (``18446744073709551615``,
``12345678901234567890123``): account numbers, hashes and other ids written as digits.

pyarrow reads a column of integers as int64 and, when one of them does not fit, the whole
column as float64 (about 16 significant digits): 300 distinct 23-digit ids became two
categories, five 20-digit codes one (``18446744073709551616``, none of them), and a fill
came back ``1.8446744073709552e+19``. The readers (``reading.read_table`` and the streamed
ingest) read such a column as its text instead, so every cell is kept exactly as written;
the schema (``schema._infer_kind``) then tells what such numbers are by their lengths:

- identifiers or codes (account numbers, codes near 2**64) are written with one number of
  digits, nearly all of them (``SAME_LENGTH``), and hashes and random ids, spread over two
  lengths (a 64-bit hash has 20 digits or 19 about as often), are drawn evenly from 0 up to
  the largest (``_even``): an identifier (each value once: left out of the model, its cells
  kept as they are) or categories (a fill is a value seen in the column, exactly as
  written);
- magnitudes (amounts in wei, counts) spread over several orders, so over several lengths:
  read as categories, 353 amounts were cut to 256 categories and every fill was a value
  seen (error rate 1.0, where a number fills with nrmse 0.73), and a column of distinct
  amounts was an identifier left out of the model. They are numbers: the observed cells are
  kept exactly as written, the fills are integers exact to the 16 or so digits a float64
  holds (unless few values repeat as codes do: categories, as in a column of integers).
  The evidence must be strong, as a number fill of an id column invents ids that do not
  exist (a reviewer's 8 user hashes x 4 rows were filled with 7.45e18): the values spread
  over several lengths AND either most of them end in ``ROUND_ZEROS`` zeros (amounts in a
  small unit, as wei are) or at least ``MAG_MIN`` distinct values spread over
  ``MAG_ORDERS`` orders between their 10th and 90th percentiles (hashes and random ids
  spread over one). Anything less stays an identifier / categories.

The ingest option ``columns={<name>: numeric}`` (or ``categorical``) chooses either way. A
Parquet ``uint64`` column beyond int64, or Python ints beyond it in a DataFrame, are treated
the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from encoderkit.overrides import option_word

# a cell that writes an integer: digits with an optional sign, outer spaces aside (RE2 and re)
_INTEGER = r"^\s*[-+]?\d+\s*$"
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# the range as a warning names it: 2**63 fits 64 bits (as uint64), not int64
INT64_RANGE = f"{INT64_MIN} to {INT64_MAX}"
# ids and codes: at least this share of the values are written with one number of digits
SAME_LENGTH = 0.9
# hashes: at least so many values, within the Kolmogorov-Smirnov distance KS_EVEN / sqrt(n)
# (1% level) of an even draw from 0 to their largest
EVEN_MIN, KS_EVEN = 20, 1.63
# amounts: most values end in this many zeros (a small unit: wei), or at least MAG_MIN
# distinct values spread over MAG_ORDERS orders (10th to 90th percentile of |value|)
ROUND_ZEROS, ROUND_SHARE = 3, 0.5
MAG_MIN, MAG_ORDERS = 20, 1.5


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
    return (f"column {name!r} holds integers beyond int64's range ({INT64_RANGE}; such as "
            f"{example}): too long to be modelled as numbers exactly, so it is read as categories, every cell kept as "
            f"written and each fill a value seen in it; the ingest option "
            f"{option_word('columns', {name: 'numeric'})} models it as numbers (fills then exact to about "
            f"16 digits)")


def identifier_values(s: pd.Series) -> bool:
    """Whether the ``beyond_int64`` column ``s`` holds each of its values once (an id)."""
    present = s.dropna()
    return bool(len(present)) and bool(present.astype(str).str.strip().nunique() == len(present))


def magnitudes(s: pd.Series) -> bool:
    """Whether the ``beyond_int64`` column ``s`` holds quantities rather than ids or codes:
    fewer than ``SAME_LENGTH`` of its values share one number of digits, and they are not
    drawn evenly as a hash's are (module docstring). Lengths as written, sign and outer
    spaces aside (``007`` is a code of three digits)."""
    present = s.dropna()
    if not len(present):
        return False
    text = present.astype(str).str.strip()
    lengths = text.str.lstrip("+-").str.len()
    if lengths.value_counts(normalize=True).iloc[0] >= SAME_LENGTH:
        return False
    values = text.astype(np.float64).to_numpy()
    if _even(values):
        return False
    if float(text.str.endswith("0" * ROUND_ZEROS).mean()) >= ROUND_SHARE:
        return True
    if text.nunique() < MAG_MIN:
        return False
    low, high = np.percentile(np.abs(values), [10, 90])
    return bool(low > 0 and np.log10(high / low) >= MAG_ORDERS)


def _even(values: np.ndarray) -> bool:
    """Whether ``values`` look drawn evenly from 0 up to their largest, as hashes and random
    ids are (amounts pile up in their lower orders): at least ``EVEN_MIN`` of them, none
    negative, within the Kolmogorov-Smirnov distance ``KS_EVEN / sqrt(n)`` of that draw."""
    n = values.size
    if n < EVEN_MIN or values.min() < 0 or values.max() <= 0:
        return False
    u = np.sort(values / values.max())
    step = np.arange(1, n + 1) / n
    distance = max(float(np.max(step - u)), float(np.max(u - (step - 1.0 / n))))
    return distance < KS_EVEN / np.sqrt(n)


def magnitude_message(name: str, s: pd.Series) -> str:
    """What ingest says of a column ``beyond_int64`` read as numbers (``magnitudes``)."""
    lengths = s.dropna().astype(str).str.strip().str.lstrip("+-").str.len()
    return (f"column {name!r} holds integers beyond int64's range ({INT64_RANGE}), of {lengths.min()} to "
            f"{lengths.max()} digits: amounts, modelled as numbers (its cells kept as written, fills "
            f"exact to about 16 digits); the ingest option {option_word('columns', {name: 'categorical'})} reads "
            f"it as categories")
