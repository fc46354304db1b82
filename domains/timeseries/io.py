"""Raw time-series files -> a list of series ``[C, L]`` float64 (NaN = unobserved).

Formats:
- CSV, *wide*: one column per channel, rows are time steps; an optional time column
  (rows are sorted by it) and an optional series-id column (many series in one file).
- CSV, *long*: one value per row (``value_column``), with optional ``channel_column``,
  ``time_column`` and ``series_column``; pivoted to ``[C, L]`` per series.
- ``.npy``: ``[L]`` (one univariate series), ``[C, L]`` (one series) or ``[N, C, L]``.
- ``.npz``: every array is read as above; unequal lengths go in separate arrays
  (object arrays would need pickle, which is refused). Every member must be a ``.npy``.
- Arrays hold real numbers (float, int, bool); complex ones are refused, not cast.
"""

from __future__ import annotations

import math
import os
import re
import tokenize
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import (COMMA_NUMBER, check_decimal, check_row_widths, delimiter,
                                      keep_integer_columns)
from encoderkit.errors import DataError, reading
from encoderkit.numerics import F32_MAX, F32_TINY

from .layout import drop_blank_empty
from .marks import marked, marks_message, sentinel_words, written_numbers_advice

# Cell texts read as "missing" in CSV files (pandas' usual NA spellings, minus ones that are real words).
NA_TEXT = frozenset({"", "na", "nan", "n/a", "null", "none", "-nan", "<na>", "#n/a"})


@dataclass
class Series:
    """One series as parsed: ``values`` [C, L] float64, NaN where unobserved."""

    id: str
    values: np.ndarray
    channel_names: list[str] = field(default_factory=list)


def _mostly_times(texts: pd.Series) -> bool:
    """Whether nearly every one of the first cells of ``texts`` parses as a date / time:
    the column a user forgot to name as the time (``encoderkit impute`` guesses it;
    ``ingest`` does not, and its error then says which option to give)."""
    head = texts.head(50)
    if head.empty or pd.to_numeric(head, errors="coerce").notna().any():
        return False
    with warnings.catch_warnings():  # pandas warns when it has to guess each cell's format
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(head, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.9)


