"""The checks a table read passes before it becomes a DataFrame, each refusing a file with a
``DataError`` that names it and says what to do: a first line that is no header (Excel's
``sep=`` hint, a comment, a title, a header that is not UTF-8), the wrong delimiter, ragged
rows where every row is kept or where no row is left, rows repeating the header, cells that are not UTF-8; and
blank-named empty columns dropped.
Shared by the whole-file reader (``reading.py``) and the column-by-column one
(``streaming.py``); the names are importable from ``reading`` as before.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError


def refuse_ragged(bad: Sequence[int], columns: int, path: str) -> None:
    """Refuse the ragged rows ``bad`` (their line numbers) of a table whose every row is kept
    (``keep_rows``); ``columns``: the header's."""
    raise DataError(f"line {bad[0]}: wrong number of fields (the header has {columns}); "
                    f"{len(bad)} row(s) like it (lines {list(bad[:5])}{' ...' if len(bad) > 5 else ''}): "
                    f"the filled file keeps every row, so fix or remove them", file=path)


def refuse_all_ragged(names: Sequence[str], bad: Sequence[int], widths: Mapping[int, int],
                      nulls: Sequence[int], num_rows: int, first: str, path: str) -> None:
    """Refuse a table none of whose data rows has both the header's number of fields and a
    value: each was skipped as ragged (or read empty), and the table became "no usable
    column ... 0 row(s) with any value", the reason lost. ``names``: the header's fields;
    ``bad``: the ragged rows' line numbers, ``widths`` their field counts by line; ``nulls``:
    each column's missing cells among the ``num_rows`` rows read; ``first``: the header line."""
    if not bad or any(n < num_rows for n in nulls):
        return
    width = widths.get(bad[0])
    found = f"line {bad[0]} has {width}" if width is not None else f"line {bad[0]} has another number"
    fix = "make the header and the rows agree (or give the delimiter that separates them)"
    if names and not str(names[-1]).strip() and width == len(names) - 1:
        fix = "the header ends with a separator its rows do not have: delete it"
    elif width is not None and width > len(names):
        fix = "the rows have more fields than the header names: name every column in the header"
    rest = f" and a value (the {num_rows} row(s) with them are empty)" if num_rows else ""
    raise DataError(f"no data row has the header's {len(names)} fields{rest} (line 1 {first.strip()[:60]!r}): "
                    f"{len(bad)} row(s) were skipped as ragged ({found}); {fix}", file=path)


def _delimiter_fix(found: str) -> str:
    """How to read a file separated by ``found``, in words a user can type: a tab is shown as
    ``'\\t'`` (the option takes ``\\t`` or ``tab``), never as the invisible character."""
    if found == "\t":
        return "set delimiter='\\t' (or name the file .tsv)"
    return f"set delimiter={found!r}"


def _check_first_line(first: str, path: str) -> None:
    """Refuse a first line that is not the header but something spreadsheets and reports put
    above it, naming it: Excel's ``sep=;`` delimiter hint, a ``#`` comment. Read as the
    header they gave "no usable column" or a wrong field count on the real header."""
    if first.lower().startswith("sep=") and len(first.strip()) <= 5:
        raise DataError(f"line 1 {first!r} is Excel's delimiter hint, not the header: delete that line "
                        f"(and give delimiter={first.strip()[4:] or ','!r} if it is not a comma)", file=path)
    if first.startswith("#"):
        raise DataError("line 1 starts with '#': comment lines are not read, the header has to be the "
                        "first line; delete the comment lines", file=path)


def check_header_text(sample: bytes, delimiter: str, path: str) -> None:
    """Refuse a header line (the start of ``sample``, the file's first bytes after any
    byte-order mark) that is not UTF-8, as a cell that is not UTF-8 is refused
    (``utf8_problem``): pyarrow said "'utf-8' codec can't decode byte 0x80 in position 7", or,
    the rows then read as ragged, "Expected 1 columns, got 3", naming neither the encoding
    nor the fix. A spreadsheet that saves cp1252 / Latin-1 text often separates with ``;``:
    where the header holds one and not ``delimiter``, that fix is given too."""
    line = sample.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as e:
        shown = line if len(line) <= 80 else line[:77] + b"..."
        fix = "save the file as UTF-8"
        found = [d for d in (";", "\t", "|", ",") if d != delimiter and d.encode() in line]
        if found and delimiter.encode() not in line:
            fix += f" and {_delimiter_fix(found[0])}"
        raise DataError(f"line 1 (the header): not UTF-8 text (byte {line[e.start]:#04x} at position "
                        f"{e.start}, {shown!r}; cp1252 or Latin-1?): {fix}", file=path) from None


