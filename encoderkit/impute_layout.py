"""Guessing a file's layout for ``encoderkit impute``: whether it is a table or a series
(``infer_domain``; a time column that steps irregularly, ``irregular_times``, is a table's),
and in a series' text table which column is the time (``time_column``), which names the
series (``series_column``: in blocks or written time by time), which numbers the rows
(``row_numbers_left_out``); in a table, which column holds dates (``dated_column``); the
guesses ``impute`` makes and says aloud (``guess_domain``, ``guess_columns``).

A guess reads the file's first ``HEAD_ROWS`` rows with pandas (``_read_head``); the domain's
reader reads the whole file later and names any problem. Split out of
``encoderkit/impute.py`` (the command), so each module keeps one job.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.session_state import warnings_kept
from encoderkit.data import textfiles
from encoderkit.errors import DataError
from encoderkit.impute_cli import word

# Time-column names that make a CSV a series (compared lower-case).
# A first column so named is the time whatever it holds; another column so named is when the
# file is shaped like a series (``_series_shape``). Not ``obs`` (EViews' label column, found by
# its 1949M01 cells, is a count elsewhere) nor ``hour`` (the hour of day is a feature of many tables).
TIME_NAMES = frozenset({"time", "date", "datetime", "timestamp", "t", "year", "month", "day",
                        "period", "ds", "week", "quarter"})
# A leading column of row numbers under these names (compared lower-case) is no data
# (``row_number_column``): pandas writes its index unnamed (read back as ``Unnamed: 0``),
# ``reset_index()`` names a RangeIndex ``index``.
ROW_NUMBER_NAMES = frozenset({"", "unnamed: 0", "index"})
HEAD_ROWS = 500  # rows read to guess a file's layout
TABLE_SUFFIXES = (".parquet", ".pq")
SERIES_SUFFIXES = (".npy", ".npz", ".ts")  # series files by their name alone


def infer_domain(path: str, ingest_options: Mapping[str, Any]) -> str:
    """tabular | timeseries from the file (see ``USAGE`` in encoderkit/impute_cli.py)."""
    low = path.lower()
    if low.endswith(SERIES_SUFFIXES) or textfiles.plain_name(low).endswith(".ts"):  # x.ts.gz too
        return "timeseries"
    if "time_column" in ingest_options or "series_column" in ingest_options:
        return "timeseries"
    # a .tsv whose first line is numbers has no header: a UCR archive file (class, values),
    # which the series domain reads (and impute then refuses to write back), not a table
    if textfiles.plain_name(path).endswith(".tsv") and textfiles.headerless(path):
        return "timeseries"
    sep = ingest_options.get("delimiter")
    found = time_column(path, sep)
    return "timeseries" if found and irregular_times(path, found, sep) is None else "tabular"


# Steps within this share of the median step count as the grid's (months of 28 to 31 days,
# business days' weekends of 3 days count as apart: a weekday step is most of them).
GRID_SLACK = 0.1
# An event log's steps spread like an exponential's: about half of them under half or over
# twice the median step (0.44-0.59 over five seeds of 39 steps). A sampler's timestamp jitter
# stays in a band around it (a 50 Hz logger at +-4 ms: none), though most of its steps miss
# the 10% band; business days: 0.20. Both conditions make an event log.
WIDE_SHARE = 0.25


def irregular_times(path: str, column: str, delimiter: str | None = None) -> tuple[int, int, str, bool] | None:
    """``(steps off the grid, steps, the median step in words, whether the times are dates)``
    when the distinct times of ``column`` in the file's head step irregularly, fewer than half
    of the steps within ``GRID_SLACK`` of the median step and at least ``WIDE_SHARE`` under
    half or over twice it: events (transactions, visits), not samples on a grid (a sampler's
    jitter keeps its steps near the median: a series, held-out NRMSE 0.112 against 1.00 read
    as a table).
    None when they keep a grid, or when the head cannot tell (a missing time, fewer than 10
    steps). An event log whose first column is ``timestamp`` was imputed as a series (held-out
    RMSE 86.5 against 60.6 as a table): the model reads rows as evenly spaced samples."""
    read = _read_head(path, delimiter)
    if read is None or column not in read[0].columns:
        return None
    times = _head_times(read[0][column], True)
    if times is None:
        return None
    keys, dates = times
    steps = np.diff(np.unique(keys)).astype(np.float64)
    if steps.size < 10:
        return None
    median = float(np.median(steps))
    off = int((np.abs(steps - median) > GRID_SLACK * median).sum())
    wide = int(((steps < median / 2) | (steps > 2 * median)).sum())
    if off * 2 <= steps.size or wide < WIDE_SHARE * steps.size:
        return None
    return off, int(steps.size), _about(median) if dates else f"{median:g}", bool(dates)


def _about(ns: float) -> str:
    """A step of ``ns`` nanoseconds, roughly, in its largest unit (``3.2 hours``)."""
    for unit, size in (("days", 86_400e9), ("hours", 3_600e9), ("minutes", 60e9), ("seconds", 1e9)):
        if ns >= size:
            return f"{ns / size:.2g} {unit}"
    return f"{ns:.3g} ns"


def _numbers(column: pd.Series, sep: str) -> bool:
    """Whether a column of a file's head holds only numbers (missing cells aside), in a file
    not separated by commas numbers written with a decimal comma (``2,25``) too."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return True
    cells = column.dropna().astype(str)
    if sep != ",":
        cells = cells.str.replace(",", ".", regex=False)
    return bool(pd.to_numeric(cells, errors="coerce").notna().all())


