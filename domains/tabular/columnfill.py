"""Fills written into a table column (``fill_column``), in the column's own dtype and, for
text, in the form of its cells; a datetime fill rounded to the column's own time unit."""

from __future__ import annotations

import re
import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from encoderkit.numerics import held_in_dtype, whole_in_dtype
from encoderkit.session_state import warnings_kept

from domains.tabular.cells import like_observed
from domains.tabular.values import _datetime_ns, _is_date_objects, _is_datetime, _is_timedelta

def _round_to_unit(ns: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """``ns`` rounded to the coarsest unit of ``_UNITS_NS`` every ``observed`` value is a multiple of."""
    unit = next((u for u in _UNITS_NS if not np.any(observed % u)), 1)
    return np.round(ns / unit).astype(np.int64) * unit


# time units a datetime fill is rounded to: the coarsest that every observed value is a
# multiple of (a column of dates gets dates, not 19:23:28.649388)
_UNITS_NS = (86_400 * 10**9, 3_600 * 10**9, 60 * 10**9, 10**9, 10**6, 10**3, 1)


def _is_number(v: Any) -> bool:
    """A real number (not a bool, not text): what a column of numbers can hold."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _is_integer(v: Any) -> bool:
    """An integer value (a category code kept as JSON), not a float that happens to be whole."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


# kinds of observed cells a category keeps as they are (text, numbers, booleans)
_PLAIN_KINDS = ("string", "integer", "floating", "mixed-integer-float", "boolean", "empty")


def own_values(fill: Sequence[Any], observed: Any) -> list[Any]:
    """Each fill that is the text of an observed value which is not text, a number or a
    boolean (an Interval, a tuple, a Period: the schema keeps such a category as
    ``str(value)``, ``values._json_value``) as that value itself: a fill is one of the
    column's own values, of its type (an interval column came back as object, its fills
    the text '(28.0, 29.0]' beside Interval cells). A text no observed cell writes stays."""
    fill = list(fill)
    if not any(isinstance(v, str) for v in fill):
        return fill
    cells = _distinct(np.asarray(observed, dtype=object))
    named: dict[str, Any] = {}
    if pd.api.types.infer_dtype(cells, skipna=True) not in _PLAIN_KINDS:  # else none kept as its text
        for v in cells:
            if not isinstance(v, (str, bytes, bool, np.bool_, int, float, np.number)) and v is not None:
                named.setdefault(str(v), v)
    interval = getattr(observed, "dtype", None)  # an IntervalIndex of categories, an interval column
    parse = (lambda text: _interval(text, interval)) if isinstance(interval, pd.IntervalDtype) else (lambda t: t)
    return [named[v] if isinstance(v, str) and v in named else parse(v) if isinstance(v, str) else v
            for v in fill]


def _interval(text: str, dtype: pd.IntervalDtype) -> Any:
    """The Interval of ``dtype`` whose text is ``text`` (a category no cell of the filled rows
    holds: a model filling another table), or ``text`` where it writes none."""
    m = re.fullmatch(r"[(\[](.+), (.+)[)\]]", text)
    if m is None:
        return text
    try:
        left, right = pd.Series([m[1], m[2]]).astype(dtype.subtype)
    except (TypeError, ValueError):
        return text
    return pd.Interval(left, right, closed=dtype.closed)


def _distinct(cells: np.ndarray) -> Any:
    """``cells`` without repeats; all of them where some cannot be hashed (lists)."""
    try:
        return pd.unique(cells)
    except TypeError:
        return cells


def fill_column(s: pd.Series, fill: np.ndarray, rows: np.ndarray) -> pd.Series:
    """Write ``fill`` (python values) at ``rows`` of ``s`` keeping its dtype where possible,
    and in a text or object column the form of its cells (``cells.like_observed``)."""
    out = s.copy()
    if not rows.any():
        return out
    dtype = s.dtype
    idx = np.flatnonzero(rows)
    if _is_datetime(s):
        tz = getattr(dtype, "tz", None)
        # rounded on the wall clock (a column of local midnights gets local midnights)
        observed, ok = _datetime_ns(s.dt.tz_localize(None) if tz is not None else s)
        ns = np.asarray(fill, dtype=np.float64).astype(np.int64)
        offset = np.zeros_like(ns)
        if tz is not None:  # wall clock - UTC, per value
            wall = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True)).tz_convert(tz).tz_localize(None)
            offset = wall.as_unit("ns").asi8 - ns
        ns = _round_to_unit(ns + offset, observed[ok]) - offset
        if _is_date_objects(s):
            values = out.to_numpy(dtype=object).copy()
            values[idx] = list(pd.to_datetime(ns, unit="ns").date)
            return pd.Series(values, index=s.index, name=s.name, dtype=object)
        vals = pd.Series(pd.to_datetime(ns, unit="ns", utc=tz is not None))
        if tz is not None:
            vals = vals.dt.tz_convert(tz)
        out.iloc[idx] = vals.astype(dtype).to_numpy()
        return out
    if _is_timedelta(s):
        observed, ok = _datetime_ns(s)
        ns = _round_to_unit(np.asarray(fill, dtype=np.float64), observed[ok])
        out.iloc[idx] = pd.to_timedelta(ns, unit="ns").astype(dtype).to_numpy()
        return out
    if isinstance(dtype, pd.CategoricalDtype):
        fill = like_observed(fill, dtype.categories)  # the category '6' for the fill 6
        fill = own_values(fill, dtype.categories)  # pd.cut's Interval categories, not their text
        new = [v for v in dict.fromkeys(fill) if v not in dtype.categories]
        if new:
            out = out.cat.add_categories(new)
        out.iloc[idx] = list(fill)
        return out
    if pd.api.types.is_bool_dtype(dtype) or dtype == object or pd.api.types.is_string_dtype(dtype) \
            or not pd.api.types.is_numeric_dtype(dtype):  # text, or categories such as Period values
        values = out.to_numpy(dtype=object).copy()
        # as the column writes its cells: '6' beside '6' (not the category 6), '49' not '49.0'
        seen = values[s.notna().to_numpy()]
        values[idx] = like_observed(fill, seen)
        if not isinstance(dtype, pd.StringDtype):  # a text dtype holds text only
            values[idx] = own_values(values[idx], s.array[s.notna().to_numpy()])
        if dtype == object:
            return pd.Series(values, index=s.index, name=s.name, dtype=object)
        try:
            return pd.Series(values, index=s.index, name=s.name).astype(dtype)
        except (TypeError, ValueError):  # a category as text that the dtype cannot parse back
            return pd.Series(values, index=s.index, name=s.name, dtype=object)
    np_dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))  # Int64 / Float32 -> int64 / float32
    fill = list(fill)
    if not all(_is_number(v) for v in fill):
        # categories that are text in a column pandas holds as numbers (an all-missing text
        # column is float64 NaN): as an object column, the cells as they are
        values = out.to_numpy(dtype=object).copy()
        values[idx] = fill
        return pd.Series(values, index=s.index, name=s.name, dtype=object)
    if np.issubdtype(np_dtype, np.integer) and all(_is_integer(v) for v in fill) and \
            all(np.iinfo(np_dtype).min <= int(v) <= np.iinfo(np_dtype).max for v in fill):
        # category codes, as exact integers: through float64, the 19-digit code
        # 1456789012345678901 was written 1456789012345678848, a code that does not exist
        with warnings_kept():
            warnings.simplefilter("ignore", FutureWarning)
            out.iloc[idx] = np.array([int(v) for v in fill], dtype=np_dtype)
        return out if out.dtype == dtype else out.astype(dtype)
    # rounded (integers) and within the dtype's range: a float32 column's fill of 3.5e38, or a
    # float64 one's overflow upstream, was written inf
    fill = np.asarray(fill, dtype=np.float64)
    fill = whole_in_dtype(fill, np_dtype) if np.issubdtype(np_dtype, np.integer) else \
        held_in_dtype(fill, np_dtype).astype(np_dtype)
    with warnings_kept():
        warnings.simplefilter("ignore", FutureWarning)  # pandas' upcast notice; we cast back below
        out.iloc[idx] = fill
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out
