"""A large text table's cells spilled to disk, so that its columns can be read back one at a
time, each parsed as the whole-file reader (``reading.read_table``) parses it.

Why not parse blocks of rows as they come: pyarrow gives a column the first type that holds
every one of its cells in the whole file (a column of integers with one ``2.5`` in its last
row is a column of floats; with one ``abc``, of text), and the reader's later rules (cells
read as missing, a decimal comma) depend on those types. So the file is read once in blocks
of rows with every cell kept as the bytes it holds (``spill_text``: a Parquet file on disk,
a row group per 32 MiB of cells), and a column is then parsed alone by pyarrow's own
CSV reader from its cells, each quoted (``RawTable.typed``): the same conversions and the
same type inference, from one column's bytes instead of the table's.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from domains.tabular.compressed import PYARROW_DECOMPRESSES
from domains.tabular.reading import RowErrors, TextPlan, arrow_file, arrow_text, parse_options, parsing
from domains.tabular.textparse import read_options

# pyarrow's own block size (the whole-file reader's): a row longer than a block is refused by
# both alike; tests lower it to read small tables in many blocks
BLOCK_BYTES = 1 << 20
# raw cells gathered before they are written as one row group of the spill file (fewer, larger
# row groups make a column quicker to read back)
BATCH_BYTES = 32 << 20


def _ipc_options() -> Any:
    import pyarrow as pa

    return pa.ipc.IpcWriteOptions(compression=None)  # lz4 saved a tenth of a column's size, in time


class RawTable:
    """The cells of a text table as spilled (``spill_text``): ``names`` (the header, as
    pyarrow reads it), ``num_rows`` (rows read; ragged ones skipped), ``rows`` (the ragged
    and undecodable rows met)."""

    def __init__(self, file: str, names: Sequence[str], num_rows: int, rows: RowErrors) -> None:
        self.file, self.names, self.num_rows, self.rows = file, list(names), int(num_rows), rows

    def raw(self, j: int) -> list[Any]:
        """Column ``j``'s cells as binary arrays, read from disk alone."""
        import pyarrow.parquet as pq

        # every file here by its name's bytes (``arrow_file``): the folder is under TMPDIR,
        # whose name need not be UTF-8
        with arrow_file(self.file) as f:
            return pq.ParquetFile(f).read(columns=[f"c{j}"]).column(0).chunks

    def typed(self, j: int, convert: Any) -> Any:
        """Column ``j`` parsed with pyarrow's conversion options ``convert`` (a ChunkedArray),
        as the whole-file reader's table holds it."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        name = self.names[j]
        data, lines = quoted_lines(self.raw(j))
        if data.size == 0:  # no row: pyarrow reads an empty file as no table at all
            col = pa.chunked_array([], type=convert.column_types.get(name, pa.null()))
        else:
            # every cell quoted: a quoted cell converts as the same cell unquoted (the reader's
            # quoted_strings_can_be_null is pyarrow's default, True), and holds any delimiter,
            # quote or line end (pyarrow reads faster knowing that none holds a line end)
            # pyarrow's own buffer: a threaded read lent a Python object (a BytesIO) lets go of
            # it on a worker thread after returning, which aborts an exiting interpreter
            # (``reading.read_text``)
            col = pacsv.read_csv(pa.BufferReader(data), read_options=pacsv.ReadOptions(column_names=[name]),
                                 parse_options=pacsv.ParseOptions(newlines_in_values=lines),
                                 convert_options=convert).column(0)
        self.keep(j, col)  # the column is read again, as the last parse made it (``kept``)
        return col

    def keep(self, j: int, col: Any) -> None:
        """Column ``j`` is ``col`` (a ChunkedArray) when read again (``kept``)."""
        import pyarrow as pa

        name = self.names[j]
        with arrow_file(self.kept_file(j), "wb") as sink, \
                pa.ipc.new_file(sink, pa.schema([pa.field(name, col.type)]), options=_ipc_options()) as out:
            for chunk in col.chunks:
                out.write_batch(pa.record_batch([chunk], names=[name]))

    def kept(self, j: int) -> Any:
        """Column ``j`` as the last ``typed`` of it parsed it (a one-column table)."""
        import pyarrow as pa

        with arrow_file(self.kept_file(j)) as src:
            return pa.ipc.open_file(src).read_all()

    def kept_file(self, j: int) -> str:
        return os.path.join(os.path.dirname(self.file), f"column-{j}.arrow")


def quoted_lines(chunks: Sequence[Any]) -> tuple[Any, bool]:
    """Binary cells -> one line each, ``"cell"`` with its quotes doubled: a one-column CSV (a
    buffer of pyarrow's); and whether a cell holds a line end."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    # pyarrow's CSV writer quotes and escapes (the cells viewed as text, not checked: bytes
    # that are not UTF-8 are written as they are, for the reader to say so)
    table = pa.table({"c": pa.chunked_array([c.view(pa.string()) for c in chunks], type=pa.string())})
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="all_valid"))
    cells = pa.chunked_array(chunks, type=pa.binary())
    ends = any(pc.any(pc.match_substring(cells, end)).as_py() for end in ("\n", "\r")) if len(cells) else False
    return sink.getvalue(), ends