def _read_head(path: str, delimiter: str | None) -> tuple[pd.DataFrame, str] | None:
    """The first ``HEAD_ROWS`` rows of a text table (pandas' own column types) and its
    separator (``delimiter``, else by the name); None for other files and for a file pandas
    cannot read (the domain's reader names the problem later)."""
    if path.lower().endswith(TABLE_SUFFIXES):  # Parquet: its index as columns, dates as text
        from domains.timeseries.parquet import head

        frame = head(path, HEAD_ROWS)
        return None if frame is None else (frame, ",")
    if not textfiles.plain_name(path).endswith((".csv", ".txt", ".tsv", ".tab")):
        return None
    sep = delimiter or textfiles.delimiter(path)
    try:
        # rows ending with a separator the header lacks made the first column the index, and
        # the guess looked at each column one over: index_col=False for them (for all, pandas
        # warns of every file whose rows are longer than its header, read by the wrong separator)
        trailing = textfiles.rows_end_with_separator(path, sep)
        return pd.read_csv(path, sep=sep, nrows=HEAD_ROWS, index_col=False if trailing else None), sep
    except Exception:
        return None


def _is_text(col: pd.Series) -> bool:
    """Text cells (object before pandas 3, its own string dtype since)."""
    return col.dtype == object or pd.api.types.is_string_dtype(col.dtype)


def row_number_column(head: pd.DataFrame) -> str | None:
    """The first column of ``head`` when it labels the rows under no name or ``index``: what
    ``df.to_csv()`` or ``df.reset_index().to_csv()`` writes before the data, integers each row
    its own, counted (0..n-1, 1..n) or not (a frame filtered or shuffled before it was
    written: ``textfiles.written_index``, the table and labels readers' rule). Not the time
    (the file's times follow it) and not data (a ramp as a channel or a feature)."""
    if head.shape[1] < 3 or not len(head):
        return None
    first = head.columns[0]
    col = head[first]
    if str(first).strip().lower() not in ROW_NUMBER_NAMES or not pd.api.types.is_integer_dtype(col.dtype):
        return None
    return str(first) if textfiles.written_index(col, "") else None  # its name is checked above


def _text_times(col: pd.Series) -> np.ndarray | None:
    """The order keys of text cells that are each a date / time or a period label pandas does
    not read (``1959 Q1``, ``Q1 1959``, ``1949M01``, ``2020-W05``: ``times.period_starts``), as
    UTC nanoseconds; None when a cell is none. For the guess: the reader parses the file."""
    from encoderkit.data.cjk_dates import cjk_days
    from domains.timeseries.times import day_first, period_starts

    if not len(col) or not _is_text(col):
        return None
    texts = col.astype(str).str.strip()
    try:
        starts = period_starts(texts)
    except DataError:  # period labels but for an odd cell: a time column, which the reader refuses
        return np.zeros(len(texts), dtype=np.int64)
    if starts is not None:
        return starts.to_numpy().astype("datetime64[ns]").astype(np.int64)
    days = cjk_days(texts)  # 2024年1月2日: pandas reads none
    if days is not None:
        return days.to_numpy().astype("datetime64[ns]").astype(np.int64)
    with warnings_kept():  # pandas warns when it guesses each cell's format
        warnings.simplefilter("ignore")
        try:  # utc: times with UTC offsets that differ (over a daylight-saving change) too
            # day first as the reader reads them (dotted dates, a first field above 12)
            first = day_first(texts, str(col.name), None)
            stamps = pd.to_datetime(texts, format="mixed", utc=True, dayfirst=first)
        except (ValueError, TypeError, OverflowError):
            return None
    if (stamps.dt.year == 1).all():  # no year in any cell: ids such as m0, m12, t1 read as times of day
        return None
    return stamps.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)