# a number written with a decimal comma and no thousands mark (2,25  -0,5  12: the tabular
# reader's, textfiles.COMMA_NUMBER), and one written with a decimal point (2.25  .5  1.5e3)
_COMMA_NUMBER = re.compile(COMMA_NUMBER)
_POINT_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def numeric_column(texts: pd.Series, path: str, column: str, decimal: str = ".",
                   words: frozenset[str] = frozenset(), warn: bool = True) -> np.ndarray:
    """Column of cell texts -> float64, each number exactly as Python's ``float(text)``;
    NaN for NA cells; error for non-numeric cells. ``decimal=','``: numbers are written
    ``2,25``, read as ``2.25``; a cell with a point is then no number (``1.234,5``: the
    thousands mark is not read, as the tabular reader does not read it). Missing marks
    (``-``, ``?``, ``.``: ``marks.marked``) and ``words`` (``missing_value``'s) are NaN
    too, with a warning counting them (``warn``) as the table reader gives one."""
    stripped = texts.astype(str).str.strip()
    na = stripped.str.lower().isin(NA_TEXT)
    mark = pd.Series(marked(stripped, words), index=stripped.index) & ~na
    if mark.any():  # a hole the file spells otherwise; refused, the series had no way in
        if warn:
            warnings.warn(marks_message(path, column, stripped[mark]), stacklevel=2)
        na = na | mark
    number = stripped if decimal == "." else stripped.where(
        ~stripped.str.contains(".", regex=False), "x").str.replace(",", ".", regex=False)
    values = pd.to_numeric(number.where(~na, "nan"), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = np.flatnonzero(np.isnan(values) & ~na.to_numpy())
    if bad.size:
        row = int(bad[0])
        cell = stripped.iloc[row]
        raise DataError(
            f"{path}: non-numeric cell {texts.iloc[row]!r} at data row {row + 1} (line {row + 2}), "
            f"column {column!r}; {bad.size} such cell(s) in that column. Time-series channels "
            f"must be numbers or empty/NaN for missing values; "
            + ("decimal=',' reads numbers written 2,25, so a point is no decimal mark here "
               "(remove thousands marks; decimal='.' reads 2.25)" if decimal == "," else
               odd if (odd := written_numbers_advice(stripped.iloc[bad])) else
               "numbers written with a decimal comma (2,25) are read with decimal=','"
               if _COMMA_NUMBER.fullmatch(cell) else  # pandas reads 1,5 as a date too
               f"the column holds dates or times: give time_column={column} (rows are then "
               f"ordered by it)" if _mostly_times(stripped[~na]) else
               "name non-channel columns with time_column= / series_column= or list the "
               "channels with channels=[...]"))
    # to_numeric says which cells are numbers, but its parser can be one rounding step off
    # for 17+ significant digits (0.3915000806360837783 -> ...837, not ...8377); numpy's
    # text -> float64 conversion rounds correctly
    ok = ~np.isnan(values)
    values[ok] = number.to_numpy(dtype=str)[ok].astype(np.float64)
    return values


def decimal_mark(frame: pd.DataFrame, columns: Sequence[str], sep: str, decimal: str = "auto") -> str:
    """The decimal mark of the value cells ``columns`` of ``frame`` (cell texts): ``decimal``
    when it is ``.`` or ``,``; for ``auto``, ``,`` when the file is not comma-separated, the
    cells of some column are all numbers written with a decimal comma (at least one with a
    fraction, ``2,25``) and no column holds numbers written with a decimal point (a file of
    both is read as it is, and its ``2,25`` named as no number); else ``.``. What a
    spreadsheet in a German or French locale writes: ``;``-separated, ``2,25``."""
    if decimal != "auto":
        return decimal
    if sep == ",":
        return "."
    comma = False
    for c in columns:
        cells = frame[c].astype(str).str.strip()
        cells = cells[~cells.str.lower().isin(NA_TEXT) & ~marked(cells)]  # holes: no decimal mark
        if cells.str.fullmatch(_POINT_NUMBER).any():
            return "."
        if len(cells) and cells.str.fullmatch(_COMMA_NUMBER).all() and cells.str.contains(",", regex=False).any():
            comma = True
    return "," if comma else "."




def check_range(values: np.ndarray, series: str, channels: Sequence[str] | None = None,
                file: str | None = None) -> None:
    """A ``DataError`` naming the series and channel whose finite values do not fit float32
    (magnitudes above ~3.4e38, or all nonzero ones below ~1.2e-38)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    with np.errstate(invalid="ignore"):
        peak = np.max(np.where(np.isfinite(v), np.abs(v), 0.0), axis=1, initial=0.0)
    for c, m in enumerate(peak):
        if m <= F32_MAX and not 0.0 < m < F32_TINY:
            continue
        name = channels[c] if channels is not None and c < len(channels) else str(c)
        big = m > F32_MAX
        raise DataError(
            f"series {series!r}, channel {name!r}: values {'up to' if big else 'at most'} {m:.3g} in "
            f"magnitude are {'above' if big else 'below'} what float32, the store's and the model's "
            f"number type, holds ({F32_TINY:.3g} .. {F32_MAX:.3g}); rescale the channel ("
            f"{'divide' if big else 'multiply'} it by a power of ten) and scale its fills back",
            file=file)


def calendar_months(t: pd.Index) -> np.ndarray | None:
    """Month numbers (12 * year + month - 1) of sorted times that all fall on a calendar
    month: dates at midnight all on the 1st or all on a month's last day, numbers that are
    all yyyymm (194901: six digits, the last two a month), or decimal-year quarters as EViews
    writes them (1959.1 .. 1959.4); None for other times. Used to count steps only (monthly
    data stepped 28 to 31 days, 194912 -> 195001 was a step of 89): rows are ordered by the
    times themselves either way, so a counter misread as yyyymm changes no order."""
    if isinstance(t, pd.DatetimeIndex):
        if not (t == t.normalize()).all():
            return None
        if (t.day == 1).all() or t.is_month_end.all():
            return np.asarray(t.year * 12 + t.month - 1, dtype=np.int64)
        return None
    if not pd.api.types.is_numeric_dtype(t.dtype) or pd.api.types.is_bool_dtype(t.dtype):
        return None
    v = t.to_numpy(np.float64)
    if not np.isfinite(v).all():
        return None
    if (v == np.round(v)).all() and ((v >= 100001) & (v <= 999912)).all():
        year, month = np.divmod(v.astype(np.int64), 100)
        if ((month >= 1) & (month <= 12)).all():
            return year * 12 + month - 1
    tenths = np.round(v * 10)
    if np.allclose(v * 10, tenths, rtol=0.0, atol=1e-6) and ((v >= 1000) & (v < 3000)).all():
        year, quarter = np.divmod(tenths.astype(np.int64), 10)
        if ((quarter >= 1) & (quarter <= 4)).all():
            return year * 12 + 3 * (quarter - 1)
    return None


def uneven_steps(when: Any) -> str | None:
    """How the steps between a series' times ``when`` (``sort_key``'s: numbers, or dates
    with or without a time zone) vary, or None when they are even: one step, a calendar
    frequency pandas names (months, quarters, business days), or one step of whole months
    (``calendar_months``: also yyyymm numbers and with a month absent). A series is read as samples
    in time order, evenly spaced, so a time with no row is no gap to fill and a 3-day step
    counts as one."""
    t = pd.Index(when).unique().sort_values()
    if len(t) < 3:
        return None
    months = calendar_months(t)  # months of 28 to 31 days, 194912 -> 195001: one step each
    if months is not None:
        steps = np.diff(months)
    elif isinstance(t, pd.DatetimeIndex):
        if pd.infer_freq(t) is not None:
            return None
        steps = np.diff(t.as_unit("ns").asi8)
    elif pd.api.types.is_numeric_dtype(t.dtype):
        steps = np.diff(t.to_numpy(np.float64))
        if np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
            return None
    else:
        return None
    kinds, counts = np.unique(steps, return_counts=True)
    if kinds.size == 1:
        return None
    common = kinds[int(np.argmax(counts))]
    shown = f"{int(common)} month{'s' if common != 1 else ''}" if months is not None else \
        str(pd.Timedelta(int(common))).replace(" 00:00:00", "") if isinstance(t, pd.DatetimeIndex) \
        else f"{float(common):g}"
    return f"its time steps vary ({int(steps.size - counts.max())} of {steps.size} are not the most common, {shown})"


def warn_uneven(path: str, found: Sequence[tuple[str, str]]) -> None:
    """One warning for the series of ``path`` whose time steps vary (``uneven_steps``)."""
    if found:
        name, how = found[0]
        more = f" ({len(found)} series like it)" if len(found) > 1 else ""
        warnings.warn(f"{path}: series {name!r}: {how}{more}; a series is read as evenly spaced samples "
                      f"in time order, so a missing time is not a gap to fill: give each missing time "
                      f"a row with empty values, or resample to a regular grid", stacklevel=3)


# a date with the day and month as numbers before a year: 10.05.1958, 05/10/1958, 10-05-58,
# with any time of day after it
_DMY = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2\d{2,4}(?:[ T].*)?")


def day_first(cells: pd.Series, name: str, path: str | None) -> bool:
    """Whether the dates ``cells`` (stripped texts) put the day before the month. pandas
    reads ``10.05.1958`` as October 5 wherever that parses and as day-first elsewhere, so a
    column of European dates was sorted half by month and half by day (co2 rows reordered).
    Dotted dates are day-first (every locale that writes them puts the day first); slashed
    or dashed ones are day-first if some first field is above 12, month-first if some
    second field is, and month-first with a warning (naming the column) if neither ever is.
    Cells not all of that form (ISO dates, times, month names): month-first, pandas' rule."""
    found = [_DMY.fullmatch(c) for c in dict.fromkeys(cells)]  # Python's re: pyarrow's has no \2
    if not found or not all(found):
        return False
    if all(m[2] == "." for m in found):
        return True
    day, month = any(int(m[1]) > 12 for m in found), any(int(m[3]) > 12 for m in found)
    if day and not month:
        return True
    if not day and not month and (name, cells.iloc[0], len(cells)) not in _SAID_AMBIGUOUS:
        # once per column: impute and infill order the same table again and again
        _SAID_AMBIGUOUS.add((name, cells.iloc[0], len(cells)))
        where = f"{path}: " if path else ""
        warnings.warn(f"{where}time column {name}: dates such as {cells.iloc[0]!r} could be day or "
                      f"month first (no field above 12 says which); read month first (US): write "
                      f"ISO dates (1959-04-01) to be sure of the order", stacklevel=3)
    return False


