"""Ingest of one large table file in bounded memory, into the store the whole-file ingest
writes (the same schema, the same records, the same messages).

Read whole, a table took about 7 bytes of memory per byte of CSV (a 4 GB file, 28 GB): the
Arrow table, the DataFrame, and the encoded cells of every column at once. Its schema needs
every row (a column's kind, categories, mean, quantiles), so rows cannot simply be encoded
as they come. Here the table is taken one column at a time instead:

1. the file is read once in blocks of rows and its cells spilled to disk (``spill.py``; a
   Parquet file is read a column at a time as it is);
2. each column is parsed alone as the whole-file reader parses it (the same pyarrow
   conversions; the rules of ``reading.py`` and ``holes.py`` from its cells), and what the
   table's rules need of it is gathered: which rows hold any value, the reader's messages;
3. each column again: its schema entry (``schema.column_entry``, the very code of
   ``infer_schema``) and its encoded cells, spilled to disk;
4. the records are written in blocks of rows from the encoded columns.

Memory thus follows the largest column (its cells as pandas holds them), not the table;
the statistics are those of ``infer_schema`` on the same values, so exact (no streamed
approximation). The disk holds about twice the files meanwhile, in the temporary directory
(``TMPDIR``). Used for text or Parquet files holding at least ``STREAM_BYTES`` of text together
(``streams``; several files are one table, ``JoinedColumns``); other inputs (smaller ones,
Parquet with a stored index, files on object storage) are read whole.
"""

from __future__ import annotations

import errno
import os
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.data.textfiles import TEXT_TABLE_SUFFIXES, compression, plain_name
from encoderkit.domain import IngestReport, RecordWriter
from encoderkit.errors import DataError, reading
from encoderkit.outputs import work_dir

from domains.tabular.appending import write_rows
from domains.tabular.bigints import beyond_float, integer_text
from domains.tabular.compressed import text_size
from domains.tabular.holes import (comma_column, marked_numbers, missing_cells, sentinel_counts,
                                   sentinel_message)
from domains.tabular.reading import (_dropped, _to_pandas, arrow_file, convert_options, header_cells, parsing,
                                     plan_quoting, read_messages, refuse_all_ragged, refuse_header_rows,
                                     refuse_title, text_plan,
                                     unnamed_empty, utf8_problem, wrong_delimiter)
from domains.tabular.schema import (Encoded, check_ingest_options, column_entry, encode_frame,
                                    excluded_columns, finish_schema, unknown_columns)
from domains.tabular.spill import spill_text
from domains.tabular.words import Decision, column_words, decide, is_text, restored

# A file at least this large (its text, estimated) is ingested column by column. Measured on
# CSVs of 32 columns of 30 / 100 / 300 MB: read whole 0.51 / 0.89 / 2.0 GB at peak (7 bytes a
# byte of CSV over 0.3 GB), column by column 0.49 / 0.62 / 0.92 GB (most of it the store
# writer's bookkeeping of each row), in the same CPU time. Below 64 MiB the whole-file path
# takes under about 0.8 GB and sets nothing aside on disk.
STREAM_BYTES = 64 << 20
# how many bytes of text a byte of Parquet stands for (at least: see ``parquet_text``)
COMPRESSED_RATIO = 4
# bytes of text a Parquet cell stands for at least ("1.5," in a CSV), so that a small file of
# many repeated cells (run-length and dictionary encoded) counts as the table it is
CELL_BYTES = 4
# rows written to the store a block at a time, from the encoded columns on disk
WRITE_ROWS = 1 << 16


def streams(sources: Sequence[str]) -> bool:
    """Whether ``ingest`` of ``sources`` goes column by column: local text or Parquet files
    holding at least ``STREAM_BYTES`` of text together (several files: ``JoinedColumns``),
    Parquet only when it stores no index (an index is read as columns, ahead of the others:
    left to the whole-file reader). A compressed text file's text is sized by
    ``compressed.text_size`` (its format's claim, or measured), not by the file's size; where
    a claim was short, the whole-file read of one file is stopped at ``STREAM_BYTES``
    (``TextBeyond``) and the table taken column by column after all."""
    sizes = [_text_of(str(path)) for path in sources]
    return bool(sizes) and None not in sizes and sum(sizes) >= STREAM_BYTES  # type: ignore[arg-type]


