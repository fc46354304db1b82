"""How a text table (CSV / TSV, plain or compressed) is parsed by pyarrow's CSV reader, for
the whole-file reader (``reading.read_table``), the streamed one (``streaming.py``) and the
spill (``spill.py``): the checks and choices settled before the first parse (``text_plan``:
delimiter, head, decimal mark, compression), pyarrow's parse and conversion options, the read
itself on several threads or one (``read_text``), the rows it skips or refuses
(``RowErrors``), and its errors as ``DataError``s naming the file (``parsing``).

Its own module: this is how the bytes become an Arrow table, apart from what ``reading.py``
makes of that table (the frame, the missing-value words kept, the decimal comma found, what
reading says); every name stays importable from ``reading`` as before.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from encoderkit.data.arrow_files import arrow_file
from encoderkit.data.textfiles import (TEXT_TABLE_SUFFIXES, check_decimal, check_text, compression, plain_name,
                                       rows_end_with_separator)
from encoderkit.data.textfiles import delimiter as text_delimiter
from encoderkit.errors import DataError

from domains.tabular.compressed import PYARROW_DECOMPRESSES, Bounded, TextBeyond, text_source
from domains.tabular.head import Head, _head
from domains.tabular.quoting import Quoting, sample_quoting
from domains.tabular.read_checks import _check_first_line, _delimiter_fix, check_header_text

# text tables, plain or compressed by any suffix of ``textfiles.COMPRESSION`` (what
# ``encoderkit impute`` writes): pyarrow reads .gz / .bz2 / .zst by the name, and is handed
# the decompressed bytes of a .xz or a .zip (``compressed.text_source``)
TEXT_SUFFIXES = TEXT_TABLE_SUFFIXES


@contextmanager
def arrow_text(path: str, method: str | None, limit: int | None = None) -> Iterator[Any]:
    """``compressed.text_source`` (what pyarrow's CSV reader reads the text table ``path``,
    compressed by ``method``, from), the file opened by ``arrow_file`` rather than by its
    name: decompressed by pyarrow's decoders as it would by the name, held to ``limit``
    where a compressed file's text is. xz and zip are opened by Python (``open_stream``)."""
    if method not in PYARROW_DECOMPRESSES:
        with text_source(path, method, limit) as src:
            yield src
        return
    import pyarrow as pa

    with arrow_file(path) as raw:
        stream = pa.input_stream(raw, compression=method)  # the file itself for a plain one
        with (stream if method is None or limit is None else Bounded(stream, path, limit)) as src:
            yield src


def read_text(path: str, plan: TextPlan, limit: int | None, rows: RowErrors, ignore_empty_lines: bool,
              convert: Any) -> Any:
    """The text table ``path`` read whole by pyarrow's CSV reader as ``plan`` says, with the
    conversion options ``convert``: on several threads while that can be done with nothing of
    Python's, else on one thread, with ``rows`` told of the rows it skips.

    Why: pyarrow's threaded reader is released by the last of its worker threads to finish,
    after ``read_csv`` has returned or raised, and with it what Python lent it (the row
    handler, a stream of Python's: the .xz, the .zip, a ``Bounded`` one), which needs the
    interpreter's lock. When that came as the interpreter exited (an empty table for
    predict / infill: its one-line error, then exit) the worker was ended inside a C++
    destructor: "terminate called without an active exception", SIGABRT, exit 134 instead of
    1. A read on one thread has let go of everything when it returns. So the threaded read
    gets the file by pyarrow's own stream and no handler: a row it cannot read as it is (a
    ragged one, which the handler skips) fails it, and the table is read on one thread, as
    it then was anyway to number the rows skipped (``rows.threads`` says so for the next)."""
    import pyarrow.csv as pacsv

    if rows.threads:
        table = _threaded_read(path, plan, limit, ignore_empty_lines, convert)
        if table is not None:
            return table
        rows.threads = False
    with arrow_text(path, plan.method, limit) as src:
        return pacsv.read_csv(src, read_options=read_options(plan, use_threads=False),
                              parse_options=parse_options(plan, rows, ignore_empty_lines), convert_options=convert)