_SAID_AMBIGUOUS: set[tuple[str, str, int]] = set()


class TimeFormError(DataError):
    """A time column the reader cannot use as written (labels that are no time, a time
    spread over two columns): reading the file as a table would not help, since a table's
    rows are filled without their order, so ``impute`` gives no ``domain=tabular`` advice."""


# Period labels pandas does not read (or reads as something else: 1949M01 as a minute):
# quarters as Stata / Excel / statsmodels write them (1959 Q1, 1959-Q1, Q1 1959, 1959q1),
# EViews months (1949M01, 1949m1) and ISO weeks (2020-W05). Each is read as its period's
# first instant, for ordering only: the file's text is what is written back.
_PERIODS = {
    "quarter": re.compile(r"(?P<y>\d{4})\s*[-/. ]?\s*[Qq](?P<n>[1-4])|[Qq](?P<n2>[1-4])\s*[-/. ]?\s*(?P<y2>\d{4})"),
    "month": re.compile(r"(?P<y>\d{4})[Mm](?P<n>\d{1,2})"),
    "ISO week": re.compile(r"(?P<y>\d{4})-?[Ww](?P<n>\d{1,2})"),
}


def _period_start(kind: str, m: re.Match) -> pd.Timestamp | None:
    """The first instant of the period ``m`` of ``kind`` matched, None when it names none
    (month 13, week 53 of a year of 52 ISO weeks)."""
    year, n = int(m["y"] or m.groupdict().get("y2")), int(m["n"] or m.groupdict().get("n2"))
    if kind == "quarter":
        return pd.Timestamp(year, 3 * n - 2, 1)
    if kind == "month":
        return pd.Timestamp(year, n, 1) if 1 <= n <= 12 else None
    try:
        return pd.Timestamp(datetime.fromisocalendar(year, n, 1))  # %G-W%V, from its Monday
    except ValueError:
        return None


