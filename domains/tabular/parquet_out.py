"""A filled table written back as Parquet with the input file's own Arrow schema.

Why: pandas' round trip changes a Parquet file's types where the filled values would fit the
originals: ``decimal128(10, 2)`` came back ``double``, ``string`` ``large_string``, a
dictionary's int32 indices int8, and the file's own schema metadata (``b'source'``) was
replaced by pandas'. Each column is cast back to the input's type where that cast is exact
(pyarrow's safe cast: no value lost), else kept as pandas wrote it; the input's metadata is
kept, with pandas' own entry describing the frame as written under the input's labels
(``pandas_metadata``: its column labels, their axis, and a RangeIndex it kept as metadata).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def as_input_schema(table: Any, schema: Any) -> Any:
    """``table`` (``pa.Table.from_pandas`` of the filled frame) with the column types and
    schema metadata of ``schema`` (the input file's), where they fit."""
    import pyarrow as pa

    if schema is None:
        return table
    names = list(schema.names)
    fields, columns = [], []
    for fld, col in zip(table.schema, table.columns):
        if names.count(fld.name) == 1:
            want = schema.field(fld.name)
            try:
                col = col.cast(want.type, safe=True)
                fld = pa.field(fld.name, want.type, nullable=want.nullable or col.null_count > 0,
                               metadata=want.metadata)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                pass  # a fill the input's type cannot hold: as pandas wrote it
        fields.append(fld)
        columns.append(col)
    meta = dict(schema.metadata or {})
    written = pandas_metadata(table.schema.pandas_metadata, schema.pandas_metadata, table.num_rows)
    if written is not None:
        meta[b"pandas"] = json.dumps(written).encode()
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=meta))


def pandas_metadata(written: dict[str, Any] | None, given: dict[str, Any] | None,
                    rows: int) -> dict[str, Any] | None:
    """pandas' metadata entry for the filled table: the filled frame's (``written``: its
    columns' dtypes, a column with holes held back Int64, which the input's entry would not
    say) with the input's (``given``) labels where the columns are the input's: its column
    labels and their axis (``column_indexes``: integer names, a columns-axis name, the levels
    of MultiIndex columns, which pandas rebuilds from it and the fields' names; the filled
    frame's columns are text, so pandas read ``[0, 1]`` back as ``['0', '1']`` and
    ``('chem', 'alcohol')`` as one string), and its row labels when they were a RangeIndex
    kept in the metadata alone (``reading.row_labels``: read as positions, written back as
    the same range, no column)."""
    if written is None or given is None:
        return written
    out = dict(written)

    def fields(meta: dict[str, Any]) -> list[Any]:
        index = set(c for c in meta.get("index_columns", []) if isinstance(c, str))
        return [c.get("field_name") for c in meta.get("columns", []) if c.get("field_name") not in index]
    if fields(written) == fields(given):
        labels = {c.get("field_name"): c.get("name") for c in given.get("columns", [])}
        out["columns"] = [{**c, "name": labels.get(c.get("field_name"), c.get("name"))}
                          for c in written.get("columns", [])]
        out["column_indexes"] = given.get("column_indexes", written.get("column_indexes", []))
    ranges = given.get("index_columns", [])
    if not written.get("index_columns") and ranges and all(
            isinstance(c, dict) and c.get("kind") == "range" for c in ranges) and len(ranges) == 1 \
            and len(range(ranges[0].get("start", 0), ranges[0].get("stop", 0), ranges[0].get("step", 1))) == rows:
        out["index_columns"] = ranges
    return out


def write_parquet(frame: pd.DataFrame, path: str, index: bool, schema: Any) -> None:
    """``frame`` to the Parquet file ``path`` (``index``: its index too), typed as ``schema``."""
    import pyarrow.parquet as pq

    from domains.tabular.reading import arrow_file

    table = _arrow_table(frame, index, schema)
    with arrow_file(path, "wb") as sink:  # by the name's bytes, as the input was read
        pq.write_table(as_input_schema(table, schema), sink)


def _arrow_problem(column: pd.Series, type: Any = None) -> str | None:
    """Why pyarrow cannot take ``column`` (as ``type``; None: as it infers), or None."""
    import pyarrow as pa

    try:
        pa.Array.from_pandas(column, type=type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        return " ".join(str(e).split())
    return None


def _arrow_table(frame: pd.DataFrame, index: bool, schema: Any) -> Any:
    """``pa.Table.from_pandas`` of ``frame``, a column pandas' inference cannot convert taken
    as the input's own type. Why: a nested column (map, list of structs) comes to pandas as
    Python lists of tuples or dicts, which inference reads as something else (a map's
    ``[('k', 0.5)]`` as text: an ArrowTypeError), so a file with such a column kept as read
    (left out of the inputs, or excluded) could not be written back. A column no type takes
    is a one-line ``DataError`` naming it and its type."""
    import pyarrow as pa

    from encoderkit.errors import DataError

    try:
        return pa.Table.from_pandas(frame, preserve_index=index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        if schema is None:
            raise
    names = list(schema.names)
    typed: dict[int, Any] = {}
    for j, name in enumerate(frame.columns):
        column = frame.iloc[:, j]
        if _arrow_problem(column) is None:
            continue
        want = schema.field(str(name)).type if names.count(str(name)) == 1 else None
        problem = "not a column of the input" if want is None else _arrow_problem(column, want)
        if problem is not None:
            raise DataError(f"column {str(name)!r} ({want or frame.dtypes.iloc[j]}) cannot be written "
                            f"to Parquet: {problem}")
        typed[j] = pa.Array.from_pandas(column, type=want)
    rest = [j for j in range(frame.shape[1]) if j not in typed]
    table = pa.Table.from_pandas(frame.iloc[:, rest], preserve_index=index)
    for j in sorted(typed):  # back at its place (the index levels, if any, come after the columns)
        table = table.add_column(j, pa.field(str(frame.columns[j]), typed[j].type), typed[j])
    return table
