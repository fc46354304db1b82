"""How a series CSV is laid out beyond its cells, so that a filled file is written back as
it came: blank header cells (the row index ``df.to_csv()`` writes, header ``,co2``; a
separator ending every line, ``date,co2,``), a separator ending every data row but not the
header (``date,co2`` over ``1958-03-29,316.1,``: kept too, so the output differs from the
input only where it was filled), a UTF-8 byte-order mark and CRLF line ends (Excel's "CSV
UTF-8"), as the table writer keeps them. pandas names a blank header cell ``Unnamed: 2``,
and its writer wrote that name, no mark and ``\\n``.

Also: a first line that reads as data (a date and numbers), which the readers take for
the header, so that row was never filled, without a word. And the rows of a file into
series without a DataFrame per series (``series_rows``, ``long_cells``: where each row of a
long layout goes), the text cells read and sorted with as little memory held as can be.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import UNNAMED, open_text, rows_end_with_separator
from encoderkit.errors import DataError

BOM = b"\xef\xbb\xbf"
# rows of a file read, or of a column parsed, at a time (text_cells, io.numeric_column)
BLOCK = 1 << 16


@dataclass
class Layout:
    """What ``write_output`` restores of the file a frame was read from."""

    columns: list[str] = field(default_factory=list)  # the frame's column names as read
    cells: list[str] = field(default_factory=list)  # the header line's cells as written
    blank: frozenset[int] = frozenset()  # positions of blank header cells (empty or spaces)
    newline: str = "\n"
    bom: bool = False
    row_end: bool = False  # each data row ends with a separator the header lacks (``date,co2`` / ``..,316.1,``)


def header_cells(path: str, sep: str) -> list[str]:
    """The header line's cells as written (pandas renames a blank one ``Unnamed: i``); none
    where the file cannot be read here (its reader names the problem)."""
    try:
        first = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, index_col=False,
                            keep_default_na=False)
    except Exception:  # an empty or damaged file: its reader says what is wrong
        return []
    return [str(v) for v in first.iloc[0].tolist()] if len(first) else []


def _line_end(path: str) -> tuple[str, bool]:
    """The first line's end (``\\r\\n`` or ``\\n``) and whether the file starts with a UTF-8
    byte-order mark; ``\\n`` and none where the start cannot be read here."""
    try:
        fh = open_text(path, binary=True)
        if fh is None:  # .zst / .tar: pandas-only compressions
            return "\n", False
        with fh:
            raw = fh.read(1 << 20)
    except (OSError, ValueError):
        return "\n", False
    line = raw.split(b"\n", 1)[0]
    return ("\r\n" if b"\n" in raw and line.endswith(b"\r") else "\n"), raw.startswith(BOM)


def read_layout(path: str, sep: str, frame: pd.DataFrame) -> Layout:
    """The ``Layout`` of the CSV ``path`` (separated by ``sep``), read as ``frame``."""
    cells = header_cells(path, sep)
    names = [str(c) for c in frame.columns]
    blank = frozenset(i for i, c in enumerate(cells) if i < len(names) and not c.strip())
    newline, bom = _line_end(path)
    return Layout(names, cells, blank, newline, bom, rows_end_with_separator(path, sep))


def drop_blank_empty(frame: pd.DataFrame, path: str, sep: str) -> pd.DataFrame:
    """``frame`` (a file's cells as text) without the columns whose header cell is blank and
    whose cells are all empty: a separator at the end of every line (``date,co2,``), which
    the table reader drops too. Read as a channel it had no observed value, and the series
    was refused naming ``Unnamed: 2``, a column the user never wrote."""
    if not any(_nameless(c) for c in frame.columns):
        return frame
    cells = header_cells(path, sep)
    empty = [i for i, c in enumerate(cells) if i < frame.shape[1] and not c.strip()
             and not frame.iloc[:, i].astype(str).str.strip().ne("").any()]
    return frame.iloc[:, [i for i in range(frame.shape[1]) if i not in empty]] if empty else frame


def text_cells(path: str, sep: str) -> pd.DataFrame:
    """The cells of a CSV as text, read in blocks of rows (at once, pandas' parser held a
    Python string of every cell, several times the file's size), without the nameless empty
    column of a separator ending every line (no channel, as tables drop it)."""
    with pd.read_csv(path, sep=sep, index_col=False, dtype=object, keep_default_na=False,
                     chunksize=BLOCK) as reader:
        parts = [text_frame(part) for part in reader]
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    del parts
    release_arrow()
    return drop_blank_empty(frame, path, sep)


def text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells pandas read as ``dtype=object`` (``keep_default_na=False``) as the ``str`` columns
    ``dtype=str`` gives, the same values. Read as ``str``, the empty field a separator ending
    every data row leaves after the last column is no ``""`` of an object column to pandas, so
    it warns that the column is lost (ParserWarning); a filter against that warning changes
    the process's filters and so takes the session lock, which a training in another thread
    holds for its whole length: a series read waited for it."""
    return frame.astype(str)


def _nameless(name: Any) -> bool:
    """A column name pandas gives a blank header cell (``Unnamed: 2``), or only spaces."""
    return bool(UNNAMED.fullmatch(str(name))) or not str(name).strip()


def is_blank_empty(name: Any, column: pd.Series) -> bool:
    """A column of a DataFrame that is a nameless empty column of the file it came from
    (``Unnamed: 2``, every cell missing): no channel, left as it is."""
    return _nameless(name) and bool(column.isna().all())


def written_names(data: pd.DataFrame, layout: Layout | None) -> list[str] | None:
    """The header to write ``data`` with: its names, blank where the file read had a blank
    header cell; None (the names as they are) when ``data`` is not that file's frame."""
    names = [str(c) for c in data.columns]
    if layout is None or names != layout.columns or not layout.blank:
        return None
    return [layout.cells[i] if i in layout.blank else n for i, n in enumerate(names)]


def _is_time(cell: str) -> bool:
    """Whether a header cell is a date / time rather than a name: it has digits and pandas
    parses it (``1958-03-29``, ``2021-10-31 02:00``; a bare number is no date here)."""
    if not any(ch.isdigit() for ch in cell) or _is_number(cell):
        return False
    # format="mixed": each cell parsed on its own, no format guessed, so pandas says nothing
    # (its "Could not infer format" is said of a guessed one): no filter, no session lock
    return not pd.isna(pd.to_datetime(cell, errors="coerce", format="mixed"))


_SAID_DATA_HEADER: set[tuple[str, tuple[str, ...]]] = set()


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def warn_data_header(path: str, cells: list[str]) -> None:
    """Warn when the header ``cells`` (the first line) are a date / time, then numbers: the
    line is almost surely data in a file without a header, read as the column names, so
    that row is never filled and the channels are named by its values. (A line of numbers
    alone is refused: ``files.refuse_numbers_as_header``; columns named by dates are not
    this: their names are all dates.)"""
    if len(cells) < 2 or (path, tuple(cells)) in _SAID_DATA_HEADER:
        return
    rest = [c.strip() for c in cells[1:] if c.strip()]  # a blank cell: a hole in that row
    if not rest or not _is_time(cells[0].strip()) or not all(_is_number(c) for c in rest):
        return
    _SAID_DATA_HEADER.add((path, tuple(cells)))  # once: impute reads the file twice (ingest, infill)
    warnings.warn(f"{path}: line 1 ({_shown(cells)!r}) looks like data, not a header (a date and "
                  f"numbers): it is read as the column names, so its values are never filled; add a "
                  f"header line naming the columns (date,value)", stacklevel=3)


def _shown(cells: list[str]) -> str:
    text = ",".join(cells)
    return text if len(text) <= 60 else text[:57] + "..."


def write_kwargs(layout: Layout | None, data: pd.DataFrame) -> dict[str, Any]:
    """``textfiles.write_table``'s line end, encoding and row ends for ``data``: the file's own
    (``layout``) when ``data`` is that file's frame, else ``\\n``, UTF-8 without a mark, and
    rows that end with their last cell."""
    if layout is None or [str(c) for c in data.columns] != layout.columns:
        return {}
    return {"lineterminator": layout.newline, "encoding": "utf-8-sig" if layout.bom else "utf-8",
            "row_end": layout.row_end}


def blank_as_text(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """``frame`` with each nameless column that holds no value (a separator ending every
    line) as empty text: kept, so the file is written back with its separators and its
    cells line up with the file's, but no number column, which every reader of the frame
    (``encoderkit impute`` too) would take for a channel with no observed value."""
    out = frame
    for i in sorted(layout.blank):
        if i < frame.shape[1] and frame.iloc[:, i].isna().all():
            if out is frame:
                out = frame.copy()
            out.isetitem(i, pd.Series(pd.NA, index=frame.index, dtype="string"))
    return out


# ---------------------------------------------------------------- rows into series

def in_order(frame: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """``frame`` with its rows in ``order`` (index 0..n-1), sorted in place a column at a
    time: each column the frame held is freed (where no other frame holds it) as soon as
    its sorted copy is made, rather than the whole table held twice."""
    for j in range(frame.shape[1]):
        frame.isetitem(j, frame.iloc[:, j].array.take(order))
        release_arrow()
    frame.index = pd.RangeIndex(len(frame))
    return frame


def release_arrow() -> None:
    """Give the memory of freed Arrow arrays back to the system. pandas' text columns are
    Arrow arrays, and Arrow's allocator (mimalloc) keeps what they freed for its own next
    arrays, which numpy's cannot use: each text step over a large file (a stripped copy, a
    lower-case copy) stayed in the process, three times the file's size by the end."""
    try:
        import pyarrow as pa
    except ImportError:  # pandas without Arrow: nothing of it to give back
        return
    pa.default_memory_pool().release_unused()


def series_rows(frame: pd.DataFrame, series_column: str | None) -> list[tuple[str, np.ndarray]]:
    """Each series of ``frame`` (its id, as text) and its rows (positions, in frame order),
    in the order the ids first appear: ``groupby(series_column, sort=False)``'s groups
    (rows without an id in none), without a DataFrame per series."""
    if series_column is None:
        return [("", np.arange(len(frame)))]
    codes, ids = pd.factorize(frame[series_column], sort=False)
    release_arrow()
    order = np.argsort(codes, kind="stable")[np.count_nonzero(codes < 0):]  # missing ids (-1) first
    ends = np.cumsum(np.bincount(codes + 1, minlength=len(ids) + 1)[1:])
    return [(str(k), order[a:b]) for k, a, b in zip(ids, np.r_[0, ends[:-1]], ends)]


def long_cells(groups: list[tuple[str, np.ndarray]], c_idx: np.ndarray, times: np.ndarray | None,
               when: np.ndarray | None, n_channels: int, path: str, value_column: str
               ) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Where the rows of a long layout go in each series ``[C, L]``: for each of ``groups``
    (``series_rows``), its id, the rows of a kept channel (``c_idx``: each row's channel,
    -1 for one not read), their channel and time step, and the series' length. A time step
    is the rank of the row's time text (``times``: its code, ``pd.factorize``; ``when``: its
    sort key, the frame sorted by it) among the series' times in the order they first appear,
    or without times the row's count within its channel in file order. Computed for all
    series at once (a DataFrame and a dictionary per series took most of the time of a file
    of many short series), with a few integers per row."""
    sizes = np.fromiter((len(r) for _, r in groups), dtype=np.int64, count=len(groups))
    rows = np.concatenate([r for _, r in groups]) if groups else np.empty(0, np.intp)
    series = np.repeat(np.arange(len(groups)), sizes)
    chan = c_idx[rows]
    if (chan < 0).any():  # rows of a channel not read
        kept = chan >= 0
        rows, series, chan = rows[kept], series[kept], chan[kept]
    counts = np.bincount(series, minlength=len(groups))
    ends = np.cumsum(counts)
    starts = ends - counts
    if times is None or when is None:
        step, lengths = _file_steps(series, chan, starts, counts, n_channels)
    else:
        found = _time_steps(series, chan, times[rows], when[rows], len(groups), n_channels)
        if isinstance(found, int):  # a (time, channel) of one series twice: that series
            raise DataError(f"{path}: series {groups[found][0]!r} has more than one value for the same "
                            f"(time, channel) in long layout (value_column={value_column!r})")
        step, lengths = found
    for k, (key, _) in enumerate(groups):
        a, b = starts[k], ends[k]
        yield key, rows[a:b], chan[a:b], step[a:b], int(lengths[k])


def _file_steps(series: np.ndarray, chan: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Without times: each row's count within its series and channel (rows in file order
    within each series; ``starts``, ``counts``: each series' first row and rows), and each
    series' length, its longest channel."""
    if n_channels <= 1:  # one channel: a row's place in its series
        return np.arange(len(series)) - starts[series], counts.copy()
    key = series * n_channels + chan
    by = np.argsort(key, kind="stable")
    run = key[by]
    at = np.arange(len(run))
    first = np.ones(len(run), dtype=bool)
    first[1:] = run[1:] != run[:-1]
    step = np.empty(len(run), dtype=np.int64)
    step[by] = at - np.maximum.accumulate(np.where(first, at, 0))
    lengths = np.zeros(len(counts), dtype=np.int64)
    np.maximum.at(lengths, series, step + 1)
    return step, lengths


def _time_steps(series: np.ndarray, chan: np.ndarray, t: np.ndarray, when: np.ndarray, n_series: int,
                n_channels: int) -> tuple[np.ndarray, np.ndarray] | int:
    """Each row's time step (``long_cells``) and each series' length, from the rows' series,
    channels, time texts (codes ``t``) and sort keys ``when``; or the series (its index) that
    holds a (time, channel) twice. Rows of a series come in time order, so a time text
    (one sort key) is one run of rows and its step is the run's number in the series; only
    where one sort key has two texts (``1`` and ``1.0``), whose first rows may alternate,
    are the texts ranked by their first row (``_first_seen_steps``)."""
    new = np.ones(len(t), dtype=bool)  # the first row of a (series, time text) run
    if len(t) > 1:
        one = series[1:] == series[:-1]
        new[1:] = ~(one & (t[1:] == t[:-1]))
        if (one & (when[1:] == when[:-1]) & new[1:]).any():
            return _first_seen_steps(series, chan, t, n_series, n_channels)
    pair = np.cumsum(new) - 1  # each row's (series, time text), numbered in row order
    lengths = np.bincount(series[new], minlength=n_series)
    if n_channels <= 1 and not new.all():  # one channel: a run of two rows is a time twice
        return int(series[np.argmax(~new)])
    if n_channels > 1:
        key = np.sort(pair * n_channels + chan)
        twice = key[1:][key[1:] == key[:-1]]
        if twice.size:  # the first such (series, time): the first series with one
            return int(series[np.searchsorted(pair, twice.min() // n_channels)])
    pair -= np.r_[0, np.cumsum(lengths)[:-1]][series]
    return pair, lengths


def _first_seen_steps(series: np.ndarray, chan: np.ndarray, t: np.ndarray, n_series: int,
                      n_channels: int) -> tuple[np.ndarray, np.ndarray] | int:
    """``_time_steps`` where the runs do not tell the order: the (series, time text) pairs
    numbered in order of their first row (rows come series by series, so each series' pairs
    are numbered in a row), hashed."""
    span = int(t.max(initial=-1)) + 2  # codes -1 (none) .. max, shifted to 0 .. max + 1
    pairs, firsts = pd.factorize(series * span + (t + 1))
    lengths = np.bincount(firsts // span, minlength=n_series)
    twice = pd.Series(pairs * max(n_channels, 1) + chan).duplicated().to_numpy()
    if twice.any():
        return int(series[np.argmax(twice)])
    return pairs - np.r_[0, np.cumsum(lengths)[:-1]][series], lengths
