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
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import (COMMA_NUMBER, TEXT_TABLE_SUFFIXES, check_decimal,
                                      compression, open_text, plain_name)
from encoderkit.data.textfiles import delimiter as text_delimiter
from encoderkit.errors import DataError, InputNotFoundError, reading

@dataclass
class ReadResult:
    frame: pd.DataFrame
    ragged_rows: int = 0
    messages: list[str] = field(default_factory=list)
    decimal: str = "."  # the decimal mark the numbers were read with (``decimal=auto`` resolved)
    newline: str = "\n"  # the file's line end, and whether it starts with a byte-order mark:
    bom: bool = False  # a filled file is written back with both (Excel reads a BOM-less é wrong)
    # Parquet: the index levels read as columns, as (column, the level's own name)
    index: list[tuple[Any, Any]] = field(default_factory=list)


def _plain_index(index: pd.Index) -> bool:
    """A 0..n-1 row number: what pandas writes for no index at all."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


# Words and signs that stand for "no value" in a column of numbers in files that do not leave
# the cell empty: SAS and Stata write "." (and ".a" to ".z", extended missing codes),
# spreadsheets "-" or "--", others "missing", "n.a.", "nd" (pyarrow already reads NA, N/A,
# NULL, nan as missing, and this reader "?"). A text column whose cells are numbers but for
# such marks is numbers with holes, however many holes: counted against ``numeric_fraction``
# the marks made a column 30% missing a column of categories, whose holes nothing filled.
MISSING_MARKS = frozenset({".", "-", "--", "---", "*", "missing", "none", "n.a.", "n.a", "nd", "n.d.",
                           "na.", "unknown", "not available", "#value!", "#div/0!"})
_STATA_MISSING = r"^\.[a-z]$"  # .a to .z, after lower-casing and trimming (RE2 and re alike)


# text tables, plain or compressed by any suffix of ``textfiles.COMPRESSION`` (what
# ``encoderkit impute`` writes): pyarrow reads .gz / .bz2 / .zst by the name, and is handed
# the decompressed bytes of a .xz or a .zip
TEXT_SUFFIXES = TEXT_TABLE_SUFFIXES
_PYARROW_DECOMPRESSES = (None, "gzip", "bz2", "zstd")


def read_table(path: str, delimiter: str | None = None, keep_rows: bool = False,
               decimal: str = "auto", missing_value: Any = None) -> ReadResult:
    """CSV / TSV / Parquet -> DataFrame. Ragged CSV rows (wrong number of fields)
    are skipped and counted rather than shifting cells into the wrong columns, or, with
    ``keep_rows`` (a reader whose output has one row per input row: infill, impute),
    refused: a skipped row would be missing from the filled file. Any problem with the
    file (truncated archive, bad bytes such as text that is not UTF-8, a directory) is a
    ``DataError`` naming it. ``decimal``: the decimal mark of a text table's numbers
    (``auto``: see the module docstring; a Parquet file holds numbers, not text).
    ``missing_value``: a number (``-999``) or text that stands for a missing cell in this
    file (``sentinel_cells``). Cells that are ``MISSING_MARKS`` in a column of numbers are
    missing too (``marked_numbers``)."""
    if not os.path.exists(path):
        raise InputNotFoundError("tabular input does not exist", file=path)
    with reading(path):
        res = _read_table(path, delimiter, keep_rows, decimal)
        res.frame, said = marked_numbers(res.frame, res.decimal)
        res.messages += [f"{path}: {m}" for m in said]
        if missing_value is not None:
            res.frame, said = sentinel_cells(res.frame, missing_value, res.decimal)
            res.messages += [f"{path}: {m}" for m in said]
        return res


def _read_table(path: str, delimiter: str | None, keep_rows: bool = False,
                decimal: str = "auto") -> ReadResult:
    lower = path.lower()
    if os.path.isdir(path):
        raise DataError("is a directory; expected a .csv / .tsv / .parquet file", file=path)
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        table, dropped = _check_names(pq.read_table(path), path)
        frame = _to_pandas(table)
        index: list[tuple[Any, Any]] = []
        if not _plain_index(frame.index):
            # an index pandas wrote (a DatetimeIndex: a series saved with df.to_parquet()) is
            # data: columns the model reads, written back as the index (it was dropped, and
            # with it the file's dates); reset_index names unnamed levels index / level_<i>
            names = list(frame.index.names)
            frame = frame.reset_index()
            index = list(zip(frame.columns[:len(names)], names))
        return ReadResult(frame, messages=_dropped(path, dropped), index=index)
    plain = plain_name(path)
    if not plain.endswith(TEXT_SUFFIXES):
        raise DataError("unsupported file type; use .csv, .tsv/.tab (optionally .gz/.bz2/.xz/.zip/.zst) "
                        "or .parquet", file=path)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if delimiter is None:
        delimiter = text_delimiter(path)
    head = _head(path, delimiter)
    _check_first_line(head.first, path)
    check_decimal(path, delimiter, decimal)
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
            convert = pacsv.ConvertOptions(strings_can_be_null=True, decimal_point=point,
                                           column_types={c: pa.string() for c in head.codes})
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
        blanks = _missing_cells(table)
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
    _refuse_title(table, len(bad), head.first, path)
    if bad and keep_rows:
        raise DataError(f"line {bad[0]}: wrong number of fields (the header has {table.num_columns}); "
                        f"{len(bad)} row(s) like it (lines {bad[:5]}{' ...' if len(bad) > 5 else ''}): "
                        f"the filled file keeps every row, so fix or remove them", file=path)
    _check_utf8(table, path)
    table, dropped = _check_names(table, path)
    res = ReadResult(_to_pandas(table), ragged_rows=len(bad), decimal=point, newline=head.newline,
                     bom=head.bom)
    _refuse_repeated_header(res.frame, path)
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
_MISSING_CELL = r"^[\s\p{Zs}]*\??[\s\p{Zs}]*$"


def _missing_cells(table: Any) -> list[str]:
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
            blank = pc.match_substring_regex(col, _MISSING_CELL)
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
            word = pc.utf8_lower(pc.utf8_trim_whitespace(values))
            mark = pc.or_(pc.is_in(word, value_set=pa.array(sorted(MISSING_MARKS))),
                          pc.match_substring_regex(word, _STATA_MISSING))
            values = pc.filter(values, pc.invert(mark))  # holes beside the numbers
            if len(values) and pc.all(pc.match_substring_regex(values, COMMA_NUMBER)).as_py() and \
                    pc.any(pc.match_substring(values, ",")).as_py():
                found.append(str(fld.name))
    return found


def is_mark(text: pd.Series) -> np.ndarray:
    """Which cells of ``text`` (strings or missing) are one of ``MISSING_MARKS`` or a Stata
    extended missing code (any case, outer spaces ignored)."""
    word = text.astype("string").str.strip().str.lower()
    hit = word.isin(MISSING_MARKS) | word.str.match(_STATA_MISSING)
    return hit.fillna(False).to_numpy(dtype=bool)


def _to_numbers(text: pd.Series, decimal: str) -> Any:
    """The text column ``text`` as numbers when every cell it holds is one (read with the
    decimal mark ``decimal``; integers as pandas' nullable ``Int64``, as the reader gives them:
    473, not 473.0), else None (words beside the numbers: the schema's ``numeric_fraction``
    decides)."""
    given = text.astype("string").str.strip()
    if decimal == ",":
        given = given.where(~given.str.match(COMMA_NUMBER).fillna(False),
                            given.str.replace(",", ".", regex=False))
    values = pd.to_numeric(given, errors="coerce")
    if values[text.notna().to_numpy()].isna().any():
        return None
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if (np.isnan(numbers) | (np.mod(numbers, 1.0) == 0.0)).all():
        return pd.Series(numbers, index=text.index, dtype="Float64").astype("Int64")
    return numbers


def marked_numbers(frame: pd.DataFrame, decimal: str = ".") -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with each text column whose cells are numbers but for ``MISSING_MARKS``
    (``.``, ``-``, ``missing``, Stata's ``.a``) as numbers, those cells missing; and a message
    per column. Columns of other text are left as they are."""
    out, said = frame, []
    for j, name in enumerate(frame.columns):
        s = frame.iloc[:, j]  # by position: two columns may share a name (refused later, named)
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype) or \
                isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.infer_dtype(s, skipna=True) != "string":
            continue
        marks = is_mark(s)
        if not marks.any() or not (s.notna().to_numpy() & ~marks).any():
            continue
        numbers = _to_numbers(s.where(~marks), decimal)
        if numbers is None:
            continue
        if out is frame:
            out = frame.copy()
        out.isetitem(j, numbers)
        shown = sorted(map(str, pd.unique(s[marks].astype(str).str.strip())))[:3]
        said.append(f"column {str(name)!r}: {int(marks.sum())} cell(s) {', '.join(map(repr, shown))} "
                    f"read as missing values")
    return out, said