def period_starts(cells: pd.Series, column: str | None = None, path: str | None = None) -> pd.Series | None:
    """The first instant of each period label of ``cells`` (stripped texts, none empty) when
    most of them are labels of one kind of ``_PERIODS``; None when they are not (dates,
    numbers: pandas reads those). A column of such labels with one cell of another form is
    a ``TimeFormError`` naming that cell, not left to pandas, which named the first row."""
    distinct = list(dict.fromkeys(cells))
    for kind, pattern in _PERIODS.items():
        if not any(pattern.fullmatch(c) for c in distinct[:20]):  # dates: a long column's quick no
            continue
        starts = {}
        for c in distinct:
            m = pattern.fullmatch(c)
            starts[c] = _period_start(kind, m) if m else None
        if not any(v is not None for v in starts.values()):
            continue
        bad = [c for c in distinct if starts[c] is None]
        if not bad:
            return pd.Series(pd.to_datetime([starts[c] for c in cells]), index=cells.index, name=cells.name)
        if len(bad) * 2 < len(distinct):  # mostly labels of this kind: the odd cell is the fault
            row = int(np.flatnonzero((cells == bad[0]).to_numpy())[0])
            where = f"{path}: " if path else ""
            raise TimeFormError(f"{where}time column {column or cells.name!r}: data row {row + 1} (line "
                                f"{row + 2}) holds {bad[0]!r}, which is no {kind} like the other times "
                                f"({next(c for c in distinct if starts[c] is not None)!r}); every row needs "
                                f"a time of the same form", file=path)
    return None


