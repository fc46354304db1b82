"""A large table file's rows as records for ``predict`` / ``embed`` / ``evaluate``, one column
at a time (``TabularDomain.read_records``): the records reading the file whole gives, with
the same messages, in bounded memory.

Read whole, a table took about 7 bytes of memory per byte of its text (pyarrow's table, then
the DataFrame) before a record was made, and a compressed file was read whole whatever its
text's size. Here the file is read as ``ingest`` reads a large table (``streaming.py``: its
cells set aside in the temporary directory, each column parsed alone as the whole-file reader
parses it, with the same rules for its cells), and each column is encoded with the run's
schema as ``to_records`` encodes it (``encode_frame`` reads a column on its own), into the 13
bytes a cell the records keep. Memory follows one column and those cells; the disk holds
about twice the file meanwhile (``TMPDIR``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from encoderkit.errors import DataError, reading
from encoderkit.outputs import work_dir

from domains.tabular.reading import refuse_ragged, refuse_repeated_header
from domains.tabular.records import TableRecords
from domains.tabular.encoding import Encoded, encode_frame
from domains.tabular.streaming import ParquetColumns, TextColumns, _column, _room


def reading_options(schema: Any) -> dict[str, Any]:
    """The options ``TabularDomain.read_input`` reads a file with: the store's ingest options."""
    stored = schema.get("ingest_options") or {}
    return {"delimiter": stored.get("delimiter"), "decimal": stored.get("decimal", "auto"),
            "missing_value": stored.get("missing_value"), "keep_words": stored.get("keep_words") or (),
            "numbers": held_numbers(schema)}


def held_numbers(schema: Any) -> list[str]:
    """The columns the run's ``schema`` holds as numbers or integer categories: their hex
    cells (``0x10``) are read as the integers a run trained on them saw (``reading.text_plan``)."""
    def numeric(c: dict[str, Any]) -> bool:
        if c.get("kind") == "numeric":
            return not c.get("datetime")
        cats = c.get("categories") or []
        return bool(cats) and all(isinstance(v, int) and not isinstance(v, bool) for v in cats)
    return [str(c["name"]) for c in schema.get("columns") or [] if numeric(c)]


def records_by_column(domain: Any, path: str) -> TableRecords:
    """``domain.to_records(domain.read_input(path), source=path)`` of the file ``path``, a
    column at a time (module docstring). A row of the wrong number of fields is refused, as
    ``read_input`` refuses it (a prediction per row of the file)."""
    opts = reading_options(domain.schema)
    with work_dir("encoderkit-table-") as folder:
        with reading(path), _room(str(folder), path):
            text = not path.lower().endswith((".parquet", ".pq"))
            table: Any = (TextColumns if text else ParquetColumns)(path, opts, str(folder))
        if table.bad:
            refuse_ragged(table.bad, len(table.raw.names), path)
        with reading(path), _room(str(folder), path):
            if text:  # the reader checks a text table's rows so
                _refuse_header_rows(table, path)
            names = list(table.names)
            read = {str(c["name"]) for c in domain.schema["columns"]}
            twice = [n for k, n in enumerate(names) if n in names[:k] and n in read]
            if twice:  # as encode_frame refuses it
                raise DataError(f"column {twice[0]!r} appears more than once in the header; columns "
                                f"need distinct names", file=path)
            for msg in table.words_said:  # as read_input says them, once the file is read
                warnings.warn(msg, stacklevel=3)
            enc = _encoded(domain.schema, table, opts, path, quiet=domain.options["drop_columns"])
    frame = pd.DataFrame(columns=names)  # the table's columns, for the messages that name them
    domain._check_columns(frame, enc.present, frame, observed=enc.observed)
    return TableRecords(enc, [f"row{k}" for k in range(table.num_rows)])


def _refuse_header_rows(table: Any, path: str) -> None:
    """Rows that repeat the header are refused, as the whole-file reader refuses them in a text
    table (on the columns as read, before their cell rules); most tables are settled by their
    first column or two."""
    refuse_repeated_header(table.names, lambda j: table.read(j).iloc[:, 0], table.num_rows, path)


def _encoded(schema: Any, table: Any, opts: dict[str, Any], path: str, quiet: Any = ()) -> Encoded:
    """``encode_frame`` of the table read whole, a schema column at a time (in the schema's
    order, as it warns): each column with its cell rules (``streaming._column``) encoded alone."""
    columns = schema["columns"]
    n, c = table.num_rows, len(columns)
    enc = Encoded(np.zeros((n, c), dtype=np.int64), np.zeros((n, c), dtype=np.float32),
                  np.zeros((n, c), dtype=bool), np.zeros(c, dtype=bool))
    where = {str(name): k for k, name in enumerate(table.names)}
    for j, col in enumerate(columns):
        k = where.get(str(col["name"]))
        if k is None:
            continue
        frame = _column(table, k, opts)[0]
        table.release(k)
        part = encode_frame(frame, {**schema, "columns": [col]}, source=path, quiet=quiet)
        enc.cat[:, j], enc.num[:, j], enc.observed[:, j] = part.cat[:, 0], part.num[:, 0], part.observed[:, 0]
        enc.present[j] = True
    return enc