def _text_of(path: str) -> int | None:
    """The text ``streams`` counts for the file ``path``; None for one it leaves to the
    whole-file reader."""
    if "://" in path or not os.path.isfile(path):
        return None
    if path.lower().endswith((".parquet", ".pq")):
        return parquet_text(path) if _plain_parquet(path) else None
    if not plain_name(path).endswith(TEXT_TABLE_SUFFIXES):
        return None
    return text_size(path, compression(path), STREAM_BYTES)


def whole_limit(sources: Sequence[str]) -> int | None:
    """The text the whole-file reader is held to when ``streams`` said no: ``STREAM_BYTES``
    for the one file it could have streamed (a compressed one may hold more than its format
    claimed: ``compressed.TextBeyond``), none for several files (always read whole)."""
    return STREAM_BYTES if len(sources) == 1 and "://" not in str(sources[0]) else None


def parquet_text(path: str) -> int:
    """The text a Parquet file stands for, at least: ``COMPRESSED_RATIO`` times its size, its
    cells at ``CELL_BYTES`` each, and its columns' bytes before compression (its footer's
    claims, cheap to read: a file whose claims are false is refused by the reader)."""
    size = os.path.getsize(path) * COMPRESSED_RATIO
    try:
        import pyarrow.parquet as pq

        with arrow_file(path) as f:
            meta = pq.ParquetFile(f).metadata
        raw = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        return max(size, int(meta.num_rows) * int(meta.num_columns) * CELL_BYTES, int(raw))
    except Exception:  # noqa: BLE001 - the whole-file reader names the problem
        return size


def _plain_parquet(path: str) -> bool:
    """A Parquet file whose rows pandas numbers by a RangeIndex kept in its metadata alone
    (none stored, or a slice's 100 .. 159: ``reading.row_labels``, read as positions), with
    distinct column names; False where its footer cannot be read (the reader says why)."""
    try:
        import pyarrow.parquet as pq

        with arrow_file(path) as f:
            schema = pq.read_schema(f)
    except Exception:  # noqa: BLE001 - the whole-file reader names the problem
        return False
    names = schema.names
    meta = schema.pandas_metadata or {}
    plain = all(isinstance(c, dict) and c.get("kind") == "range" for c in meta.get("index_columns", []))
    return plain and len(set(names)) == len(names)


