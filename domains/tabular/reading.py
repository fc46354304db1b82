"""Reading a user's table file (CSV / TSV, plain or compressed, or Parquet) into a
DataFrame: the one reader behind ingest, impute and predict / embed / infill on a raw
table, so every command reads a file the same way.

What every reader thus agrees on: an empty cell, pyarrow's missing-value words and a cell
holding only whitespace are missing; a ragged row is skipped and counted (or refused where
the output keeps every row); text that is not UTF-8 is refused; a header cell with no name
is refused when its column holds values (an empty one is a trailing separator, dropped).

Decimal commas (``decimal=auto``, the default): a file separated by something other than a
comma (``;``, a tab: what a spreadsheet in a German or French locale writes) whose text
columns hold only numbers written ``2,25`` is read again with the comma as the decimal
mark, when no column holds numbers with a decimal point; otherwise such a column was
text, so a column of measurements became an identifier or categories and its holes were
left or filled with values seen. ``decimal=','`` / ``'.'`` chooses for every file.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import TEXT_TABLE_SUFFIXES, compression, open_text, plain_name
from encoderkit.data.textfiles import delimiter as text_delimiter
from encoderkit.errors import DataError, InputNotFoundError, reading

@dataclass
class ReadResult:
    frame: pd.DataFrame
    ragged_rows: int = 0
    messages: list[str] = field(default_factory=list)
    decimal: str = "."  # the decimal mark the numbers were read with (``decimal=auto`` resolved)


DECIMALS = ("auto", ".", ",")
# a number written with a decimal comma and no thousands mark: 2,25  -0,5  12 (RE2 syntax)
_COMMA_NUMBER = r"^\s*[-+]?[0-9]+(,[0-9]+)?\s*$"


# text tables, plain or compressed by any suffix of ``textfiles.COMPRESSION`` (what
# ``encoderkit impute`` writes): pyarrow reads .gz / .bz2 / .zst by the name, and is handed
# the decompressed bytes of a .xz or a .zip
TEXT_SUFFIXES = TEXT_TABLE_SUFFIXES
_PYARROW_DECOMPRESSES = (None, "gzip", "bz2", "zstd")


def read_table(path: str, delimiter: str | None = None, keep_rows: bool = False,
               decimal: str = "auto") -> ReadResult:
    """CSV / TSV / Parquet -> DataFrame. Ragged CSV rows (wrong number of fields)
    are skipped and counted rather than shifting cells into the wrong columns, or, with
    ``keep_rows`` (a reader whose output has one row per input row: infill, impute),
    refused: a skipped row would be missing from the filled file. Any problem with the
    file (truncated archive, bad bytes such as text that is not UTF-8, a directory) is a
    ``DataError`` naming it. ``decimal``: the decimal mark of a text table's numbers
    (``auto``: see the module docstring; a Parquet file holds numbers, not text)."""
    if not os.path.exists(path):
        raise InputNotFoundError("tabular input does not exist", file=path)
    with reading(path):
        return _read_table(path, delimiter, keep_rows, decimal)


def _read_table(path: str, delimiter: str | None, keep_rows: bool = False,
                decimal: str = "auto") -> ReadResult:
    lower = path.lower()
    if os.path.isdir(path):
        raise DataError("is a directory; expected a .csv / .tsv / .parquet file", file=path)
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        table, dropped = _check_names(pq.read_table(path), path)
        return ReadResult(_to_pandas(table), messages=_dropped(path, dropped))
    plain = plain_name(path)
    if not plain.endswith(TEXT_SUFFIXES):
        raise DataError("unsupported file type; use .csv, .tsv/.tab (optionally .gz/.bz2/.xz/.zip/.zst) "
                        "or .parquet", file=path)
    import pyarrow.csv as pacsv

    if delimiter is None:
        delimiter = text_delimiter(path)
    if decimal == delimiter:
        raise DataError(f"decimal={decimal!r} is also the delimiter, so a number could not be told from "
                        f"two cells: give another delimiter= or decimal=", file=path)
    point = "." if decimal == "auto" else decimal
    method = compression(path)
    bad: list[int] = []

    def on_invalid(row: Any) -> str:
        bad.append(int(row.number) if row.number is not None else -1)
        return "skip"

    # pyarrow decodes a ragged row before calling the handler; a row that is not UTF-8
    # fails there and is only "ignored" with a traceback on stderr: collect it instead
    undecodable: list[BaseException] = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda u: undecodable.append(u.exc_value) if isinstance(
        u.exc_value, UnicodeError) else hook(u)
    try:
        def parse(ignore_empty_lines: bool, use_threads: bool = True, blanks: Sequence[str] = ()) -> Any:
            # an empty text cell is missing, as it is in a numeric column; so is a cell of
            # ``blanks`` (only whitespace): pyarrow matches missing-value words exactly
            convert = pacsv.ConvertOptions(strings_can_be_null=True, decimal_point=point)
            if blanks:
                convert.null_values = [*convert.null_values, *blanks]

            def read(source: Any) -> Any:
                return pacsv.read_csv(source, read_options=pacsv.ReadOptions(use_threads=use_threads),
                                      parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, invalid_row_handler=on_invalid, ignore_empty_lines=ignore_empty_lines),
                    convert_options=convert)

            if method in _PYARROW_DECOMPRESSES:
                return read(path)
            with open_text(path, binary=True) as fh:
                return read(fh)
        lines, threads = True, True
        table = parse(lines, threads)
        if table.num_columns == 1:  # one column: an empty line is its missing cell, not nothing
            bad.clear()
            lines = False
            table = parse(lines, threads)
        if bad and -1 in bad:  # pyarrow numbers the rows only when it reads on one thread
            bad.clear()
            lines, threads = table.num_columns != 1, False
            table = parse(lines, threads)
        blanks = _whitespace_cells(table)
        marks = [b for b in blanks if b.strip()]
        if blanks:  # parsed again, so a column of numbers with such cells reads as numbers
            bad.clear()
            table = parse(lines, threads, blanks)
        comma = _comma_numbers(table) if decimal == "auto" and delimiter != "," else []
        if comma:
            bad.clear()
            point = ","
            table = parse(lines, threads, blanks)
    except DataError:  # a .zip that is not one file: said as it is
        raise
    except Exception as exc:  # pyarrow's messages name the problem but not always the file
        raise DataError(f"cannot parse as delimited text: {' '.join(str(exc).split())}", file=path) from exc
    finally:
        sys.unraisablehook = hook
    if undecodable:
        raise DataError(f"not UTF-8 text ({undecodable[0]})", file=path)
    if table.num_columns == 1:  # "a;b;c" read with commas: one column, and "1,5;2" rows ragged
        other = [d for d in (";", "\t", "|", ",") if d != delimiter and d in table.column_names[0]]
        if other:
            raise DataError(f"the header {table.column_names[0]!r} is one column when split at "
                            f"{delimiter!r} but holds {other[0]!r}: {_delimiter_fix(other[0])}", file=path)
    if bad and keep_rows:
        raise DataError(f"line {bad[0]}: wrong number of fields (the header has {table.num_columns}); "
                        f"{len(bad)} row(s) like it (lines {bad[:5]}{' ...' if len(bad) > 5 else ''}): "
                        f"the filled file keeps every row, so fix or remove them", file=path)
    _check_utf8(table, path)
    table, dropped = _check_names(table, path)
    res = ReadResult(_to_pandas(table), ragged_rows=len(bad), decimal=point)
    if marks:
        res.messages.append(f"{path}: cells {' '.join(map(repr, marks))} read as missing values")
    if point == "," and decimal == "auto":
        shown = ", ".join(map(repr, comma[:3])) + (f" and {len(comma) - 3} more" if len(comma) > 3 else "")
        res.messages.append(f"{path}: numbers written with a decimal comma (column(s) {shown}) read "
                            f"as numbers (decimal=',' says so; decimal='.' reads them as text)")
    if bad:
        res.messages.append(f"{path}: skipped {len(bad)} ragged row(s) (wrong number of fields), "
                            f"first at line(s) {bad[:5]}")
    res.messages.extend(_dropped(path, dropped))
    return res


def _dropped(path: str, count: int) -> list[str]:
    return [f"{path}: dropped {count} empty column(s) with no name in the header (a separator at "
            f"the end of each line)"] if count else []


def _delimiter_fix(found: str) -> str:
    """How to read a file separated by ``found``, in words a user can type: a tab is shown as
    ``'\\t'`` (the option takes ``\\t`` or ``tab``), never as the invisible character."""
    if found == "\t":
        return "set delimiter='\\t' (or name the file .tsv)"
    return f"set delimiter={found!r}"


# a cell of only spaces, tabs or other Unicode spaces, or a question mark among them (RE2
# syntax, as pyarrow.compute takes)
_WHITESPACE = r"^[\s\p{Zs}]*\??[\s\p{Zs}]*$"


def _whitespace_cells(table: Any) -> list[str]:
    """The distinct cells of ``table``'s text columns that hold only whitespace, or a ``?``.
    Such a cell is missing: a CSV written as ``a , b`` with blanks padded to the column width
    read it as the category ``' '``, so ``impute`` found "no missing cell" to fill; and ``?``
    is how the UCI repository's tables (and the files made from them) mark a missing value:
    read as text it made every number column of such a file a column of categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found: set[str] = set()
    for fld, col in zip(table.schema, table.columns):
        if pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type):
            blank = pc.match_substring_regex(col, _WHITESPACE)
            found.update(pc.unique(pc.filter(col, blank)).to_pylist())
    return sorted(found)