def sort_key(texts: pd.Series, path: str | None = None, column: str | None = None) -> pd.Series:
    """Order of a time column: numeric if every cell is a number, else dates / times if
    every cell is one. A cell with no time, or a column of numbers with some text or of text
    that is not dates, is a ``DataError`` naming the cell: sorting such a column as text
    put ``10`` before ``2`` and scrambled the series without a word."""
    name = repr(column if column is not None else texts.name)

    def refuse(row: int, why: str) -> DataError:
        return DataError(f"time column {name}: data row {row + 1} "
                         f"(line {row + 2}) {why}; rows are ordered by the time column, so every "
                         f"row needs a number or a date / time there", file=path)

    if pd.api.types.is_numeric_dtype(texts.dtype) or pd.api.types.is_datetime64_any_dtype(texts.dtype):
        gaps = np.flatnonzero(pd.isna(texts).to_numpy())
        if gaps.size:
            raise refuse(int(gaps[0]), "has no time")
        return texts
    stripped = texts.astype(str).str.strip()
    empty = np.flatnonzero((stripped.str.lower().isin(NA_TEXT) | texts.isna()).to_numpy())
    if empty.size:
        raise refuse(int(empty[0]), "has no time")
    num = pd.to_numeric(stripped, errors="coerce")
    if not num.isna().any():
        return num
    if num.notna().any():  # numbers and some text: the text is the odd one out
        row = int(np.flatnonzero(num.isna().to_numpy())[0])
        raise refuse(row, f"holds {texts.iloc[row]!r} among numbers")
    periods = period_starts(stripped, column, path)  # 1959 Q1, 1949M01, 2020-W05: pandas reads none
    if periods is not None:
        return periods
    first = day_first(stripped, name, path)
    try:
        return pd.to_datetime(stripped, errors="raise", format="mixed", dayfirst=first)
    except (ValueError, TypeError, OverflowError):
        pass  # a cell that is no date / time, or times of more than one zone ("Mixed timezones")
    try:
        dates = pd.to_datetime(stripped, errors="coerce", format="mixed", dayfirst=first, utc=True)
    except (ValueError, TypeError, OverflowError):
        dates = pd.Series(pd.NaT, index=stripped.index)
    bad = np.flatnonzero(dates.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        # a table would fill its rows without their order: say how to write the times
        raise TimeFormError(f"time column {name}: data row {row + 1} (line {row + 2}) holds "
                            f"{texts.iloc[row]!r}, which is neither a number nor a date / time; rows "
                            f"are ordered by the time column, so write its times as dates (1959-04-01, "
                            f"2020-01-27 13:00), periods (1959Q1, 1949-01, 2020-W05) or numbers",
                            file=path)
    # Every cell with a UTC offset (a logger's local time over a change of daylight saving
    # time has two): each names one instant, so the rows are ordered as instants, in UTC.
    # Refusing would leave such files unreadable; pandas' own text says "Pass utc=True".
    # A time without an offset beside ones with it names no instant (local time? UTC?):
    # ordering it would be a guess, so the first row whose zone differs is named.
    zoned = _has_offset(stripped)
    if zoned.all() or not zoned.any():
        return dates
    row = int(np.flatnonzero(zoned != zoned[0])[0])
    has = "has a UTC offset" if zoned[row] else "has no UTC offset"
    raise DataError(f"time column {name}: data row {row + 1} (line {row + 2}) holds "
                    f"{texts.iloc[row]!r}, which {has}, but data row 1 (line 2) holds "
                    f"{texts.iloc[0]!r}, which {'has none' if zoned[row] else 'has one'}; a time "
                    f"without an offset names no instant beside times with one, so the order of "
                    f"the rows is unknown: give every time an offset (+02:00, Z), or none", file=path)


def _has_offset(cells: pd.Series) -> np.ndarray:
    """Whether each date / time cell carries a UTC offset or zone (each distinct cell
    parsed once: ``datetime.fromisoformat`` is fast and reads ISO 8601, what most files
    hold; other spellings are parsed by pandas, as ``sort_key`` parses them)."""
    def one(cell: str) -> bool:
        try:
            return datetime.fromisoformat(cell).tzinfo is not None
        except ValueError:
            return pd.to_datetime(cell, format="mixed").tzinfo is not None

    seen = {c: one(c) for c in dict.fromkeys(cells)}
    return np.fromiter((seen[c] for c in cells), dtype=bool, count=len(cells))


# Column names of a part of a time (statsmodels' year, quarter; UCI's Date;Time), compared lower-case
TIME_PARTS = frozenset({"year", "yr", "quarter", "qtr", "month", "mon", "week", "day", "date", "time",
                        "hour", "minute", "period"})
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


def _time_part(cells: pd.Series, name: Any) -> bool:
    """Whether a column (cell texts) is a part of a time: named like one (``TIME_PARTS``), or
    every cell a time of day (00:00:00) or, none a number, a date."""
    if str(name).strip().lower() in TIME_PARTS:
        return True
    texts = cells.astype(str).str.strip()
    if not len(texts) or texts.str.fullmatch(_TIME_OF_DAY).all():
        return bool(len(texts))
    if pd.to_numeric(texts, errors="coerce").notna().any():
        return False
    with warnings.catch_warnings():  # pandas warns when it guesses each cell's format
        warnings.simplefilter("ignore")
        return bool(pd.to_datetime(texts, errors="coerce", format="mixed").notna().all())


def refuse_split_time(frame: pd.DataFrame, when: np.ndarray, time_column: str,
                      keys: Sequence[str | None], path: str) -> None:
    """A ``TimeFormError`` when the time is written over two columns: ``time_column``
    repeats its times (within a series, ``keys``: series / channel columns), and with one
    other column that is a part of a time (``_time_part``) every row has its own. Read
    alone, statsmodels' ``year,quarter`` was refused as "time '1959' appears twice", and
    UCI's ``Date;Time`` had its other part refused as a channel with the advice to give
    that part as the time, which then refused the first: advice in a circle."""
    keys = [k for k in keys if k is not None]
    base = pd.DataFrame({"_t": when, **{f"_k{i}": frame[k].to_numpy() for i, k in enumerate(keys)}})
    again = base.duplicated(keep=False).to_numpy()
    if not again.any():
        return
    for c in frame.columns:
        if c == time_column or c in keys or not _time_part(frame[c], c):
            continue
        if not base.assign(_c=frame[c].to_numpy()).duplicated().any():
            a = int(np.flatnonzero(again)[0])  # the first repeated time and its next row
            b = int(np.flatnonzero((base == base.iloc[a]).all(axis=1).to_numpy())[1])
            raise TimeFormError(
                f"{path}: time column {time_column!r} repeats its times ({frame[time_column].iloc[a]!r} "
                f"on lines {a + 2} and {b + 2}), and only with column {c!r} does each row have its own "
                f"time: the time seems to span two columns, {time_column!r} and {c!r} (a year and a "
                f"quarter, or a date and a time of day): write one time column (1959Q1, 2006-12-16 "
                f"00:00:00) and give time_column=<its name>", file=path)


def twice_hint(first: str, second: str, when: Any) -> str:
    """Why two rows' times ``first``, ``second`` (cell texts; ``when``: their shared sort
    key) may be one: texts that differ but are one number (1949.1 and 1949.10, months
    written as decimals), or a local time without an offset (the hour repeated when the
    clocks go back at the end of summer time)."""
    if str(first).strip() != str(second).strip() and isinstance(when, (int, float, np.number)):
        return (f"; the times are read as numbers, so {str(first).strip()!r} = {str(second).strip()!r}: "
                f"write months as 1949-10 or 1949M10, not as decimals")
    stamp = pd.Timestamp(when) if isinstance(when, (np.datetime64, pd.Timestamp)) else None
    if stamp is not None and stamp.tzinfo is None and stamp != stamp.normalize():
        return ("; a daylight-saving change (the clocks set back repeat an hour of local time)? "
                "give the times UTC offsets (2021-10-31 02:00+02:00) or write them in UTC")
    return ""


def read_csv(path: str, *, time_column: str | None = None, series_column: str | None = None,
             channels: Sequence[str] | None = None, value_column: str | None = None,
             channel_column: str | None = None, sep: str | None = None,
             decimal: str = "auto", missing_value: Any = None) -> list[Series]:
    """Parse a wide or long CSV (long when ``value_column`` is given); any problem is a
    ``DataError`` naming the file (compressed files by extension: .gz, .bz2, .xz, .zip, .zst).
    ``sep``: the field separator (None: by the name, ``textfiles.delimiter``); ``decimal``:
    the numbers' decimal mark, ``auto`` | ``.`` | ``,`` (``decimal_mark``); ``missing_value``:
    the option's words are missing cells too (its numbers are matched by value later)."""
    with reading(path):
        return _read_csv(path, time_column=time_column, series_column=series_column, channels=channels,
                         value_column=value_column, channel_column=channel_column, sep=sep,
                         decimal=decimal, missing_value=missing_value)


def _read_csv(path: str, *, time_column: str | None, series_column: str | None,
              channels: Sequence[str] | None, value_column: str | None,
              channel_column: str | None, sep: str | None = None, decimal: str = "auto",
              missing_value: Any = None) -> list[Series]:
    given, sep = sep is not None, sep or delimiter(path)
    check_decimal(path, sep, decimal)
    check_row_widths(path, sep, option=True, given=given)  # pandas reads a short row as missing values
    try:
        frame = _read_table(path, sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty (no header, no rows)", file=path) from None
    # a separator ending every line is a nameless empty column, no channel (as tables drop it)
    frame = drop_blank_empty(frame, path, sep)
    words = sentinel_words(missing_value)
    for option, col in (("time_column", time_column), ("series_column", series_column),
                        ("value_column", value_column), ("channel_column", channel_column)):
        if col is not None and col not in frame.columns:
            raise DataError(f"{path}: the {option} {col!r} is not a column; columns are "
                             f"{list(frame.columns)}")
    line_of = np.arange(len(frame)) + 2  # the file line of each (sorted) row
    when = None
    if time_column is not None:
        when = sort_key(frame[time_column], path, time_column).to_numpy()
        refuse_split_time(frame, when, time_column, [series_column, channel_column], path)
        order = np.argsort(when, kind="stable")
        frame, when, line_of = frame.iloc[order].reset_index(drop=True), when[order], line_of[order]
    if series_column is not None:
        empty = np.flatnonzero((frame[series_column].str.strip() == "").to_numpy())
        if empty.size:
            row = int(empty[0])
            raise DataError(f"{path}: series column {series_column!r}: line {line_of[row]} names no "
                            f"series (empty cell); every row needs its series id")
    groups = [("", frame)] if series_column is None else [
        (str(k), g) for k, g in frame.groupby(series_column, sort=False)]
    out: list[Series] = []
    base = os.path.basename(path)
    if when is not None:
        uneven = [(f"{base}:{key}" if key else base, how) for key, g in groups
                  if (how := uneven_steps(when[g.index.to_numpy()])) is not None]
        warn_uneven(path, uneven)
    if value_column is None:  # wide
        reserved = {time_column, series_column}
        names = list(channels) if channels is not None else [c for c in frame.columns if c not in reserved]
        missing = [c for c in names if c not in frame.columns]
        if missing or not names:
            raise DataError(f"{path}: channels {missing or names} not found among the columns "
                             f"{list(frame.columns)}")
        mark = decimal_mark(frame, names, sep, decimal)
        cols = {c: numeric_column(frame[c], path, c, mark, words) for c in names}
        for key, g in groups:
            rows = g.index.to_numpy()
            if when is not None:  # two rows of one series at one time: which is the sample?
                again = np.flatnonzero(when[rows][1:] == when[rows][:-1])
                if again.size:
                    a, b = rows[again[0]], rows[again[0] + 1]
                    hint = twice_hint(frame[time_column].iloc[a], frame[time_column].iloc[b], when[a])
                    # with a hint the times are a series' written ambiguously: no table's year
                    raise (TimeFormError if hint else DataError)(
                        f"{path}: series {(f'{base}:{key}' if key else base)!r}: time "
                        f"{frame[time_column].iloc[b]!r} appears twice (lines {line_of[a]} "
                        f"and {line_of[b]}); give each time of a series one row{hint}")
            values = np.stack([cols[c][rows] for c in names])  # [C, L]
            out.append(Series(f"{base}:{key}" if key else base, values, list(map(str, names))))
        return out
    # long
    vals = numeric_column(frame[value_column], path, value_column,
                          decimal_mark(frame, [value_column], sep, decimal), words)
    chan = frame[channel_column].astype(str) if channel_column else pd.Series(["value"] * len(frame))
    names = list(dict.fromkeys(chan)) if channels is None else list(channels)
    for key, g in groups:
        rows = g.index.to_numpy()
        c_idx = pd.Index(names).get_indexer(chan.iloc[rows])
        keep = c_idx >= 0
        rows, c_idx = rows[keep], c_idx[keep]
        if time_column is not None:
            times = frame[time_column].iloc[rows].to_numpy()
            # Index times in the order of the (already sorted) frame, not as sorted text.
            first = {t: i for i, t in enumerate(dict.fromkeys(times))}
            t_idx = np.asarray([first[t] for t in times])
            length = len(first)
        else:
            t_idx = np.zeros(len(rows), dtype=np.int64)
            for c in range(len(names)):  # file order within each channel
                sel = c_idx == c
                t_idx[sel] = np.arange(sel.sum())
            length = int(t_idx.max()) + 1 if len(rows) else 0
        values = np.full((len(names), length), np.nan)
        flat = c_idx * max(length, 1) + t_idx
        if np.unique(flat).size != flat.size:
            raise DataError(f"{path}: series {key!r} has more than one value for the same "
                             f"(time, channel) in long layout (value_column={value_column!r})")
        values[c_idx, t_idx] = vals[rows]
        out.append(Series(f"{base}:{key}" if key else base, values, names))
    return out


def _read_table(path: str, sep: str, **kw: Any) -> pd.DataFrame:
    """pandas' reader, never taking the first column for the index: empty fields after the
    last column (a separator ending every row; longer rows are refused by
    ``check_row_widths``) are dropped, which pandas warns about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.ParserWarning)
        return pd.read_csv(path, sep=sep, index_col=False, **kw)


def file_decimal(path: str, sep: str | None = None, decimal: str = "auto",
                 text_columns: Sequence[str] = ()) -> str:
    """The decimal mark ``read_frame`` reads ``path`` with: ``decimal_mark`` of its cells
    other than ``text_columns`` (the file is read as text only for ``auto`` in a file not
    separated by commas). ``sep``: the field separator (None: by the name)."""
    sep = sep or delimiter(path)
    check_decimal(path, sep, decimal)
    if decimal != "auto" or sep == ",":
        return "." if decimal == "auto" else decimal
    # rows are checked by read_frame, which reads the file next: a short row here at worst
    # adds missing cells to the columns looked at
    cells = _read_table(path, sep, dtype=str, keep_default_na=False)
    return decimal_mark(cells, [c for c in cells.columns if c not in text_columns], sep, decimal)


def read_frame(path: str, text_columns: Sequence[str] = (), sep: str | None = None,
               decimal: str = ".") -> pd.DataFrame:
    """A CSV as the DataFrame ``infill`` fills and ``write_output`` writes back: numbers
    parsed exactly (pandas' default parser can be one ulp off, and the written file would
    then change observed cells), integer columns with holes as nullable ``Int64`` (so an
    observed ``2`` is written back as ``2``, not ``2.0``). ``text_columns`` (the time and
    series columns) are read as the text the file holds, as ingest reads them: series
    ``01`` and ``1`` stay two series, and their cells are written back as they were.
    ``sep``: the field separator (None: by the name); ``decimal``: the numbers' decimal
    mark, ``.`` or ``,`` (``file_decimal`` resolves ``auto``)."""
    given, sep = sep is not None, sep or delimiter(path)
    check_decimal(path, sep, decimal)
    check_row_widths(path, sep, option=True, given=given)
    frame = _read_table(path, sep, float_precision="round_trip", decimal=decimal)
    text = [c for c in text_columns if c in frame.columns]
    if text:
        cells = _read_table(path, sep, usecols=text, dtype=str, keep_default_na=False)
        for c in text:
            frame[c] = cells[c]
    return keep_integer_columns(frame, path, sep)


def array_ids(label: str, ndim: int, n: int = 1) -> list[str]:
    """Ids of the series of one array as ingest names them: ``label`` for ``[L]`` or
    ``[C, L]``, ``label[i]`` for each of the ``n`` series of ``[N, C, L]``."""
    return [f"{label}[{i}]" for i in range(n)] if ndim == 3 else [label]


def npz_label(base: str, key: str) -> str:
    """The label of array ``key`` of the ``.npz`` file named ``base`` (see ``array_ids``)."""
    return f"{base}:{key}"


def refuse_complex(arr: np.ndarray, label: str) -> None:
    """A complex array is a ``DataError``: cast to float, numpy keeps the real part and
    drops the imaginary one with only a warning (half the data gone, exit 0), and
    ``np.issubdtype(complex, np.number)`` holds, so a "numeric" test lets it through."""
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError(f"{label}: array of dtype {arr.dtype} holds complex numbers; a time series "
                        f"is real (float, int or bool): save x.real, or the real and imaginary "
                        f"parts as two channels (np.stack([x.real, x.imag]))")


def check_dtype(arr: np.ndarray, label: str) -> None:
    """A ``DataError`` unless ``arr`` holds real numbers (float, int, bool)."""
    refuse_complex(arr, label)
    if arr.dtype.hasobject or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"{label}: array of dtype {arr.dtype} is not numeric; time series arrays "
                        f"must be float or int")


def _array_series(arr: np.ndarray, label: str) -> list[Series]:
    check_dtype(arr, label)
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        return [Series(label, arr[None, :])]
    if arr.ndim == 2:
        return [Series(label, arr)]
    if arr.ndim == 3:
        return [Series(rid, a) for rid, a in zip(array_ids(label, 3, arr.shape[0]), arr)]
    raise DataError(f"{label}: array of shape {arr.shape}; expected [L], [C, L] or [N, C, L]")


# np.load decides .npy / .npz by the first bytes, not the name; so does ``load_arrays``.
NPY_SIGNATURE = b"\x93NUMPY"  # numpy.lib.format.MAGIC_PREFIX
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members; an empty zip
# What numpy raises for data cut short: np.fromfile (a file on disk), _read_bytes (a .npz member)
CUT_SHORT = ("Failed to read all data", "EOF:")


def _read_npy(fh: IO[bytes], subject: str, size: int) -> np.ndarray:
    """One ``.npy`` array from ``fh`` (at its start, ``size`` bytes long), never through
    pickle; ``subject`` names it in errors (``the file``, ``member 'a.npy'``). The header
    is read first: an object array (numpy: "Object arrays cannot be loaded when
    allow_pickle=False") is the one such file that is really data, series of unequal
    lengths, and the only one given the .npz advice; data shorter than the header declares
    is truncated (read as is, a damaged header declaring petabytes was "too large to read
    into memory")."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = header(fh)  # 3.0 differs from 2.0 only in the header's encoding
        if dtype.hasobject:
            raise DataError(f"{subject} holds an object array, which cannot be read without pickle "
                            f"(never used: loading one can run code); store series of unequal "
                            f"lengths as separate arrays of one .npz (np.savez(path, a=..., b=...))")
        declared, present = math.prod(shape) * dtype.itemsize, size - fh.tell()
        if declared > present:
            raise DataError(f"{subject} is truncated: its header declares an array of shape "
                            f"{shape} and dtype {dtype} ({declared} bytes), but only {present} "
                            f"bytes follow")
        fh.seek(0)
        return fmt.read_array(fh, allow_pickle=False)
    except DataError:  # a ValueError too: ours, raised above
        raise
    except (ValueError, TypeError, SyntaxError, tokenize.TokenError) as e:  # header: tokenize + ast
        text = " ".join(str(e).split())
        if text.startswith(CUT_SHORT):
            raise DataError(f"{subject} is truncated ({text})") from None
        raise DataError(f"{subject} is not a valid .npy array ({text})") from None


def _read_npz(fh: IO[bytes], path: str) -> dict[str, np.ndarray]:
    """Every member of a ``.npz``, by the key ``np.load`` gives it (the name less ``.npy``).
    Read here, not through ``NpzFile``: its ``npz[key]`` returns the raw bytes of a member
    that is no ``.npy`` array, which failed later as "'bytes' object has no attribute"."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(fh) as z:
        for info in z.infolist():
            name = info.filename
            subject = f"member {name!r}"
            try:
                with z.open(info) as member:
                    if member.read(len(NPY_SIGNATURE)) != NPY_SIGNATURE:
                        raise DataError(f"{subject} is not a .npy array (it does not start with "
                                        f"the .npy signature); a .npz holds arrays only, as "
                                        f"np.savez writes them", file=path)
                    member.seek(0)
                    arr = _read_npy(member, subject, info.file_size)
            except (zipfile.BadZipFile, zlib.error, EOFError) as e:  # a damaged member's bytes
                raise DataError(f"{subject} is damaged ({type(e).__name__}: {e})", file=path) from None
            key = name[:-4] if name.endswith(".npy") else name
            if key in out:  # "a" and "a.npy": np.load keeps one of them without a word
                raise DataError(f"two members are the array {key!r} ({key!r} and {key + '.npy'!r})",
                                file=path)
            check_dtype(arr, subject)
            out[key] = arr
    return out


def load_arrays(path: str) -> np.ndarray | dict[str, np.ndarray]:
    """The array of a ``.npy`` file, or the arrays of a ``.npz`` by key (in file order),
    each of real numbers; never through pickle. Any problem is a ``DataError`` naming the
    file and, in a ``.npz``, the member."""
    with reading(path), open(path, "rb") as fh:
        head = fh.read(len(NPY_SIGNATURE))
        fh.seek(0)
        if head.startswith(ZIP_SIGNATURES):
            return _read_npz(fh, path)
        if head == NPY_SIGNATURE:
            arr = _read_npy(fh, "the file", os.fstat(fh.fileno()).st_size)
            check_dtype(arr, os.path.basename(path))
            return arr
        # numpy would call each of these "pickled (object) data" and point at allow_pickle
        if not head:
            raise DataError("the file is empty (0 bytes); expected a .npy or .npz array file",
                            file=path)
        if head[:1] == b"\x80":  # pickle protocol 2 and later
            raise DataError("holds a Python pickle, not a .npy array; pickles are never loaded "
                            "(loading one can run code): save the series with np.save / np.savez",
                            file=path)
        raise DataError("not a .npy or .npz file (it starts with neither the .npy signature nor a "
                        "zip header); save series with np.save / np.savez, or give a table as .csv",
                        file=path)


def read_numpy(path: str) -> list[Series]:
    """``.npy`` / ``.npz`` -> series; any problem is a ``DataError`` naming the file."""
    with reading(path):
        return _read_numpy(path)


def _read_numpy(path: str) -> list[Series]:
    base = os.path.basename(path)
    loaded = load_arrays(path)
    if isinstance(loaded, np.ndarray):
        return _array_series(loaded, base)
    return [s for key, arr in loaded.items() for s in _array_series(arr, npz_label(base, key))]
