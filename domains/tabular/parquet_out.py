"""A filled table written back as Parquet with the input file's own Arrow schema.

Why: pandas' round trip changes a Parquet file's types where the filled values would fit the
originals: ``decimal128(10, 2)`` came back ``double``, ``string`` ``large_string``, a
dictionary's int32 indices int8, and the file's own schema metadata (``b'source'``) was
replaced by pandas'. Each column is cast back to the input's type where that cast is exact
(pyarrow's safe cast: no value lost), else kept as pandas wrote it; the input's metadata is
kept, with pandas' own entry describing the frame as written.
"""

from __future__ import annotations

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
    # the input's metadata; pandas' own entry as the filled frame is (its dtypes: a column
    # with holes held back is Int64, which the input's entry would not say)
    meta = {**(schema.metadata or {}), **{k: v for k, v in (table.schema.metadata or {}).items() if k == b"pandas"}}
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=meta))


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