class TextColumns:
    """A text table's columns, one at a time, as ``reading.read_table`` reads them. Opening it
    reads the file once into ``folder`` and settles what the whole-file reader settles from
    the whole table: cells that stand for missing values, the decimal mark, the checks."""

    def __init__(self, path: str, opts: Mapping[str, Any], folder: str) -> None:
        import pyarrow as pa

        decimal = opts["decimal"]
        self.plan = plan = text_plan(path, opts["delimiter"], decimal, opts.get("numbers") or ())
        self.raw = raw = spill_text(path, plan, folder)
        comma_wanted = decimal == "auto" and plan.delimiter != ","

        def sweep(point: str, blanks: Sequence[str]) -> list[dict[str, Any]]:
            """What the whole-file reader's parse with ``point`` and ``blanks`` says of each column."""
            facts = []
            for j, name in enumerate(raw.names):
                col = raw.typed(j, convert_options(plan, point, blanks))
                table = pa.table([col], names=[name])
                fld = table.schema.field(0)
                facts.append({"nulls": col.null_count, "blanks": missing_cells(table),
                              "comma": comma_column(fld, col) if comma_wanted else None,
                              "utf8": utf8_problem(fld, col), "big": beyond_float(fld, col),
                              "text": is_text(fld.type)})
            return facts

        point, blanks, comma = plan.point, [], []
        with parsing(path):
            facts = sweep(point, blanks)
            blanks = sorted({b for f in facts for b in f["blanks"]})
            if blanks:  # parsed again, so a column of numbers with such cells reads as numbers
                facts = sweep(point, blanks)
            said = [f["comma"] for f in facts]
            if "point" not in said:
                comma = [n for n, s in zip(raw.names, said) if s == "comma"]
            if comma:
                point = ","
                facts = sweep(point, blanks)
            for j, f in enumerate(facts):  # integers beyond int64 read as their text (bigints.py)
                if f["big"] and not integer_text(raw.typed(j, convert_options(plan, point, blanks, [raw.names[j]]))):
                    raw.typed(j, convert_options(plan, point, blanks))  # floats written 1e20: as they were
        raw.rows.check(path)
        bad, names, nulls = raw.rows.bad, raw.names, [f["nulls"] for f in facts]
        wrong_delimiter(names, plan.delimiter, path)
        refuse_title(names, nulls, raw.num_rows, len(bad), plan.head.first, path)
        refuse_all_ragged(names, bad, raw.rows.widths, nulls, raw.num_rows, plan.head.first, path)
        for f in facts:
            if f["utf8"]:
                raise DataError(f["utf8"], file=path)
        drop = unnamed_empty(names, nulls, raw.num_rows)
        self.keep = [j for j in range(len(names)) if j not in drop]
        self.names = [names[j] for j in self.keep]
        self.num_rows, self.ragged, self.point, self.blanks = raw.num_rows, len(bad), point, blanks
        self.bad = list(bad)  # the ragged rows' line numbers
        self.messages = read_messages(path, decimal, point, blanks, comma, bad, len(drop))
        said = self._words(opts, [j for j, f in enumerate(facts) if f["nulls"] and f["text"]],
                           [j for j, f in enumerate(facts) if f["nulls"] and f["utf8"] is None])
        self.kept_words = said.words
        self.words_said = [f"{path}: {m}" for m in said.messages]  # as ``ReadResult.words_said``
        self.messages += self.words_said
        self.kept_said = [f"{path}: {m}" for m in said.kept_said]  # warned (words.Decision)
        os.remove(raw.file)  # the columns are kept as the last parse made them (``read``)

    def _words(self, opts: Mapping[str, Any], text: Sequence[int], holed: Sequence[int]) -> Decision:
        """Which missing-value words (``NA``) the text columns keep as values (``words.py``),
        as ``reading.settle_words`` decides for the whole file; those columns are kept with
        them. ``text``: the text columns with a missing cell; ``holed``: every column with one.
        A column at a time."""
        import pyarrow as pa

        text = [j for j in text if j in self.keep]
        if not text:
            return Decision()

        def written(j: int) -> Any:  # column j as its cells are written
            return pa.chunked_array([c.view(pa.string()) for c in self.raw.raw(j)], type=pa.string())
        found = {j: column_words(self.raw.names[j], self.raw.kept(j).column(0), written(j))
                 for j in holed if j in self.keep}
        said = decide(found, opts["keep_words"], opts["missing_value"], plan_quoting(self.plan, len(self.raw.names)))
        for j, words in said.kept.items():
            self.raw.keep(j, restored(self.raw.kept(j).column(0), written(j), words))
        return said

    def read(self, j: int) -> pd.DataFrame:
        """Column ``j`` (of ``names``) as a one-column frame, as the reader's frame holds it
        before its cell rules (``marked_numbers``, ``sentinel_counts``)."""
        return _to_pandas(self.raw.kept(self.keep[j]))

    def ruled(self, j: int, opts: Mapping[str, Any]) -> pd.DataFrame:
        """Column ``j`` as ``read_table``'s frame holds it, its cell rules applied."""
        return _column(self, j, opts)[0]

    def release(self, j: int) -> None:
        """Column ``j`` is not read again: its file goes."""
        os.remove(self.raw.kept_file(self.keep[j]))