def _head_times(col: pd.Series, named: bool) -> tuple[np.ndarray, bool] | None:
    """A head column's order keys and whether they are dates (ns), when it can be the time of a
    series: no missing cell (a series' time is never missing; a table's date column may be,
    its blanks are values to fill), and text dates / periods (not numbers: ``2,25`` parses as a
    date), or numbers under a time's name (``named``: ``year``, ``t``); else None."""
    if not len(col) or col.isna().any():
        return None
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return (col.to_numpy(np.float64), False) if named else None
    texts = col.astype(str).str.strip()
    # numbers, with a decimal point or comma (40,85 in a ';' file: pandas reads it as a date)
    if pd.to_numeric(texts, errors="coerce").notna().any() or \
            texts.str.fullmatch(textfiles.COMMA_NUMBER).fillna(False).any():
        return None
    keys = _text_times(col)
    return None if keys is None else (keys, True)


def _blocks(values: pd.Series) -> bool:
    """Whether each value of a head column comes in one run of rows, runs of two rows or more
    on average (no missing cell): series stacked one under the other; a column of notes or
    of measurements is not that."""
    if values.isna().any():
        return False
    runs = int((values != values.shift()).sum())
    return runs == values.nunique() and runs <= len(values) // 2


def _on_a_grid(keys: np.ndarray, dates: bool, groups: np.ndarray) -> bool:
    """Whether the times ``keys`` step strictly forward within each group (series) of at
    least 3 rows on average, and at least half of the steps are the most common one (whole
    months counted as months, ``times.calendar_months``). A series is sampled on a grid and
    written in time order; a table's dates (visits, orders) fall anywhere, in any order."""
    from domains.timeseries.times import calendar_months

    steps: list[tuple[bool, float]] = []
    _, starts = np.unique(groups, return_index=True)
    if len(keys) < 3 * len(starts):
        return False
    for g in groups[np.sort(starts)]:
        k = keys[groups == g]
        if len(k) < 2:
            continue
        if not (np.diff(k) > 0).all():
            return False
        t = pd.DatetimeIndex(k.astype("datetime64[ns]")) if dates else pd.Index(k)
        months = calendar_months(t)
        steps += [(months is not None, float(d)) for d in np.diff(months if months is not None else k)]
    if not steps:
        return False
    _, counts = np.unique(np.array(steps, dtype=np.float64), axis=0, return_counts=True)
    return bool(counts.max() * 2 >= len(steps))


def _interleaved(ids: pd.Series, keys: np.ndarray, dates: bool) -> bool:
    """Whether a text column of a head holds series ids written time by time (``df.sort_values
    ('ds')``, a panel by date: ``2021-01-01,north``, ``2021-01-01,south``, ...), not in blocks:
    at least two ids, each time at most once per id and some time under several ids, and the
    times ``keys`` on a grid within each id (``_on_a_grid``). Such a file was imputed as a table
    (a series at level ~10 filled with 26-49)."""
    if ids.isna().any():
        return False
    codes = pd.factorize(ids)[0]
    pairs = pd.DataFrame({"t": keys, "id": codes})
    return bool(codes.max(initial=0) >= 1 and not pairs.duplicated().any()
                and pairs["t"].duplicated().any() and _on_a_grid(keys, dates, codes))


def _id_in_blocks(head: pd.DataFrame, columns: Sequence[Any], keys: np.ndarray, dates: bool) -> Any:
    """The one column of ``columns`` whose values come in blocks (``_blocks``), with the times
    ``keys`` on a grid within each block, but repeated across the file: whole-number series
    ids (``id, time, value``). None when there is none, or more than one. A column named like
    a part of a time (``year`` before ``month``) is no id: the time spans both columns."""
    from domains.timeseries.times import TIME_PARTS

    found = [c for c in columns if pd.api.types.is_integer_dtype(head[c].dtype) and _blocks(head[c])
             and str(c).strip().lower() not in TIME_PARTS | TIME_NAMES
             and pd.Series(keys).duplicated().any() and _on_a_grid(keys, dates, head[c].to_numpy())]
    return found[0] if len(found) == 1 else None


