"""Reading a user's table file (CSV / TSV, plain or compressed, or Parquet) into a
DataFrame: the one reader behind ingest, impute and predict / embed / infill on a raw
table, so every command reads a file the same way.

What every reader thus agrees on: an empty cell, pyarrow's missing-value words and a cell
holding only whitespace are missing; a ragged row is skipped and counted (or refused where
the output keeps every row); text that is not UTF-8 is refused; a header cell with no name
is kept, as written, when its column holds values (the row index ``df.to_csv`` writes: kept
out of the model by ingest, ``identifiers.row_numbers``), and its column dropped when it
holds none (a trailing separator: ``read_checks._check_names``; where only the data rows end
with one, pyarrow is given the header's names and one blank: ``textparse.row_end_names``, and
the filled file is written with it again). A Parquet file's RangeIndex
(a slice's 100..159, kept in pandas' metadata alone) numbers the rows, as a text table's
positions do (``row_labels``); another index pandas wrote is read as columns.

Decimal commas (``decimal=auto``, the default): a file separated by something other than a
comma (``;``, a tab: what a spreadsheet in a German or French locale writes) whose text
columns hold only numbers written ``2,25`` is read again with the comma as the decimal
mark, when no column holds numbers with a decimal point; otherwise such a column was
text, so a column of measurements became an identifier or categories and its holes were
left or filled with values seen. ``decimal=','`` / ``'.'`` chooses for every file.

How pyarrow parses a text table (the plan settled before the first parse, its options, the
read on several threads or one, the rows it skips) is ``textparse.py``'s; this module makes
the frame of what it reads, and reads a Parquet file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.arrow_files import refuse_repeated_names, repeated_name  # noqa: F401
from encoderkit.data.textfiles import (TEXT_TABLE_SUFFIXES, check_decimal, check_text, compression,  # noqa: F401
                                       open_text, plain_name)
from encoderkit.data.textfiles import delimiter as text_delimiter  # noqa: F401
from encoderkit.errors import DataError, InputNotFoundError, reading

# the cell rules live in holes.py, the file's start in head.py, the refusals in read_checks.py,
# how pyarrow parses the text in textparse.py; all importable from here as before
from domains.tabular.bigints import integer_text, overflow_candidates
from domains.tabular.compressed import (PYARROW_DECOMPRESSES, Bounded, TextBeyond, open_stream,  # noqa: F401
                                        text_source)
from domains.tabular.numcodes import collapsing  # noqa: F401
from domains.tabular.quoting import Quoting, sample_quoting  # noqa: F401
from domains.tabular.words import Decision, column_words, decide, is_text, restored
from domains.tabular.holes import (MISSING_MARKS, _STATA_MISSING, comma_column, is_mark,  # noqa: F401
                                   marked_numbers, missing_cells, sentinel_cells)
from domains.tabular.head import _HEX, _LEADING_ZERO, HEAD_BYTES, Head, _head  # noqa: F401
from domains.tabular.read_checks import (_check_first_line, _check_names, _check_utf8,  # noqa: F401
                                         _delimiter_fix, _refuse_repeated_header, check_header_text,
                                         header_cells, refuse_all_ragged, refuse_header_rows, refuse_ragged,
                                         refuse_repeated_header, refuse_title, unnamed_empty, utf8_problem,
                                         wrong_delimiter)
from domains.tabular.textparse import (TEXT_SUFFIXES, RowErrors, TextPlan, _threaded_read,  # noqa: F401
                                       arrow_file, arrow_text, convert_options, parse_options, parsing,
                                       plan_quoting, read_text, text_plan, written_options)

@dataclass
class ReadResult:
    frame: pd.DataFrame
    ragged_rows: int = 0
    messages: list[str] = field(default_factory=list)
    decimal: str = "."  # the decimal mark the numbers were read with (``decimal=auto`` resolved)
    newline: str = "\n"  # the file's line end, and whether it starts with a byte-order mark:
    bom: bool = False  # a filled file is written back with both (Excel reads a BOM-less é wrong)
    row_end: bool = False  # every data row ends with a separator the header lacks: written back so
    # Parquet: the index levels read as columns, as (column, the level's own name)
    index: list[tuple[Any, Any]] = field(default_factory=list)
    # missing-value words (NA) a text column kept as values (words.py), for the schema to record
    kept_words: list[str] = field(default_factory=list)
    words_said: list[str] = field(default_factory=list)  # what reading them said (also in messages)
    kept_said: list[str] = field(default_factory=list)  # of it, the words kept on the file's evidence
    arrow_schema: Any = None  # a Parquet file's own schema: a filled file is written with it
    points: list[str] = field(default_factory=list)  # thousands points read as decimals (also in messages)


def _plain_index(index: pd.Index) -> bool:
    """A 0..n-1 row number: what pandas writes for no index at all."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None