def _threaded_read(path: str, plan: TextPlan, limit: int | None, ignore_empty_lines: bool,
                   convert: Any) -> Any:
    """``read_text``'s read on several threads, or None where it cannot be one: the file comes
    as a stream of Python's, or holds a row pyarrow cannot read as it is (a ragged one, which
    only the handler skips; or a problem the one-thread read then says)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with arrow_text(path, plan.method, limit) as src:
        if not isinstance(src, pa.NativeFile):
            return None
        try:
            return pacsv.read_csv(src, read_options=read_options(plan, use_threads=True),
                                  parse_options=parse_options(plan, None, ignore_empty_lines),
                                  convert_options=convert)
        except pa.ArrowInvalid:
            return None


def written_options(names: Sequence[str]) -> Any:
    """pyarrow's conversion options that read the columns ``names`` as their cells are
    written: text, none missing (``words.column_words``)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, include_columns=list(names),
                                strings_can_be_null=False)


def plan_quoting(plan: TextPlan, columns: int) -> Callable[[], Quoting | None]:
    """How the text table of ``plan`` (``columns`` columns, the header's) quotes its cells,
    from the sample its head kept (``quoting.sample_quoting``): read when first asked."""
    return lambda: sample_quoting(plan.head.sample, plan.delimiter, columns, plan.head.whole) \
        if plan.head.sample else None


@dataclass
class TextPlan:
    """How a text table is parsed, settled before its first parse (``text_plan``)."""
    delimiter: str
    head: Head
    point: str  # the decimal mark of the first parse ("." for decimal=auto)
    method: str | None  # the compression
    # the column names given to pyarrow (the header's, then one blank), where every data row
    # ends with a separator the header lacks (``row_end_names``); None: pyarrow reads the header
    names: list[str] | None = None

    @property
    def row_end(self) -> bool:
        """Whether every data row ends with a separator the header lacks (written back so)."""
        return self.names is not None


def read_options(plan: TextPlan, **options: Any) -> Any:
    """pyarrow's read options (``options``: threads, block size) for ``plan``: with the
    plan's column names and the header line skipped where it gives names (``row_end_names``)."""
    import pyarrow.csv as pacsv

    if plan.names is not None:
        options.update(column_names=plan.names, skip_rows=1)
    return pacsv.ReadOptions(**options)


def row_end_names(path: str, delimiter: str, head: Head) -> list[str] | None:
    """The header's names and one blank name after them, where every data row of ``path`` ends
    with a separator the header lacks (``date,co2`` over ``1958-03-29,316.1,``; what the series
    reader reads): every row was one field longer than the header, so pyarrow skipped every
    one as ragged and the table was refused. The blank column holds nothing and is dropped
    as a trailing separator's is (``read_checks._check_names``). None for other files, and
    for a header line that is no whole row (a quoted name over two lines)."""
    import csv

    if not head.first or not rows_end_with_separator(path, delimiter):
        return None
    try:
        rows = list(csv.reader([head.first], delimiter=delimiter))
    except csv.Error:
        return None
    return [*rows[0], ""] if len(rows) == 1 else None


def text_plan(path: str, delimiter: str | None, decimal: str, numbers: Sequence[str] = ()) -> TextPlan:
    """The checks a text table passes before it is parsed (its name, its first line, the
    decimal option), and how it is parsed. ``numbers``: columns a run's schema holds as
    numbers (or integer categories): their hex cells are read as integers (``0x10``: 16), as
    the run was trained on them (hex read as text came later; a run trained before saw every
    cell as an unknown category), not as text."""
    if not plain_name(path).endswith(TEXT_SUFFIXES):
        raise DataError("unsupported file type; use .csv, .tsv/.tab (optionally .gz/.bz2/.xz/.zip/.zst) "
                        "or .parquet", file=path)
    check_text(path)  # UTF-16 text: "save it as UTF-8", as the other domains' readers say
    if delimiter is None:
        delimiter = text_delimiter(path)
    head = _head(path, delimiter)
    if numbers:
        keep = set(head.hex) & {str(n) for n in numbers}
        head.codes = [c for c in head.codes if c not in keep]
    _check_first_line(head.first, path)
    check_header_text(head.sample, delimiter, path)
    check_decimal(path, delimiter, decimal)
    return TextPlan(delimiter, head, "." if decimal == "auto" else decimal, compression(path),
                    row_end_names(path, delimiter, head))


