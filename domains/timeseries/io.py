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
from typing import IO, Any, Callable, Collection, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import (COMMA_NUMBER, check_decimal, check_row_widths, delimiter,
                                      keep_integer_columns)
from encoderkit.errors import DataError, reading
from encoderkit.numerics import F32_MAX, F32_TINY
from encoderkit.overrides import option_word

from .layout import BLOCK, in_order, long_cells, release_arrow, series_rows, text_cells, text_frame
from .marks import marked, marks_message, sentinel_words, written_numbers_advice
from .row_labels import index_column, index_message
from .times import (NA_TEXT, TimeFormError, parse_times, refuse_split_time, sort_key, twice_hint, uneven_series,
                    warn_uneven)



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
    return bool(parse_times(head).notna().mean() >= 0.9)  # two UTC offsets too (a DST change)


# a number written with a decimal comma and no thousands mark (2,25  -0,5  12: the tabular
# reader's, textfiles.COMMA_NUMBER), and one written with a decimal point (2.25  .5  1.5e3)
_COMMA_NUMBER = re.compile(COMMA_NUMBER)
_POINT_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def numeric_column(texts: pd.Series, path: str, column: str, decimal: str = ".",
                   words: frozenset[str] = frozenset(), warn: bool = True,
                   place: Callable[[int], str] | None = None) -> np.ndarray:
    """Column of cell texts -> float64, each number exactly as Python's ``float(text)``;
    NaN for NA cells; error for non-numeric cells. ``decimal=','``: numbers are written
    ``2,25``, read as ``2.25``; a cell with a point is then no number (``1.234,5``: the
    thousands mark is not read, as the tabular reader does not read it). Missing marks
    (``-``, ``?``, ``.``: ``marks.marked``) and ``words`` (``missing_value``'s) are NaN
    too, with a warning counting them (``warn``) as the table reader gives one.
    ``place``: where the cell at a position is in the file (default: a CSV's data row and line).
    Read ``BLOCK`` rows at a time: each step makes a copy of the texts (stripped, lower-case,
    a Python string per cell), which for a whole column of a large file was several times
    its size at once."""
    values = np.empty(len(texts))
    hole = np.empty(len(texts), dtype=bool)
    marks = []
    for a in range(0, len(texts), BLOCK):
        values[a:a + BLOCK], hole[a:a + BLOCK], spelt = _numbers(texts.iloc[a:a + BLOCK], decimal, words)
        marks.append(spelt)
    if sum(map(len, marks)) and warn:  # a hole the file spells otherwise; refused, the series had no way in
        warnings.warn(marks_message(path, column, pd.concat(marks)), stacklevel=2)
    bad = np.flatnonzero(np.isnan(values) & ~hole)
    if bad.size:
        _refuse_cells(texts, bad, hole, path, column, decimal, place)
    return values