def row_labels(index: pd.Index) -> bool:
    """Whether ``index`` only numbers the rows: a RangeIndex of any start and step (a slice's
    ``df.iloc[100:160]``), which pandas keeps in a Parquet file's metadata alone
    (``{"kind": "range", ...}``), no column. Not data: read as one it became a model input
    and a physical ``__index_level_0__`` column of the output; the filled file gets the
    input's own metadata back (``parquet_out.pandas_metadata``)."""
    return isinstance(index, pd.RangeIndex)


def read_table(path: str, delimiter: str | None = None, keep_rows: bool = False,
               decimal: str = "auto", missing_value: Any = None, limit: int | None = None,
               keep_words: Sequence[str] = (), numbers: Sequence[str] = ()) -> ReadResult:
    """CSV / TSV / Parquet -> DataFrame. Ragged CSV rows (wrong number of fields)
    are skipped and counted rather than shifting cells into the wrong columns, or, with
    ``keep_rows`` (a reader whose output has one row per input row: infill, impute),
    refused: a skipped row would be missing from the filled file. Any problem with the
    file (truncated archive, bad bytes such as text that is not UTF-8, a directory) is a
    ``DataError`` naming it. ``decimal``: the decimal mark of a text table's numbers
    (``auto``: see the module docstring; a Parquet file holds numbers, not text).
    ``missing_value``: a number (``-999``) or text that stands for a missing cell in this
    file (``sentinel_cells``). Cells that are ``MISSING_MARKS`` in a column of numbers are
    missing too (``marked_numbers``). ``limit``: the bytes of text a compressed text table
    is held to; past them ``compressed.TextBeyond`` is raised (the table is read another
    way), not a ``DataError``. ``keep_words``: words pyarrow reads as missing (``NA``) that a
    text column keeps as values (``words.py``, which also says which others it keeps).
    ``numbers``: the columns an existing run's schema holds as numbers (``text_plan``)."""
    if not os.path.exists(path):
        raise InputNotFoundError("tabular input does not exist", file=path)
    with reading(path):
        res = _read_table(path, delimiter, keep_rows, decimal, limit, keep_words, missing_value, numbers)
        res.frame, said = marked_numbers(res.frame, res.decimal)
        res.messages += [f"{path}: {m}" for m in said]
        if missing_value is not None:
            res.frame, said = sentinel_cells(res.frame, missing_value, res.decimal)
            res.messages += [f"{path}: {m}" for m in said]
        return res