def _series_shape(head: pd.DataFrame, time: Any, times: tuple[np.ndarray, bool], columns: Sequence[Any],
                  sep: str) -> bool:
    """Whether ``head`` read with ``time`` (not its first column) as the time column is shaped
    like a series file: besides the time, number columns (at least one, the channels) and at
    most one series-id column (text, or whole numbers, each id in one block of rows); the
    times on a grid within each series (``_on_a_grid``). What separates it from a table with a
    date column: a table has text columns (names, categories), blank dates to fill, or dates
    that are no grid (visits of patients, orders of customers), so it stays a table."""
    keys, dates = times
    others = [c for c in columns if c != time]
    text = [c for c in others if not _numbers(head[c], sep)]
    if len(text) > 1 or len(others) - len(text) < 1:
        return False
    if text:
        ids = head[text[0]]  # in blocks, or written time by time (a panel sorted by date)
        in_blocks = _blocks(ids) and _on_a_grid(keys, dates, pd.factorize(ids)[0])
        return len(others) >= 2 and (in_blocks or _interleaved(ids, keys, dates))
    if _on_a_grid(keys, dates, np.zeros(len(keys), dtype=np.int64)):
        return True
    key = _id_in_blocks(head, others, keys, dates)
    return key is not None and len(others) >= 2


def time_column(path: str, delimiter: str | None = None) -> str | None:
    """The time column of a CSV (None: a table). Its first column (after a column of row
    numbers, ``row_number_column``) when it is named like a time (``TIME_NAMES``) or holds
    dates / period labels before a column of numbers: the rule of the first releases, kept
    (a table whose first column is ``year`` reads as a series, and says so if refused).
    Another column when it holds dates / period labels, or numbers under a time's name, and
    the file is shaped like a series (``_series_shape``): exports with the series id first
    (``unique_id,ds,y``) or the values first, which were filled as tables (a column mean
    for every hole). ``delimiter``: the file's separator (None: by the file's name)."""
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, sep = read
    skip = row_number_column(head)
    columns = [c for c in head.columns if skip is None or str(c) != skip]
    if len(columns) < 2:
        return None
    first, top = columns[0], head.head(50)  # the first releases read 50 rows
    if str(first).strip().lower() in TIME_NAMES:
        return str(first)
    col = top[first].dropna()
    if len(col) and _is_text(col) and _numbers(top[columns[1]], sep) and _text_times(col) is not None:
        return str(first)
    for c in columns[1:]:
        times = _head_times(head[c], str(c).strip().lower() in TIME_NAMES)
        if times is not None and _series_shape(head, c, times, columns, sep):
            return str(c)
    return None


def first_column(path: str, delimiter: str | None = None) -> str | None:
    """The first column of a text table after a column of row numbers (``row_number_column``)."""
    read = _read_head(path, delimiter)
    if read is None or not read[0].shape[1]:
        return None
    skip = row_number_column(read[0])
    return next((str(c) for c in read[0].columns if skip is None or str(c) != skip), None)