def _numbers(texts: pd.Series, decimal: str, words: frozenset[str]) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Of cell texts (a block of ``numeric_column``'s): their numbers (NaN where none), which
    are holes (NA words, missing marks), and the texts of the marked ones (for the warning)."""
    stripped = texts.astype(str).str.strip()
    na = stripped.str.lower().isin(NA_TEXT).to_numpy()
    mark = marked(stripped, words) & ~na
    na = na | mark
    number = stripped if decimal == "." else stripped.where(
        ~stripped.str.contains(".", regex=False), "x").str.replace(",", ".", regex=False)
    values = pd.to_numeric(number.where(~na, "nan"), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    # to_numeric says which cells are numbers, but its parser can be one rounding step off
    # for 17+ significant digits (0.3915000806360837783 -> ...837, not ...8377); numpy's
    # text -> float64 conversion rounds correctly
    ok = ~np.isnan(values)
    values[ok] = number.to_numpy(dtype=str)[ok].astype(np.float64)
    return values, na, stripped[mark]


def _refuse_cells(texts: pd.Series, bad: np.ndarray, hole: np.ndarray, path: str, column: str,
                  decimal: str, place: Callable[[int], str] | None) -> None:
    """The ``DataError`` of a channel column with cells that are no numbers (rows ``bad``;
    ``hole``: the missing cells), naming the first and saying what the cells may be."""
    stripped = texts.astype(str).str.strip()
    row = int(bad[0])
    cell = stripped.iloc[row]
    raise DataError(
        f"{path}: non-numeric cell {texts.iloc[row]!r} at "
        f"{place(row) if place else f'data row {row + 1} (line {row + 2})'}, "
        f"column {column!r}; {bad.size} such cell(s) in that column. Time-series channels "
        f"must be numbers or empty/NaN for missing values; "
        + ("decimal=',' reads numbers written 2,25, so a point is no decimal mark here "
           "(remove thousands marks; decimal='.' reads 2.25)" if decimal == "," else
           odd if (odd := written_numbers_advice(stripped.iloc[bad])) else
           "numbers written with a decimal comma (2,25) are read with decimal=','"
           if _COMMA_NUMBER.fullmatch(cell) else  # pandas reads 1,5 as a date too
           f"the column holds dates or times: give {option_word('time_column', str(column))} (rows are then "
           f"ordered by it)" if _mostly_times(stripped[~hole]) else
           "name non-channel columns with time_column= / series_column= or list the "
           "channels with channels=[...]"))


def column_values(cells: pd.Series, path: str, column: str, decimal: str = ".",
                  words: frozenset[str] = frozenset(), place: Callable[[int], str] | None = None) -> np.ndarray:
    """A channel column -> float64: a column of numbers or booleans (a Parquet file's typed
    column; NaN / None missing) as it is, else ``numeric_column`` of its cell texts."""
    if pd.api.types.is_bool_dtype(cells.dtype) or pd.api.types.is_numeric_dtype(cells.dtype):
        refuse_complex(np.asarray(cells), f"{path}: column {column!r}")
        return cells.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return numeric_column(cells, path, column, decimal, words, place=place)


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


def read_csv(path: str, *, time_column: str | None = None, series_column: str | None = None,
             channels: Sequence[str] | None = None, value_column: str | None = None,
             channel_column: str | None = None, sep: str | None = None,
             decimal: str = "auto", missing_value: Any = None,
             index_channels: Collection[str] = ()) -> list[Series]:
    """Parse a wide or long CSV (long when ``value_column`` is given); any problem is a
    ``DataError`` naming the file (compressed files by extension: .gz, .bz2, .xz, .zip, .zst).
    ``sep``: the field separator (None: by the name, ``textfiles.delimiter``); ``decimal``:
    the numbers' decimal mark, ``auto`` | ``.`` | ``,`` (``decimal_mark``); ``missing_value``:
    the option's words are missing cells too (its numbers are matched by value later);
    ``index_channels``: see ``frame_series``."""
    with reading(path):
        return _read_csv(path, time_column=time_column, series_column=series_column, channels=channels,
                         value_column=value_column, channel_column=channel_column, sep=sep,
                         decimal=decimal, missing_value=missing_value, index_channels=index_channels)


def _read_csv(path: str, *, time_column: str | None, series_column: str | None,
              channels: Sequence[str] | None, value_column: str | None,
              channel_column: str | None, sep: str | None = None, decimal: str = "auto",
              missing_value: Any = None, index_channels: Collection[str] = ()) -> list[Series]:
    given, sep = sep is not None, sep or delimiter(path)
    check_decimal(path, sep, decimal)
    check_row_widths(path, sep, option=True, given=given)  # pandas reads a short row as missing values
    try:  # no name holds the frame here: frame_series frees it once sorted or read
        return frame_series(text_cells(path, sep), path, time_column=time_column, series_column=series_column,
                            channels=channels, value_column=value_column, channel_column=channel_column,
                            sep=sep, decimal=decimal, words=sentinel_words(missing_value),
                            index_channels=index_channels)
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty (no header, no rows)", file=path) from None


def frame_series(frame: pd.DataFrame, path: str, *, time_column: str | None, series_column: str | None,
                 channels: Sequence[str] | None, value_column: str | None, channel_column: str | None,
                 sep: str = ",", decimal: str = ".", words: frozenset[str] = frozenset(),
                 unit: str = "line", index_channels: Collection[str] = ()) -> list[Series]:
    """The series of a file read as ``frame``: a CSV's cell texts, or a Parquet file's typed
    columns (``parquet.py``: numbers as they are, the series column as text). The checks are
    the same for both: the columns named exist, the rows are ordered by time, a time repeated
    within a series or a channel cell that is no number is refused naming the file and the
    place (``unit``: ``line`` of a CSV, counting the header; ``row`` of a Parquet file).
    Unless ``channels`` lists them, a wide table's channels are its columns but the role
    columns and the row index pandas wrote (``row_labels.index_column``), which is a channel
    only where ``index_channels`` (a store's channel names, appended to) names it."""
    first = 2 if unit == "line" else 1
    for option, col in (("time_column", time_column), ("series_column", series_column),
                        ("value_column", value_column), ("channel_column", channel_column)):
        if col is not None and col not in frame.columns:
            raise DataError(f"{path}: the {option} {col!r} is not a column; columns are "
                             f"{list(frame.columns)}")
    line_of = np.arange(len(frame)) + first  # the file line (or row) of each (sorted) row
    frame = frame.copy(deep=False)  # ours to sort in place (in_order); the caller's stays as it is

    def place(row: int) -> str:
        n = int(line_of[row])
        return f"data row {n - 1} (line {n})" if unit == "line" else f"row {n}"
    when = None
    if time_column is not None:
        when = sort_key(frame[time_column], path, time_column).to_numpy()
        release_arrow()
        refuse_split_time(frame, when, time_column, [series_column, channel_column], path)
        order = np.argsort(when, kind="stable")
        if (order != line_of - first).any():  # rows out of time order: sorted
            frame, when, line_of = in_order(frame, order), when[order], line_of[order]
        release_arrow()
    if series_column is not None:
        empty = np.flatnonzero((frame[series_column].str.strip() == "").to_numpy())
        if empty.size:
            row = int(empty[0])
            raise DataError(f"{path}: series column {series_column!r}: {unit} {line_of[row]} names no "
                            f"series (empty cell); every row needs its series id")
        release_arrow()
    groups = series_rows(frame, series_column)
    out: list[Series] = []
    base = os.path.basename(path)
    if when is not None:
        warn_uneven(path, uneven_series(when, ((f"{base}:{key}" if key else base, rows)
                                               for key, rows in groups)))
    if value_column is None:  # wide
        reserved = {time_column, series_column}
        names = list(channels) if channels is not None else [c for c in frame.columns if c not in reserved]
        index = None if channels is not None else index_column(frame, reserved, index_channels)
        if index is not None:  # the row labels df.to_csv() wrote: no channel (row_labels.py)
            names.remove(index)
            warnings.warn(index_message(path, index, frame[index], names), stacklevel=3)
        missing = [c for c in names if c not in frame.columns]
        if missing or not names:
            raise DataError(f"{path}: channels {missing or names} not found among the columns "
                             f"{list(frame.columns)}")
        mark = decimal_mark(frame, names, sep, decimal)
        cols = {c: column_values(frame[c], path, c, mark, words, place) for c in names}
        release_arrow()
        for key, rows in groups:
            if when is not None:  # two rows of one series at one time: which is the sample?
                again = np.flatnonzero(when[rows][1:] == when[rows][:-1])
                if again.size:
                    a, b = rows[again[0]], rows[again[0] + 1]
                    hint = twice_hint(frame[time_column].iloc[a], frame[time_column].iloc[b], when[a])
                    # with a hint the times are a series' written ambiguously: no table's year
                    raise (TimeFormError if hint else DataError)(
                        f"{path}: series {(f'{base}:{key}' if key else base)!r}: time "
                        f"{str(frame[time_column].iloc[b])!r} appears twice ({unit}s {line_of[a]} "
                        f"and {line_of[b]}); give each time of a series one row{hint}")
            values = np.stack([cols[c][rows] for c in names])  # [C, L]
            out.append(Series(f"{base}:{key}" if key else base, values, list(map(str, names))))
        return out
    # long: the text frame reduced to numbers (codes of the time and channel texts, the values)
    # and freed column by column, the series then laid out from those numbers
    chan_code, seen = pd.factorize(frame[channel_column].astype(str)) if channel_column else (None, [])
    times = pd.factorize(frame[time_column])[0] if time_column is not None else None
    n_rows, mark = len(frame), decimal_mark(frame, [value_column], sep, decimal)
    texts, frame = frame[value_column], None  # type: ignore[assignment]
    release_arrow()
    vals = column_values(texts, path, value_column, mark, words, place)
    texts = None
    release_arrow()
    if channel_column:
        names = list(seen) if channels is None else list(channels)
    else:  # one channel, "value"; none in a file without rows
        names = (["value"] if n_rows else []) if channels is None else list(channels)
    if not groups:
        return out
    c_idx = pd.Index(names).get_indexer(seen)[chan_code] if chan_code is not None else \
        np.broadcast_to(pd.Index(names).get_indexer(["value"]), (n_rows,))
    for key, rows, c, t, length in long_cells(groups, c_idx, times, when, len(names), path, value_column):
        values = np.full((len(names), length), np.nan)
        values[c, t] = vals[rows]
        out.append(Series(f"{base}:{key}" if key else base, values, names))
    return out


def _read_table(path: str, sep: str, **kw: Any) -> pd.DataFrame:
    """pandas' reader, never taking the first column for the index: empty fields after the
    last column (a separator ending every row; longer rows are refused by
    ``check_row_widths``) are dropped. Text (``dtype=str``) is read as ``object`` and made
    ``str`` after (``text_frame``): read as ``str``, pandas warns of that dropped field, and
    a filter against it would take the session lock. Numbers: the field is missing, no warning."""
    if kw.get("dtype") is str:
        return text_frame(pd.read_csv(path, sep=sep, index_col=False, **{**kw, "dtype": object}))
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