class ParquetColumns:
    """A Parquet file's columns, one at a time, as ``reading.read_table`` reads them."""

    def __init__(self, path: str, opts: Mapping[str, Any], folder: str) -> None:
        import pyarrow.parquet as pq

        self.path = path
        with arrow_file(path) as f:
            meta = pq.ParquetFile(f).metadata
            names = pq.read_schema(f).names
        self.num_rows, self.ragged, self.point = int(meta.num_rows), 0, "."
        nulls = [self._table(n).column(0).null_count if not n.strip() else 0 for n in names]
        drop = unnamed_empty(names, nulls, self.num_rows)
        self.names = [n for j, n in enumerate(names) if j not in drop]
        self.messages = _dropped(path, len(drop))
        self.kept_words: list[str] = []  # Parquet holds its missing cells as such: no word to settle
        self.kept_said: list[str] = []
        self.words_said: list[str] = []
        self.bad: list[int] = []

    def _table(self, name: str) -> Any:
        import pyarrow.parquet as pq

        with arrow_file(self.path) as f:
            return pq.read_table(f, columns=[name])

    def read(self, j: int) -> pd.DataFrame:
        return _to_pandas(self._table(self.names[j]))

    def ruled(self, j: int, opts: Mapping[str, Any]) -> pd.DataFrame:
        return _column(self, j, opts)[0]

    def release(self, j: int) -> None:
        """Nothing to remove: a Parquet column is read from the input itself, no kept file."""