def row_numbers_left_out(path: str, delimiter: str | None, options: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """A series CSV's leading column of row numbers (``row_number_column``) and its other
    columns but the time and series ones: given as ``channels=[...]``, the numbers stay in
    the file as they are instead of being a channel (a ramp the model trained on, held back
    and scored)."""
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, _ = read
    skip = row_number_column(head)
    roles = {options.get("time_column"), options.get("series_column")}
    if skip is None or skip in roles:
        return None
    return skip, [str(c) for c in head.columns if str(c) != skip and str(c) not in roles]


def _in_order(path: str, column: str, delimiter: str | None) -> bool:
    """Whether the head's times of ``column`` run forwards, so that reading the file as a series
    could help: at most a third of the steps go back (a stacked panel restarts once per series:
    5 visits a patient, 20%; shuffled dates go back about half the time)."""
    read = _read_head(path, delimiter)
    times = None if read is None or column not in read[0].columns else _head_times(read[0][column], True)
    return times is None or float(np.mean(np.diff(times[0]) < 0)) <= 1 / 3


def dated_column(path: str, delimiter: str | None = None) -> str | None:
    """The first column of a text table whose cells are all dates / times or period labels
    (``_head_times``), or None: a table that has one is imputed without its row order, which
    ``impute`` says aloud (``domain=timeseries time_column=...`` reads it as a series)."""
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, _ = read
    return next((str(c) for c in head.columns if _head_times(head[c], False) is not None), None)


def series_column(path: str, time: str | None, delimiter: str | None = None) -> str | None:
    """In a series CSV, the one text column besides the time column when its values come in
    blocks, each name in one run of rows (``time, series, value``: series stacked one under
    the other; a column of notes is not that), or None. Without such a text column, the one
    whole-number column in blocks within which the times, repeated across the file, step
    forward (``id, time, value``: numbered series; a step counter does not make the times
    repeat). ``delimiter``: as ``time_column``."""
    if not path.lower().endswith((".csv", ".txt") + TABLE_SUFFIXES):
        return None
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, sep = read
    text = [c for c in head.columns if str(c) != time and not _numbers(head[c], sep)]
    if not text and time is not None and time in head.columns and head.shape[1] > 2:
        times = _head_times(head[time], True)
        key = None if times is None else _id_in_blocks(
            head, [c for c in head.columns if str(c) != time], *times)
        return None if key is None else str(key)
    if len(text) != 1 or head.shape[1] <= 1 + (time is not None):
        return None
    if _blocks(head[text[0]]):
        return str(text[0])
    times = _head_times(head[time], True) if time is not None and time in head.columns else None
    return str(text[0]) if times is not None and _interleaved(head[text[0]], *times) else None


def _lone_text(path: str, time: str, delimiter: str | None) -> str | None:
    """The one text column of a file's head besides ``time``: read as a series, it can only be
    the series id (the reader refuses text in a channel), so the advice names it."""
    read = _read_head(path, delimiter)
    if read is None:
        return None
    head, sep = read
    text = [str(c) for c in head.columns if str(c) != time and not _numbers(head[c], sep)]
    return text[0] if len(text) == 1 else None


# ---------------------------------------------------------------- the guesses impute makes

def guess_domain(input: str, ingest_options: Mapping[str, Any], say: Callable[[str], None]) -> str:
    """The domain of ``input`` when none is given (``infer_domain``), said aloud; a table with
    a column of dates is warned of (its rows are imputed without their order)."""
    domain = infer_domain(input, ingest_options)
    say(f"impute: {input} read as {domain} (set domain=tabular|timeseries to choose)")
    sep = ingest_options.get("delimiter")
    time = time_column(input, sep) if domain == "tabular" else None
    events = irregular_times(input, time, sep) if time is not None else None
    dated = time if events is not None else dated_column(input, sep) if domain == "tabular" else None
    if dated is not None:  # said even with progress=false: the fills ignore the row order
        why = (f"its times step irregularly ({events[0]} of {events[1]} steps are more than "
               f"{GRID_SLACK:.0%} off the median, {events[2]}): events, not samples on a grid, so the "
               f"file is read as a table") if events is not None else \
            ("the file is read as a table (a series file has, besides its time, number columns "
             "and at most one series id, its times in order on a regular grid)")
        key = series_column(input, dated, sep) or _lone_text(input, dated, sep)
        # stacklevel 3: the warning names the caller of ``impute`` (beneath its decorator)
        held = "numbers read as times" if events is not None and not events[3] else "dates / times"
        advice = (f"; domain=timeseries time_column={word(dated)}"
                  f"{f' series_column={word(key)}' if key else ''} reads it as a series") \
            if _in_order(input, dated, sep) else ""  # shuffled dates (release weeks): no series in it
        warnings.warn(f"{input}: column {dated!r} holds {held}, but {why}: its rows are imputed "
                      f"as a table's, without their order{advice}", stacklevel=3)
    return domain


def guess_columns(input: str, domain: str, ingest_options: Mapping[str, Any], guessed: bool,
                  say: Callable[[str], None]) -> tuple[dict[str, Any], str | None, tuple[str, list[str]] | None]:
    """A series file's time, series and row-number columns where the options do not name
    them, each said aloud. Returns ``(ingest options with them, the time column that made a
    guessed domain a series or None, (row-number column, channels) or None)``."""
    ingest_options = dict(ingest_options)
    time_guess = None  # the column that made a guessed domain a series
    sep = ingest_options.get("delimiter")  # the file's head is read with it (None: by the name)
    found = time_column(input, sep) if domain == "timeseries" and "time_column" not in ingest_options else None
    if found:  # the file's head is read once for it
        ingest_options = {**ingest_options, "time_column": found}
        time_guess = found if guessed else None
        say(f"impute: column {found!r} is the time (set time_column= to choose)")
    key = series_column(input, ingest_options.get("time_column"), sep) if domain == "timeseries" and not \
        {"series_column", "value_column", "channels"} & set(ingest_options) else None
    if key:  # the file's head is read once for it
        ingest_options = {**ingest_options, "series_column": key}
        say(f"impute: column {key!r} names the series (set series_column= to choose)")
    numbered = row_numbers_left_out(input, sep, ingest_options) if domain == "timeseries" and not \
        {"channels", "value_column", "channel_column"} & set(ingest_options) else None
    if numbered:
        ingest_options = {**ingest_options, "channels": numbered[1]}
        say(f"impute: column {numbered[0]!r} numbers the rows: left as it is, not a channel "
            f"(set channels=[...] to choose)")
    return ingest_options, time_guess, numbered