def sentinel_cells(frame: pd.DataFrame, value: Any, decimal: str = ".") -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with every cell equal to ``value`` (the ingest option ``missing_value``:
    ``-999``, a word, or a list of them) missing, in number columns by value and in text
    columns by its text (a text column left with numbers only is then numbers, read with
    ``decimal``); and a message naming the columns and counts."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    words = {str(v).strip() for v in values}
    # the ones that are numbers ("-999" too) match number columns by value; words match text
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").dropna().to_numpy(np.float64)
    out, counts = frame.copy(), {}
    for j, name in enumerate(frame.columns):
        s = frame.iloc[:, j]  # by position: two columns may share a name (refused later, named)
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            hit = np.isin(s.to_numpy(dtype=np.float64, na_value=np.nan), numbers)
        else:
            text = s.astype("string").str.strip()
            hit = text.isin(words).fillna(False).to_numpy(dtype=bool)
        if hit.any():
            holed = s.mask(hit)
            as_numbers = None if pd.api.types.is_numeric_dtype(s.dtype) else _to_numbers(holed, decimal)
            out.isetitem(j, holed if as_numbers is None else as_numbers)
            counts[str(name)] = int(hit.sum())
    if not counts:
        return frame, []
    shown = ", ".join(f"{k} {n}" for k, n in list(counts.items())[:5])
    return out, [f"{sum(counts.values())} cell(s) equal to missing_value={value!r} read as missing ({shown})"]


