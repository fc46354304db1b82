"""An Arrow table (a Parquet file's) as a DataFrame, dictionary-encoded columns read as their
values (``arrow_to_pandas``), for every reader of Parquet: tables, series, label files.

Parquet stores a pandas ``category`` column, and any column a writer chose to
dictionary-encode (``pd.ArrowDtype(pa.dictionary(...))``, Spark / polars categoricals), as
``dictionary<values=..., indices=int8|int16|int32>``. pyarrow then rebuilt the dtype that
pandas' metadata names; for ``dictionary<values=string, indices=int32, ordered=0>[pyarrow]``
pandas cannot parse that name, and the read failed in pyarrow's words ("data type ... not
understood", a traceback). Here:

- a dictionary of text (string, large_string) stays a dictionary: pandas reads it as a
  ``category`` column, its categories the dictionary's values;
- a dictionary of numbers, booleans, dates or times is decoded to its value type: the
  column is read as the numbers it holds (a numeric ``category`` would be read as
  categories, with no order between 1.5 and 7.0);
- a dtype in pandas' metadata that pandas cannot rebuild is left to Arrow's type (the
  column's other metadata, such as the index, still applies);
- a float NaN in a floating-point column is a missing cell (``nan_as_null``), as it is in a
  file read to numpy float64: a column pandas wrote with the pyarrow backend
  (``double[pyarrow]``) kept NaN as a value there, and ingest refused it as "not numbers
  (such as [nan])" where the same values written by pyarrow alone were read as missing.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def _text(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def nan_as_null(table: Any) -> Any:
    """``table`` with the NaN cells of each floating-point column as nulls (the column's type
    kept); ``table`` itself where there is none. A NaN is what numpy, pandas' default backend
    and scikit-learn's imputers call a missing value; pandas' pyarrow backend (and polars)
    keep it as a value, which no model can read."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns, fields, changed = [], [], False
    for fld, col in zip(table.schema, table.columns):
        if pa.types.is_floating(fld.type) and len(col) and pc.any(pc.is_nan(col)).as_py():
            col = pc.if_else(pc.is_nan(col), pa.scalar(None, fld.type), col)
            fld = fld.with_nullable(True)
            changed = True
        columns.append(col)
        fields.append(fld)
    if not changed:
        return table
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def decode_dictionaries(table: Any) -> Any:
    """``table`` with each dictionary column of non-text values decoded to its value type
    (text dictionaries kept: categories), its floats' NaN cells as nulls (``nan_as_null``),
    and pandas' metadata freed of dtypes pandas cannot parse; ``table`` itself where there
    is nothing to change. Every reader of Parquet / Arrow tables goes through it."""
    import pyarrow as pa

    table = nan_as_null(table)
    columns, fields, changed = [], [], False
    for i, fld in enumerate(table.schema):
        col = table.column(i)
        if pa.types.is_dictionary(fld.type) and not _text(fld.type.value_type):
            col = col.cast(fld.type.value_type)
            fld = pa.field(fld.name, fld.type.value_type, fld.nullable, fld.metadata)
            changed = True
        columns.append(col)
        fields.append(fld)
    metadata = dict(table.schema.metadata or {})
    pandas_meta = metadata.get(b"pandas")
    if pandas_meta is not None:
        meta = json.loads(pandas_meta)
        for entry in meta.get("columns", []):
            if not _parsable(entry.get("numpy_type")):
                entry["numpy_type"] = "object"  # Arrow's own type decides (a text dictionary: category)
                changed = True
        metadata[b"pandas"] = json.dumps(meta).encode()
    if not changed:
        return table
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=metadata))


def _parsable(dtype: Any) -> bool:
    """Whether pandas rebuilds the dtype named ``dtype`` (``pandas_dtype``); an ArrowDtype
    of a dictionary (``dictionary<values=string, ...>[pyarrow]``) it cannot."""
    if not isinstance(dtype, str):
        return True
    try:
        pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError, NotImplementedError):
        return False
    return True


def arrow_to_pandas(table: Any, **options: Any) -> pd.DataFrame:
    """``table.to_pandas(**options)`` after ``decode_dictionaries``."""
    return decode_dictionaries(table).to_pandas(**options)