# the compression of ``_native_copy``'s copy: fast, and its reader is pyarrow's own
COPY_CODEC = "zstd"


def _native_copy(path: str, plan: TextPlan, folder: str) -> str | None:
    """For a table that Python decompresses (.xz, .zip: ``compressed.open_stream``), its text
    copied by this thread, recompressed by pyarrow (``COPY_CODEC``), into ``folder``; None for
    one pyarrow reads itself.

    Why: pyarrow's streaming CSV reader reads ahead on its I/O threads, on one thread as on
    several, so a stream of Python's was read there, taking the interpreter's lock. A read
    that failed (a row longer than a block, a row that is not UTF-8) left those threads
    reading; one that asked for the lock as the interpreter exited ended inside a C++
    destructor: "terminate called without an active exception", SIGABRT, exit 134 instead of
    the error's 1 (8 of 8 runs of such a read and exit; ``reading.read_text`` for the
    whole-file reader). The copy is pyarrow's to read: nothing of Python's is on its threads."""
    import shutil

    import pyarrow as pa

    if plan.method in PYARROW_DECOMPRESSES:
        return None
    copy = os.path.join(folder, f"text.{COPY_CODEC}")
    with arrow_text(path, plan.method) as src, pa.OSFile(os.fsencode(copy), "wb") as raw, \
            pa.CompressedOutputStream(raw, COPY_CODEC) as out:
        shutil.copyfileobj(src, out, BLOCK_BYTES)
    return copy


@contextmanager
def _source(path: str, plan: TextPlan, copy: str | None) -> Iterator[Any]:
    """What pyarrow reads the file from, a stream of its own: the file opened by its name's
    bytes (decompressed by pyarrow for .gz / .bz2 / .zst), or ``copy`` (``_native_copy``)."""
    import pyarrow as pa

    if copy is None:
        with arrow_text(path, plan.method) as src:
            yield src
        return
    with pa.OSFile(os.fsencode(copy), "rb") as raw, pa.CompressedInputStream(raw, COPY_CODEC) as src:
        yield src


@contextmanager
def _streamed(src: Any, read: Any, parse: Any, convert: Any = None) -> Iterator[Any]:
    """pyarrow's streaming CSV reader over ``src``, closed on leaving, an error included, so
    that it lets go of the row handler Python lent it while this thread can."""
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(src, read_options=read, parse_options=parse, convert_options=convert)
    try:
        yield reader
    finally:
        reader.close()


def _header(path: str, plan: TextPlan, read: Any, ignore_empty_lines: bool, copy: str | None) -> list[str]:
    """The column names, as pyarrow reads the header."""
    with _source(path, plan, copy) as src, \
            _streamed(src, read, parse_options(plan, RowErrors(), ignore_empty_lines)) as reader:
        return reader.schema.names


def spill_text(path: str, plan: TextPlan, folder: str) -> RawTable:
    """Read the text table ``path`` in blocks of rows, parsed as the whole-file reader parses
    it (delimiter, quoting, ragged rows skipped and numbered, empty lines) but every cell kept
    as its bytes, into a Parquet file in ``folder``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = RowErrors()
    file = os.path.join(folder, "cells.parquet")
    read = read_options(plan, use_threads=False, block_size=BLOCK_BYTES)  # one thread: rows numbered
    with rows.collected(), parsing(path, rows, plan):
        copy = _native_copy(path, plan, folder)
        names = _header(path, plan, read, True, copy)
        # one column: an empty line is its missing cell, not nothing (as the whole-file reader;
        # an empty first line is then the header)
        lines = len(names) != 1
        if not lines:
            names = _header(path, plan, read, False, copy)
        convert = pacsv.ConvertOptions(column_types={n: pa.binary() for n in names}, strings_can_be_null=False,
                                       null_values=[], quoted_strings_can_be_null=False)
        schema = pa.schema([pa.field(f"c{j}", pa.binary()) for j in range(len(names))])  # names may repeat
        count = 0
        # Parquet, not Arrow's IPC format: its reader reads a batch's every column to return one
        with _source(path, plan, copy) as src, \
                _streamed(src, read, parse_options(plan, rows, lines), convert) as reader, \
                arrow_file(file, "wb") as sink, \
                pq.ParquetWriter(sink, schema, compression="lz4", use_dictionary=False, write_statistics=False) as out:
            pending: list[Any] = []
            size = 0
            for batch in reader:
                pending.append(batch)
                size += batch.nbytes
                count += batch.num_rows
                if size >= BATCH_BYTES:  # a row group
                    out.write_table(pa.Table.from_batches(pending).rename_columns(schema.names))
                    pending, size = [], 0
            if pending:
                out.write_table(pa.Table.from_batches(pending).rename_columns(schema.names))
        if copy is not None:  # read: its disk is the cells' now
            os.remove(copy)
    return RawTable(file, names, count, rows)