# how much of a file's start ``_head`` reads: its first line, line end, and codes
HEAD_BYTES = 1 << 20


@dataclass
class Head:
    first: str = ""  # the first line, without its end
    newline: str = "\n"  # the first line's end
    bom: bool = False  # whether the file starts with a UTF-8 byte-order mark
    codes: list[str] = field(default_factory=list)  # columns with digits led by a zero (02139)


def _head(path: str, delimiter: str) -> Head:
    """What the start of a text table says (``Head``); empty where it cannot be read here
    (the reader says what is wrong with the file). ``codes``: the columns whose cells in the
    first ``HEAD_BYTES`` include digits led by a zero (zip codes 02139, FIPS 01001): read as
    numbers they lost the zero, and a fill was written 2139."""
    import csv
    import io

    try:
        fh = open_text(path, binary=True)
        if fh is None:  # .zst / .tar: pandas-only compressions
            return Head()
        with fh:
            raw = fh.read(HEAD_BYTES)
    except (OSError, ValueError, DataError):
        return Head()
    line = raw.split(b"\n", 1)[0]
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw[3 if bom else 0:].decode("utf-8", errors="replace")
    head = Head(text.split("\n", 1)[0].rstrip("\r"), "\r\n" if line.endswith(b"\r") else "\n", bom)
    if len(raw) == HEAD_BYTES:  # a cut last line is no row
        text = text[:text.rfind("\n") + 1]
    if not re.search(rf"(?:^|[{re.escape(delimiter)}\"])\s*0\d", text, re.MULTILINE):
        return head  # no cell starts with a zero and a digit: nothing to parse the head for
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return head
    if not rows:
        return head
    names = rows[0]
    led = set()
    for row in rows[1:]:
        if len(row) == len(names):
            led.update(j for j, cell in enumerate(row) if _LEADING_ZERO.fullmatch(cell.strip()))
    head.codes = [names[j] for j in sorted(led) if names[j].strip()]
    return head


_LEADING_ZERO = re.compile(r"0\d+")


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


def _refuse_title(table: Any, ragged: int, first: str, path: str) -> None:
    """Refuse a title line above the header (a report's export): one field over lines of
    several (every row then "ragged": "no usable column"), or a first cell followed by blank
    ones (``Title,,,,``: "column '' appears more than once")."""
    names = [str(n) for n in table.column_names]
    lone = len(names) == 1 and ragged > table.num_rows
    blank_rest = len(names) > 2 and bool(names[0].strip()) and not any(n.strip() for n in names[1:]) \
        and any(table.column(i).null_count < table.num_rows for i in range(1, len(names)))
    if lone or blank_rest:
        raise DataError(f"line 1 {first.strip()[:60]!r} looks like a title, not the header (one name "
                        f"over lines of several values): delete it, so that the header is the first "
                        f"line", file=path)


def _refuse_repeated_header(frame: pd.DataFrame, path: str) -> None:
    """Refuse rows that repeat the header (files joined with each one's header kept): read
    as data they made every column text, or were filled as if they were records."""
    if frame.shape[1] < 2 or len(frame) == 0:
        return
    same = np.ones(len(frame), dtype=bool)
    for j, name in enumerate(frame.columns):
        s = frame.iloc[:, j]  # by position: two columns may share a name (refused later, named)
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_object_dtype(s.dtype):
            return  # a column of numbers holds no header text
        same &= (s.astype("string").str.strip() == str(name).strip()).fillna(False).to_numpy(dtype=bool)
        if not same.any():
            return
    rows = np.flatnonzero(same)
    raise DataError(f"data row {int(rows[0]) + 1} repeats the header ({len(rows)} row(s) like it; files "
                    f"joined with their headers?): delete those rows", file=path)


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


