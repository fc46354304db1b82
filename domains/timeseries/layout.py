"""How a series CSV is laid out beyond its cells, so that a filled file is written back as
it came: blank header cells (the row index ``df.to_csv()`` writes, header ``,co2``; a
separator ending every line, ``date,co2,``), a UTF-8 byte-order mark and CRLF line ends
(Excel's "CSV UTF-8"), as the table writer keeps them. pandas names a blank header cell
``Unnamed: 2``, and its writer wrote that name, no mark and ``\\n``.

Also: a first line that reads as data (a date and numbers), which the readers take for
the header, so that row was never filled, without a word.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from encoderkit.data.textfiles import open_text

BOM = b"\xef\xbb\xbf"
# how pandas names a blank header cell
_UNNAMED = re.compile(r"Unnamed: (\d+)")


@dataclass
class Layout:
    """What ``write_output`` restores of the file a frame was read from."""

    columns: list[str] = field(default_factory=list)  # the frame's column names as read
    cells: list[str] = field(default_factory=list)  # the header line's cells as written
    blank: frozenset[int] = frozenset()  # positions of blank header cells (empty or spaces)
    newline: str = "\n"
    bom: bool = False


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
    return Layout(names, cells, blank, newline, bom)


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


def _nameless(name: Any) -> bool:
    """A column name pandas gives a blank header cell (``Unnamed: 2``), or only spaces."""
    return bool(_UNNAMED.fullmatch(str(name))) or not str(name).strip()


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
    with warnings.catch_warnings():  # pandas warns when it guesses a format
        warnings.simplefilter("ignore")
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
    """``to_csv``'s line end and encoding for ``data``: the file's own (``layout``) when
    ``data`` is that file's frame, else ``\\n`` and UTF-8 without a mark."""
    if layout is None or [str(c) for c in data.columns] != layout.columns:
        return {}
    return {"lineterminator": layout.newline, "encoding": "utf-8-sig" if layout.bom else "utf-8"}


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