class JoinedColumns:
    """Several table files as the one table ``ingest`` of ``input=a.csv,b.csv`` makes of them
    (``pd.concat`` of each file read on its own): the columns of every file in the order they
    first appear, missing in the rows of a file without them. Each file is read as one large
    file is, and its cells' rules applied to its own columns, as the reader applies them per
    file; a column is joined when it is read (``pd.concat`` joins a frame column by column:
    the same cells and type as joining the files' frames, checked in the tests)."""

    def __init__(self, paths: Sequence[str], opts: Mapping[str, Any], folder: str) -> None:
        self.parts: list[tuple[str, Any]] = []
        for i, path in enumerate(paths):
            with reading(path):
                part = _columns(path, opts, os.path.join(folder, str(i)))
            twice = sorted({n for n in part.names if part.names.count(n) > 1})
            if twice:  # the files' frames could not be joined
                raise DataError(f"column {twice[0]!r} appears more than once in the header; columns "
                                f"need distinct names", file=path)
            self.parts.append((path, part))
        self.names: list[str] = []
        for _, part in self.parts:
            self.names += [n for n in part.names if n not in self.names]
        self.num_rows = sum(part.num_rows for _, part in self.parts)
        self.ragged = sum(part.ragged for _, part in self.parts)
        self.kept_words = [w for _, part in self.parts for w in part.kept_words]
        self.kept_said = [m for _, part in self.parts for m in part.kept_said]

    def survey(self, opts: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
        """``_survey`` of each file in turn (its rows, its messages)."""
        said = []
        for path, part in self.parts:
            with reading(path):
                said.append(_survey(part, opts, path))
        return np.concatenate([observed for observed, _ in said]), [m for _, messages in said for m in messages]

    def ruled(self, j: int, opts: Mapping[str, Any]) -> pd.DataFrame:
        name = self.names[j]
        frames = [part.ruled(part.names.index(name), opts) if name in part.names
                  else pd.DataFrame(index=pd.RangeIndex(part.num_rows)) for _, part in self.parts]
        return pd.concat(frames, ignore_index=True, sort=False)[[name]]

    def release(self, j: int) -> None:
        for _, part in self.parts:
            if self.names[j] in part.names:
                part.release(part.names.index(self.names[j]))


def _columns(path: str, opts: Mapping[str, Any], folder: str) -> Any:
    """The one table file ``path`` read a column at a time (its cells set aside in ``folder``)."""
    os.makedirs(folder, exist_ok=True)
    return (ParquetColumns if path.lower().endswith((".parquet", ".pq")) else TextColumns)(path, opts, folder)


def _column(table: Any, j: int, opts: Mapping[str, Any],
            read: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[str], dict[str, int]]:
    """Column ``j`` of ``table`` as ``read_table`` returns it (its cell rules applied to
    ``read``, the column as read, by default read here), their messages and the cells
    ``missing_value`` made missing."""
    frame, said = marked_numbers(table.read(j) if read is None else read, table.point)
    counts: dict[str, int] = {}
    if opts["missing_value"] is not None:
        frame, counts = sentinel_counts(frame, opts["missing_value"], table.point)
    return frame, said, counts


def _survey(table: Any, opts: Mapping[str, Any], path: str) -> tuple[np.ndarray, list[str]]:
    """What the table's rules need of every column: which rows hold a value in a column that
    is not excluded (``ingest_frame`` skips the others), and the reader's messages. Refuses
    rows that repeat the header, as the reader does."""
    excluded = excluded_columns(opts)
    observed = np.zeros(table.num_rows, dtype=bool)
    header = np.ones(table.num_rows, dtype=bool) if len(table.names) >= 2 and table.num_rows else None
    said: list[str] = []
    counts: dict[str, int] = {}
    for j, name in enumerate(table.names):
        read = table.read(j)
        if header is not None:  # as reading._refuse_repeated_header
            hit = header_cells(read.iloc[:, 0], name)
            header = None if hit is None else header & hit
            header = header if header is not None and header.any() else None
        frame, marked, found = _column(table, j, opts, read)
        said += [f"{path}: {m}" for m in marked]
        counts.update(found)
        if name not in excluded:
            observed |= frame.iloc[:, 0].notna().to_numpy()
    if header is not None:
        refuse_header_rows(header, path)
    said += [f"{path}: {m}" for m in sentinel_message(opts["missing_value"], counts)]
    return observed, table.messages + said


def ingest_streamed(sources: Sequence[str], writer: RecordWriter, report: IngestReport,
                    options: Mapping[str, Any]) -> dict[str, Any]:
    """``TabularDomain.ingest`` of the files ``sources`` (one table), column by column (module
    docstring)."""
    from encoderkit.data.split import validation_mask

    opts = check_ingest_options(options)
    paths = [str(p) for p in sources]
    path = ", ".join(paths)
    with work_dir("encoderkit-table-") as folder:
        with reading(paths[0] if len(paths) == 1 else None), _room(str(folder), path):
            if len(paths) == 1:
                table: Any = _columns(paths[0], opts, str(folder))
                observed, messages = _survey(table, opts, paths[0])
            else:
                table = JoinedColumns(paths, opts, str(folder))
                observed, messages = table.survey(opts)
        if table.ragged:
            report.skip("ragged row (wrong number of fields)", table.ragged)
        report.warnings.extend(messages)
        for msg in table.kept_said:  # as the schema's messages below (words.Decision)
            warnings.warn(msg, stacklevel=3)
        twice = sorted({n for n in table.names if table.names.count(n) > 1})
        if twice:  # as ingest_frame
            raise DataError(f"column {twice[0]!r} appears more than once in the header; columns "
                            f"need distinct names")
        rows = np.flatnonzero(observed)
        if rows.size < table.num_rows:
            report.skip("row entirely missing", int(table.num_rows - rows.size))
        train = ~validation_mask(rows.size, opts["validation_fraction"], opts["split_seed"])
        cells = os.path.join(str(folder), "encoded.bin")
        with _room(str(folder), path):
            schema, messages = _schema_and_cells(table, opts, rows, train, cells,
                                                 paths[0] if len(paths) == 1 else None)
        for msg in messages:
            warnings.warn(msg, stacklevel=3)
        report.warnings.extend(messages)
        _write(cells, len(schema["columns"]), rows, writer, report)
    # the missing-value words kept as values (words.py): new files are read the same way
    schema["ingest_options"] = {**opts, "keep_words": sorted(set(opts["keep_words"]) | set(table.kept_words))}
    schema["statistics_rows"] = int(rows.size)  # as ingest_frame: appended rows feed none
    return schema


@contextmanager
def _room(folder: str, path: str) -> Iterator[None]:
    """A full disk while the columns are spilled: one line naming the folder and what to do."""
    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT) and "no space left" not in str(e).lower():
            raise
        raise DataError(f"no room left to set the table's columns aside in {os.path.dirname(folder)} "
                        f"({e.strerror or e}): a large table is ingested a column at a time from "
                        f"there, taking about twice its size; set TMPDIR to a folder with room",
                        file=path) from None