def _read_table(path: str, delimiter: str | None, keep_rows: bool = False, decimal: str = "auto",
                limit: int | None = None, keep_words: Sequence[str] = (),
                missing_value: Any = None, numbers: Sequence[str] = ()) -> ReadResult:
    lower = path.lower()
    if os.path.isdir(path):
        raise DataError("is a directory; expected a .csv / .tsv / .parquet file", file=path)
    if lower.endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        with arrow_file(path) as source:  # the names first: pyarrow's reader refuses a repeat in its words
            refuse_repeated_names(pq.read_schema(source).names, path)
        with arrow_file(path) as source:
            table, dropped = _check_names(pq.read_table(source))
        frame = _to_pandas(table)
        index: list[tuple[Any, Any]] = []
        if row_labels(frame.index):  # rows named by position, as every reader names them
            frame = frame if _plain_index(frame.index) else frame.reset_index(drop=True)
        else:
            # an index pandas wrote (a DatetimeIndex: a series saved with df.to_parquet()) is
            # data: columns the model reads, written back as the index (it was dropped, and
            # with it the file's dates); reset_index names unnamed levels index / level_<i>
            names = list(frame.index.names)
            frame = frame.reset_index()
            index = list(zip(frame.columns[:len(names)], names))
        return ReadResult(frame, messages=_dropped(path, dropped), index=index, arrow_schema=table.schema)
    plan = text_plan(path, delimiter, decimal, numbers)
    point = plan.point
    rows = RowErrors()
    with rows.collected(), parsing(path, rows, plan):
        def parse(ignore_empty_lines: bool, blanks: Sequence[str] = (), text: Sequence[str] = ()) -> Any:
            return read_text(path, plan, limit, rows, ignore_empty_lines, convert_options(plan, point, blanks, text))

        def cells(names: Sequence[str]) -> Any:
            """The columns ``names`` as written (text, no cell missing)."""
            return read_text(path, plan, limit, RowErrors(rows.threads), lines, written_options(names))
        lines = True
        table = parse(lines)
        if table.num_columns == 1:  # one column: an empty line is its missing cell, not nothing
            rows.bad.clear()
            lines = False
            table = parse(lines)
        blanks = missing_cells(table)
        if blanks:  # parsed again, so a column of numbers with such cells reads as numbers
            rows.bad.clear()
            table = parse(lines, blanks)
        comma = _comma_numbers(table) if decimal == "auto" and plan.delimiter != "," else []
        if comma:
            rows.bad.clear()
            point = ","
            table = parse(lines, blanks)
        big = overflow_candidates(table)
        if big:  # integers beyond int64 read as float64: their text instead (bigints.py)
            rows.bad.clear()
            names = [table.column_names[j] for j in big]
            wide = parse(lines, blanks, names)
            text = [n for j, n in zip(big, names) if integer_text(wide.column(j))]
            if text != names:  # floats written 1e20 among them stay numbers
                rows.bad.clear()
                wide = parse(lines, blanks, text)
            table = wide
        table, said = settle_words(table, cells, keep_words, missing_value, plan_quoting(plan, table.num_columns))
        # 27.004 beside 809 in a ';' / tab file, where decimal commas are the custom: thousands
        # marks read as decimal points (textforms.thousands_points); said, not read otherwise
        dots = _thousands_points(table, cells) if plan.delimiter in (";", "\t") and point == "." else []
    rows.check(path, plan)
    bad = rows.bad
    names = [str(n) for n in table.column_names]
    wrong_delimiter(names, plan.delimiter, path)
    refuse_title(names, [c.null_count for c in table.columns], table.num_rows, len(bad), plan.head.first, path)
    refuse_all_ragged(names, bad, rows.widths, [c.null_count for c in table.columns], table.num_rows,
                      plan.head.first, path)
    if bad and keep_rows:
        refuse_ragged(bad, table.num_columns, path)
    _check_utf8(table, path)
    table, dropped = _check_names(table)
    res = ReadResult(_to_pandas(table), ragged_rows=len(bad), decimal=point, newline=plan.head.newline,
                     bom=plan.head.bom, kept_words=said.words, row_end=plan.row_end)
    _refuse_repeated_header(res.frame, path)
    res.messages += read_messages(path, decimal, point, blanks, comma, bad, dropped)
    res.points = [f"{path}: {m}" for m in dots]
    res.messages += res.points
    res.words_said = [f"{path}: {m}" for m in said.messages]
    res.kept_said = [f"{path}: {m}" for m in said.kept_said]
    res.messages += res.words_said
    return res


def _thousands_points(table: Any, cells: Callable[[Sequence[str]], Any]) -> list[str]:
    """What to say of the float columns of ``table`` whose cells, as written (``cells``),
    are whole numbers with points as thousands marks (``textforms.thousands_points``); the
    file's text is read again only for columns whose numbers can be such (``point_candidates``)."""
    import pyarrow as pa

    from encoderkit.data.textforms import point_candidates, thousands_message, thousands_points

    names = [f.name for f in table.schema if pa.types.is_floating(f.type) and
             point_candidates(table.column(f.name).to_numpy(zero_copy_only=False).astype(np.float64))]
    if not names:
        return []
    text = cells(names)
    return [thousands_message(str(n), pair) for n in names
            if (pair := thousands_points(text.column(n).to_pylist())) is not None]