def _comma_numbers(table: Any) -> list[str]:
    """The text columns of ``table`` (read with a decimal point) whose every cell is a number
    written with a decimal comma, at least one with a fraction; none when another column
    holds numbers with a decimal point (a file mixing both marks is read as it is)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = []
    for fld, col in zip(table.schema, table.columns):
        if pa.types.is_floating(fld.type):
            values = pc.drop_null(col)
            if len(values) and pc.any(pc.not_equal(values, pc.floor(values))).as_py():
                return []  # 2.25 somewhere: the point is this file's decimal mark
        elif (pa.types.is_string(fld.type) or pa.types.is_large_string(fld.type)) and col.null_count < len(col):
            values = pc.drop_null(col)
            if pc.all(pc.match_substring_regex(values, _COMMA_NUMBER)).as_py() and \
                    pc.any(pc.match_substring(values, ",")).as_py():
                found.append(str(fld.name))
    return found


def _check_names(table: Any, path: str) -> tuple[Any, int]:
    """``table`` without the columns whose header cell is blank and which hold no value (a
    separator at the end of every line, ``a,b,``); returns it and how many it dropped. A blank
    name over values is kept, as written: the row index pandas writes by default
    (``df.to_csv(path)``: header ``,a,b``) is such a column, and refusing it refused one of the
    commonest files there are; ``impute`` writes the name back as the file has it."""
    names = [str(n) for n in table.column_names]
    blank = [i for i, n in enumerate(names) if not n.strip()]
    empty = [i for i in blank if table.column(i).null_count == len(table)]
    if empty:  # by position: two blank names are one name to pyarrow's drop_columns
        table = table.select([i for i in range(len(names)) if i not in empty])
    return table, len(empty)


def _check_utf8(table: Any, path: str) -> None:
    """Refuse a text table with a column pyarrow could only read as bytes: its cells are not
    UTF-8 (Latin-1, cp1252), and would be written back as ``b'caf\\xe9'``."""
    import pyarrow as pa

    for i, fld in enumerate(table.schema):
        if not (pa.types.is_binary(fld.type) or pa.types.is_large_binary(fld.type)):
            continue
        row = 0
        for row, cell in enumerate(table.column(i).to_pylist()):
            try:
                cell is None or cell.decode("utf-8")
            except UnicodeDecodeError:
                break
        raise DataError(f"column {fld.name!r}: not UTF-8 text (first at data row {row + 1}, "
                        f"{table.column(i).to_pylist()[row]!r}); save the file as UTF-8", file=path)


def _to_pandas(table: Any) -> pd.DataFrame:
    """An Arrow table -> DataFrame, integer columns with missing cells as pandas' nullable
    integers (``Int64``): Arrow's default float64 would write ``473`` back as ``473.0``."""
    import pyarrow as pa

    frame = table.to_pandas()
    for i, fld in enumerate(table.schema):
        if pa.types.is_integer(fld.type) and table.column(i).null_count and frame.dtypes.iloc[i] == np.float64:
            dtype = pd.api.types.pandas_dtype(str(fld.type).replace("int", "Int").replace("uInt", "UInt"))
            frame.isetitem(i, table.column(i).to_pandas(types_mapper={fld.type: dtype}.get))
    return frame