def _schema_and_cells(table: Any, opts: Mapping[str, Any], rows: np.ndarray, train: np.ndarray,
                      cells: str, source: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """``infer_schema`` and ``encode_frame`` of the table's non-empty ``rows``, a column at a
    time: the schema, its messages, and each kept column's encoded cells appended to the file
    ``cells`` (category codes int32, values float32, observed bytes, ``len(rows)`` each). An
    error encoding a column is raised once every column's entry is made (``infer_schema``'s
    own errors, raised first, come first in the whole-file ingest too)."""
    excluded = excluded_columns(opts)
    messages = unknown_columns(opts, table.names)
    columns: list[dict[str, Any]] = []
    dropped: dict[str, str] = {}
    failed: DataError | None = None
    with open(cells, "wb") as out:
        for j, name in enumerate(table.names):
            if name in excluded:
                continue
            frame = table.ruled(j, opts)
            table.release(j)
            if rows.size < table.num_rows:
                frame = frame.iloc[rows].reset_index(drop=True)
            entry, said, why = column_entry(frame.iloc[:, 0], name, train, opts, source=source,
                                            rows=rows if source else None, first=j == 0)
            messages += said
            if entry is None:
                dropped[name] = why
                continue
            columns.append(entry)
            if failed is None:
                try:
                    for part in _encoded(frame, entry):
                        out.write(part.tobytes())
                except DataError as e:
                    failed = e
    schema = finish_schema(columns, dropped, opts, table.names, rows.size)
    if failed is not None:
        raise failed
    return schema, messages


def _encoded(frame: pd.DataFrame, entry: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``encode_frame`` of the one-column ``frame`` with the schema entry ``entry`` (without
    ingest options, as ``ingest_frame`` encodes): category codes as int32, values, observed.
    In blocks of ``WRITE_ROWS * 4`` rows, so that a column's cells are never all Python
    objects at once; where a block is refused, the column is encoded whole: its error names
    the row as the whole-file ingest does (or there is none: a block mostly of words in a
    column of numbers is refused, the column not)."""
    schema = {"columns": [entry]}
    parts = []
    step = WRITE_ROWS * 4
    for a in range(0, len(frame), step):
        try:
            enc = encode_frame(frame.iloc[a:a + step], schema, report_text=False)
        except DataError:
            parts = []
            enc = encode_frame(frame, schema, report_text=False)
            parts.append((enc.cat[:, 0].astype(np.int32), enc.num[:, 0], enc.observed[:, 0]))
            break
        parts.append((enc.cat[:, 0].astype(np.int32), enc.num[:, 0], enc.observed[:, 0]))
    if not parts:
        return np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, bool)
    cat, num, obs = (np.concatenate(p) for p in zip(*parts))
    return cat, num, obs


def _write(cells: str, width: int, rows: np.ndarray, writer: RecordWriter, report: IngestReport) -> None:
    """The records of ``rows`` from the encoded columns in ``cells`` (``_schema_and_cells``),
    ``WRITE_ROWS`` rows at a time."""
    n = rows.size
    per_column = n * 9  # int32 + float32 + bool
    with open(cells, "rb") as src:
        for a in range(0, n, WRITE_ROWS):
            b = min(n, a + WRITE_ROWS)
            cat = np.empty((b - a, width), dtype=np.int32)
            num = np.empty((b - a, width), dtype=np.float32)
            obs = np.empty((b - a, width), dtype=bool)
            for k in range(width):
                for arr, start, size in ((cat, 0, 4), (num, 4 * n, 4), (obs, 8 * n, 1)):
                    src.seek(k * per_column + start + a * size)
                    arr[:, k] = np.frombuffer(src.read((b - a) * size), dtype=arr.dtype)
            write_rows(writer, report, Encoded(cat, num, obs, np.ones(width, dtype=bool)), rows[a:b], None)