class RowErrors:
    """The rows pyarrow could not read: ragged ones (``bad``: their line numbers), skipped; and
    rows that are not UTF-8, refused (``check``). ``threads``: whether the table may still be
    read on several threads (``read_text``: not once such a row was met)."""

    def __init__(self, threads: bool = True) -> None:
        self.threads = threads
        self.bad: list[int] = []
        self.widths: dict[int, int] = {}  # each ragged row's number of fields, by its line number
        self.undecodable: list[BaseException] = []

    def on_invalid(self, row: Any) -> str:
        self.bad.append(int(row.number) if row.number is not None else -1)
        self.widths[self.bad[-1]] = int(row.actual_columns)
        return "skip"

    @contextmanager
    def collected(self) -> Iterator[None]:
        # pyarrow decodes a ragged row before calling the handler; a row that is not UTF-8
        # fails there and is only "ignored" with a traceback on stderr: collect it instead
        hook = sys.unraisablehook
        sys.unraisablehook = lambda u: self.undecodable.append(u.exc_value) if isinstance(
            u.exc_value, UnicodeError) else hook(u)
        try:
            yield
        finally:
            sys.unraisablehook = hook

    def check(self, path: str, plan: TextPlan | None = None) -> None:
        if self.undecodable:
            raise self.refusal(path, plan)

    def refusal(self, path: str, plan: TextPlan | None = None) -> DataError:
        """The error for the first row that is not UTF-8, in the words a cell that is not UTF-8
        gets (``utf8_problem``): its bytes and the fix, with ``plan``'s delimiter fix where the
        header holds another separator and not its own (a ``;`` file read with commas)."""
        exc = self.undecodable[0]
        cells = getattr(exc, "object", None)
        shown = f", {bytes(cells[:80])!r}" if isinstance(cells, (bytes, bytearray)) else ""
        fix = "save the file as UTF-8"
        if plan is not None and plan.delimiter not in plan.head.first:
            found = [d for d in (";", "\t", "|", ",") if d != plan.delimiter and d in plan.head.first]
            fix += f" and {_delimiter_fix(found[0])}" if found else ""
        return DataError(f"a row is not UTF-8 text ({exc}{shown}; cp1252 or Latin-1?): {fix}", file=path)


@contextmanager
def parsing(path: str, rows: RowErrors | None = None, plan: TextPlan | None = None) -> Iterator[None]:
    """Errors of parsing the text table ``path`` as ``DataError``s naming it; where ``rows``
    met a row that is not UTF-8, that is the error (pyarrow, unable to read it, says
    "Expected 1 columns, got 3")."""
    try:
        yield
    except (DataError, TextBeyond):  # a .zip that is not one file: said as it is; more text than held to
        raise
    except Exception as exc:  # pyarrow's messages name the problem but not always the file
        if rows is not None and rows.undecodable:
            raise rows.refusal(path, plan) from exc
        raise DataError(f"cannot parse as delimited text: {' '.join(str(exc).split())}", file=path) from exc


def parse_options(plan: TextPlan, rows: RowErrors | None, ignore_empty_lines: bool) -> Any:
    """pyarrow's parse options for ``plan``, ragged rows skipped and told to ``rows`` (none: a
    ragged row fails the read). A quoted cell may hold a line end: pyarrow's
    default reader split such a row in two (two ragged rows, or a conversion error) only
    where one of its 1 MiB blocks happened to end inside the cell, so how a row was read
    depended on where it sat in the file."""
    import pyarrow.csv as pacsv

    return pacsv.ParseOptions(delimiter=plan.delimiter, invalid_row_handler=None if rows is None else rows.on_invalid,
                              ignore_empty_lines=ignore_empty_lines, newlines_in_values=True)


def convert_options(plan: TextPlan, point: str, blanks: Sequence[str] = (), text: Sequence[str] = ()) -> Any:
    """pyarrow's conversion options: numbers with the decimal mark ``point``; an empty text
    cell is missing, as it is in a numeric column; so is a cell of ``blanks`` (only
    whitespace, or ``?``: pyarrow matches missing-value words exactly); columns of codes
    with a leading zero stay text, and so do the columns ``text`` (integers beyond int64)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(strings_can_be_null=True, decimal_point=point,
                                   column_types={c: pa.string() for c in [*plan.head.codes, *text]})
    if blanks:
        convert.null_values = [*convert.null_values, *blanks]
    return convert
