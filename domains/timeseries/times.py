"""Times of a series file: parsing the forms exports write (period labels such as
``1959 Q1``, ``1949M01``, ``2020-W05``; day-first dates), ordering rows by them, and the
words for what goes wrong (a time over two columns, a repeated time; uneven steps are
``steps.py``'s).
Split from ``io.py``, which reads the files."""

from __future__ import annotations

import re
import warnings
from datetime import datetime
from itertools import islice
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError
from encoderkit.period_labels import PERIODS, period_start

# how a series' steps vary: split out to steps.py; still read from here by impute_layout and tests
from .steps import calendar_months, uneven_series, uneven_steps, warn_uneven  # noqa: F401

# Cell texts read as "missing" in CSV files (pandas' usual NA spellings, minus ones that are real words).
NA_TEXT = frozenset({"", "na", "nan", "n/a", "null", "none", "-nan", "<na>", "#n/a"})


# a date with the day and month as numbers before a year: 10.05.1958, 05/10/1958, 10-05-58,
# with any time of day after it
_DMY = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2\d{2,4}(?:[ T].*)?")


def day_first(cells: pd.Series, name: str, path: str | None, warn: bool = True) -> bool:
    """Whether the dates ``cells`` (stripped texts) put the day before the month. pandas
    reads ``10.05.1958`` as October 5 wherever that parses and as day-first elsewhere, so a
    column of European dates was sorted half by month and half by day (co2 rows reordered).
    Dotted dates are day-first (every locale that writes them puts the day first); slashed
    or dashed ones are day-first if some first field is above 12, month-first if some
    second field is, and month-first with a warning (naming the column) if neither ever is.
    Cells not all of that form (ISO dates, times, month names): month-first, pandas' rule.
    ``warn=False``: nothing said, nor counted as said (a check before the reading that says it)."""
    found = []
    for cell in distinct(cells):  # the first cell of another form (an ISO date) ends it
        match = _DMY.fullmatch(cell)  # Python's re: pyarrow's has no \2
        if match is None:
            return False
        found.append(match)
    if not found:
        return False
    if all(m[2] == "." for m in found):
        return True
    day, month = any(int(m[1]) > 12 for m in found), any(int(m[3]) > 12 for m in found)
    if day and not month:
        return True
    if warn and not day and not month and (name, cells.iloc[0], len(cells)) not in _SAID_AMBIGUOUS:
        # once per column: impute and infill order the same table again and again
        _SAID_AMBIGUOUS.add((name, cells.iloc[0], len(cells)))
        where = f"{path}: " if path else ""
        warnings.warn(f"{where}time column {name}: dates such as {cells.iloc[0]!r} could be day or "
                      f"month first (no field above 12 says which); read month first (US): write "
                      f"ISO dates (1959-04-01) to be sure of the order", stacklevel=3)
    return False


_SAID_AMBIGUOUS: set[tuple[str, str, int]] = set()


def distinct(cells: pd.Series) -> Iterator[Any]:
    """The distinct cells of ``cells`` in order of first appearance, one at a time: a reader
    that stops at the first (a date where period labels were looked for) holds none of the
    others (a list of them all was a Python string per distinct cell of a long column)."""
    seen: set[Any] = set()
    for cell in cells:
        if cell not in seen:
            seen.add(cell)
            yield cell


class TimeFormError(DataError):
    """A time column the reader cannot use as written (labels that are no time, a time
    spread over two columns): reading the file as a table would not help, since a table's
    rows are filled without their order, so ``impute`` gives no ``domain=tabular`` advice."""


# Period labels pandas does not read (or reads as something else: 1949M01 as a minute),
# ``encoderkit.period_labels``: each is read as its period's first instant, for ordering only: the
# file's text is what is written back. (``2024-03`` is pandas' date here, beside ``2024-03-15``.)
_PERIODS = PERIODS
_WORDS = {"week": "ISO week"}  # a kind in a refusal


def period_starts(cells: pd.Series, column: str | None = None, path: str | None = None) -> pd.Series | None:
    """The first instant of each period label of ``cells`` (stripped texts, none empty) when
    most of them are labels of one kind of ``_PERIODS``; None when they are not (dates,
    numbers: pandas reads those). A column of such labels with one cell of another form is
    a ``TimeFormError`` naming that cell, not left to pandas, which named the first row."""
    for kind, pattern in _PERIODS.items():
        if not any(pattern.fullmatch(c) for c in islice(distinct(cells), 20)):  # dates: a long column's quick no
            continue
        distinct_cells = list(distinct(cells))
        starts = {}
        for c in distinct_cells:
            m = pattern.fullmatch(c)
            starts[c] = period_start(kind, m) if m else None
        if not any(v is not None for v in starts.values()):
            continue
        bad = [c for c in distinct_cells if starts[c] is None]
        if not bad:
            return pd.Series(pd.to_datetime([starts[c] for c in cells]), index=cells.index, name=cells.name)
        if len(bad) * 2 < len(distinct_cells):  # mostly labels of this kind: the odd cell is the fault
            row = int(np.flatnonzero((cells == bad[0]).to_numpy())[0])
            where = f"{path}: " if path else ""
            raise TimeFormError(f"{where}time column {column or cells.name!r}: data row {row + 1} (line "
                                f"{row + 2}) holds {bad[0]!r}, which is no {_WORDS.get(kind, kind)} like the "
                                f"other times ({next(c for c in distinct_cells if starts[c] is not None)!r}); "
                                f"every row needs a time of the same form", file=path)
    return None