def wrong_delimiter(names: Sequence[str], delimiter: str, path: str) -> None:
    """Refuse "a;b;c" read with commas: one column, and "1,5;2" rows ragged."""
    if len(names) == 1:
        other = [d for d in (";", "\t", "|", ",") if d != delimiter and d in names[0]]
        if other:
            raise DataError(f"the header {names[0]!r} is one column when split at "
                            f"{delimiter!r} but holds {other[0]!r}: {_delimiter_fix(other[0])}", file=path)


def refuse_title(names: Sequence[str], nulls: Sequence[int], num_rows: int, ragged: int, first: str,
                 path: str) -> None:
    """Refuse a title line above the header (a report's export): one field over lines of
    several (every row then "ragged": "no usable column"), or a first cell followed by blank
    ones (``Title,,,,``: "column '' appears more than once"). ``nulls``: each column's
    missing cells."""
    lone = len(names) == 1 and ragged > num_rows
    blank_rest = len(names) > 2 and bool(names[0].strip()) and not any(n.strip() for n in names[1:]) \
        and any(nulls[i] < num_rows for i in range(1, len(names)))
    if lone or blank_rest:
        raise DataError(f"line 1 {first.strip()[:60]!r} looks like a title, not the header (one name "
                        f"over lines of several values): delete it, so that the header is the first "
                        f"line", file=path)


def _refuse_repeated_header(frame: pd.DataFrame, path: str) -> None:
    """Refuse rows that repeat the header (files joined with each one's header kept): read
    as data they made every column text, or were filled as if they were records."""
    # by position: two columns may share a name
    refuse_repeated_header(list(frame.columns), lambda j: frame.iloc[:, j], len(frame), path)


def refuse_repeated_header(names: Sequence[Any], column: Callable[[int], pd.Series], n_rows: int,
                           path: str) -> None:
    """``_refuse_repeated_header`` of a table given as its ``names`` and a reader of its
    ``j``-th column (a streamed table reads one at a time): most tables are settled by their
    first column or two."""
    if len(names) < 2 or n_rows == 0:
        return
    same = np.ones(n_rows, dtype=bool)
    for j, name in enumerate(names):
        hit = header_cells(column(j), name)
        if hit is None:
            return
        same &= hit
        if not same.any():
            return
    refuse_header_rows(same, path)


def header_cells(s: pd.Series, name: Any) -> np.ndarray | None:
    """Which cells of the column ``s`` repeat its header cell ``name``; None for a column of
    numbers (it holds no header text)."""
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
        return None
    return (s.astype("string").str.strip() == str(name).strip()).fillna(False).to_numpy(dtype=bool)


def refuse_header_rows(same: np.ndarray, path: str) -> None:
    """Refuse the rows ``same`` (each of whose cells repeats its header cell), if any."""
    rows = np.flatnonzero(same)
    if rows.size:
        raise DataError(f"data row {int(rows[0]) + 1} repeats the header ({len(rows)} row(s) like it; files "
                        f"joined with their headers?): delete those rows", file=path)


def _check_names(table: Any) -> tuple[Any, int]:
    """``table`` without the columns whose header cell is blank and which hold no value (a
    separator at the end of every line, ``a,b,``); returns it and how many it dropped. A blank
    name over values is kept, as written: the row index pandas writes by default
    (``df.to_csv(path)``: header ``,a,b``) is such a column, and refusing it refused one of the
    commonest files there are; ``impute`` writes the name back as the file has it."""
    names = [str(n) for n in table.column_names]
    empty = unnamed_empty(names, [c.null_count for c in table.columns], len(table))
    if empty:  # by position: two blank names are one name to pyarrow's drop_columns
        table = table.select([i for i in range(len(names)) if i not in empty])
    return table, len(empty)


def unnamed_empty(names: Sequence[str], nulls: Sequence[int], num_rows: int) -> list[int]:
    """The columns (positions) with a blank header cell and no value (``_check_names``)."""
    return [i for i, n in enumerate(names) if not n.strip() and nulls[i] == num_rows]


def _check_utf8(table: Any, path: str) -> None:
    """Refuse a text table with a column pyarrow could only read as bytes: its cells are not
    UTF-8 (Latin-1, cp1252), and would be written back as ``b'caf\\xe9'``."""
    for fld, col in zip(table.schema, table.columns):
        said = utf8_problem(fld, col)
        if said:
            raise DataError(said, file=path)


def utf8_problem(fld: Any, col: Any) -> str | None:
    """What ``_check_utf8`` says of one column, None if it is not bytes."""
    import pyarrow as pa

    if not (pa.types.is_binary(fld.type) or pa.types.is_large_binary(fld.type)):
        return None
    row = 0
    cells = col.to_pylist()
    for row, cell in enumerate(cells):
        try:
            cell is None or cell.decode("utf-8")
        except UnicodeDecodeError:
            break
    return (f"column {fld.name!r}: not UTF-8 text (first at data row {row + 1}, {cells[row]!r}); "
            f"save the file as UTF-8")