def settle_words(table: Any, cells: Any, keep_words: Sequence[str], missing_value: Any,
                 quoting: Callable[[], Quoting | None] | None = None) -> tuple[Any, Decision]:
    """``table`` with the missing-value words its text columns keep as values (``words.py``)
    back as text, and the decision. ``cells(names)``: those columns as written; ``quoting``:
    how the file quotes them (``plan_quoting``). Nothing is read again unless a text column
    has a missing cell."""
    names = [str(n) for n in table.column_names]
    if not any(is_text(f.type) and c.null_count for f, c in zip(table.schema, table.columns)):
        return table, Decision()
    holed = [j for j, (f, c) in enumerate(zip(table.schema, table.columns)) if c.null_count
             and names.count(names[j]) == 1 and "binary" not in str(f.type)]  # bytes: refused, named
    written = cells([names[j] for j in holed])
    if written.num_rows != table.num_rows:  # read otherwise: leave the table as it is
        return table, Decision()
    found = {j: column_words(names[j], table.column(j), written.column(names[j])) for j in holed}
    said = decide(found, keep_words, missing_value, quoting)
    for j, words in said.kept.items():
        table = table.set_column(j, table.schema.field(j), restored(table.column(j), written.column(names[j]), words))
    return table, said


def read_messages(path: str, decimal: str, point: str, blanks: Sequence[str], comma: Sequence[str],
                  bad: Sequence[int], dropped: int) -> list[str]:
    """What reading a text table says: cells read as missing, a decimal comma, ragged rows
    skipped, empty unnamed columns dropped."""
    said = []
    marks = [b for b in blanks if b.strip()]
    if marks:
        said.append(f"{path}: cells {' '.join(map(repr, marks))} read as missing values")
    if point == "," and decimal == "auto":
        shown = ", ".join(map(repr, comma[:3])) + (f" and {len(comma) - 3} more" if len(comma) > 3 else "")
        said.append(f"{path}: numbers written with a decimal comma (column(s) {shown}) read "
                    f"as numbers (decimal=',' says so; decimal='.' reads them as text)")
    if bad:
        said.append(f"{path}: skipped {len(bad)} ragged row(s) (wrong number of fields), "
                    f"first at line(s) {list(bad[:5])}")
    return said + _dropped(path, dropped)


def _comma_numbers(table: Any) -> list[str]:
    """The text columns of ``table`` (read with a decimal point) whose every cell is a number
    written with a decimal comma, at least one with a fraction; none when another column
    holds numbers with a decimal point (a file mixing both marks is read as it is)."""
    found = []
    for fld, col in zip(table.schema, table.columns):
        said = comma_column(fld, col)
        if said == "point":
            return []  # 2.25 somewhere: the point is this file's decimal mark
        if said == "comma":
            found.append(str(fld.name))
    return found


def _dropped(path: str, count: int) -> list[str]:
    return [f"{path}: dropped {count} empty column(s) with no name in the header (a separator at "
            f"the end of each line)"] if count else []


def _to_pandas(table: Any) -> pd.DataFrame:
    """An Arrow table -> DataFrame, integer columns with missing cells as pandas' nullable
    integers (``Int64``): Arrow's default float64 would write ``473`` back as ``473.0``.
    Dictionary columns are read as their values (``arrow_frames``: text as categories)."""
    import pyarrow as pa

    from encoderkit.data.arrow_frames import decode_dictionaries

    table = decode_dictionaries(table)
    frame = table.to_pandas()
    # the fields that are the frame's columns, in its order (a Parquet file's index levels are not)
    index = {c for c in (table.schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
    fields = [i for i, fld in enumerate(table.schema) if fld.name not in index]
    if len(fields) != frame.shape[1]:
        return frame
    for j, i in enumerate(fields):
        fld = table.schema.field(i)
        if pa.types.is_integer(fld.type) and table.column(i).null_count and frame.dtypes.iloc[j] == np.float64:
            dtype = pd.api.types.pandas_dtype(str(fld.type).replace("int", "Int").replace("uInt", "UInt"))
            frame.isetitem(j, table.column(i).to_pandas(types_mapper={fld.type: dtype}.get))
    return frame