def _numbers(texts: pd.Series, block: int = 1 << 16) -> pd.Series:
    """``pd.to_numeric(texts, errors="coerce")`` in blocks of rows: its parser makes a Python
    string of every cell, several times the column's size at once. Each cell is read alone,
    so the blocks give the same numbers; the type (int64, float64) is decided over the
    whole column, so blocks that differ in it are read again as one."""
    if len(texts) <= block:
        return pd.to_numeric(texts, errors="coerce")
    parts = [pd.to_numeric(texts.iloc[a:a + block], errors="coerce") for a in range(0, len(texts), block)]
    if len({part.dtype for part in parts}) > 1:
        return pd.to_numeric(texts, errors="coerce")
    return pd.concat(parts)


def sort_key(texts: pd.Series, path: str | None = None, column: str | None = None,
             warn: bool = True) -> pd.Series:
    """Order of a time column: numeric if every cell is a number, else dates / times if
    every cell is one. A cell with no time, or a column of numbers with some text or of text
    that is not dates, is a ``DataError`` naming the cell: sorting such a column as text
    put ``10`` before ``2`` and scrambled the series without a word. ``warn=False``: dates
    that could be day or month first are not said (``day_first``)."""
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
    num = _numbers(stripped)
    if not num.isna().any():
        return num
    if num.notna().any():  # numbers and some text: the text is the odd one out
        row = int(np.flatnonzero(num.isna().to_numpy())[0])
        raise refuse(row, f"holds {texts.iloc[row]!r} among numbers")
    periods = period_starts(stripped, column, path)  # 1959 Q1, 1949M01, 2020-W05: pandas reads none
    if periods is not None:
        return periods
    from encoderkit.data.cjk_dates import cjk_days

    days = cjk_days(stripped)  # 2024年1月2日: pandas reads none (encoderkit.data.cjk_dates)
    if days is not None:
        return days
    first = day_first(stripped, name, path, warn)
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


def parse_times(texts: pd.Series) -> pd.Series:
    """Each cell of ``texts`` as an instant in UTC (NaT: no date / time), for the advice that
    asks whether cells are times. ``utc=True``: without it, times of two UTC offsets (a
    logger's local time over a change of daylight saving time) raised pandas' "Mixed
    timezones detected" from the advice itself, which then was the whole error message;
    a time without an offset reads as UTC here (whether the times may be mixed so is
    ``sort_key``'s to say). ``format="mixed"``: each cell parsed on its own, no format
    guessed, so pandas says nothing (no filter, no session lock)."""
    try:
        return pd.to_datetime(texts, errors="coerce", format="mixed", utc=True)
    except (ValueError, TypeError, OverflowError):  # text pandas cannot take as dates at all
        return pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns, UTC]")


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
    return bool(parse_times(texts).notna().all())


def refuse_split_time(frame: pd.DataFrame, when: np.ndarray, time_column: str,
                      keys: Sequence[str | None], path: str) -> None:
    """A ``TimeFormError`` when the time is written over two columns: ``time_column``
    repeats its times (within a series, ``keys``: series / channel columns), and with one
    other column that is a part of a time (``_time_part``) every row has its own. Read
    alone, statsmodels' ``year,quarter`` was refused as "time '1959' appears twice", and
    UCI's ``Date;Time`` had its other part refused as a channel with the advice to give
    that part as the time, which then refused the first: advice in a circle."""
    keys = [k for k in keys if k is not None]
    if not _repeats(when, [frame[k] for k in keys]):  # the usual answer, without a frame of objects
        return
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


def _repeats(when: np.ndarray, keys: Sequence[pd.Series]) -> bool:
    """Whether two rows share a time and every one of ``keys`` (columns; a missing key is
    one more value), as ``DataFrame.duplicated`` finds them, by sorting the rows by time and
    key codes: the frame of objects ``duplicated`` needs held a Python string per row of each
    key column, and its hash tables more: several times the file's size over a long file."""
    if len(when) < 2:
        return False
    columns = [when if not when.dtype.hasobject else pd.factorize(when)[0],
               *(pd.factorize(key)[0] for key in keys)]
    order = np.lexsort(columns[::-1])  # by time, then by each key
    same = np.ones(len(when) - 1, dtype=bool)
    for column in columns:
        ranked = column[order]
        same &= ranked[1:] == ranked[:-1]
    return bool(same.any())


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
