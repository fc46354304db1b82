"""Dataframes of other libraries read as pandas, once, where user data enters the Python API.

``as_pandas_frame(x)`` turns every table with column names that is not a pandas DataFrame
(a polars DataFrame, a pyarrow ``Table`` or ``RecordBatch``, anything exporting the Arrow
C stream ``__arrow_c_stream__`` or the dataframe interchange protocol ``__dataframe__``)
into the pandas DataFrame the domains read, so that it takes the same path as pandas: its
column names checked, its columns' kinds those of the same table given as pandas. Before,
``EncoderImputer`` read a polars frame as a bare array (columns by position, every column
numeric: a small-integer column that pandas reads as categories filled as numbers), and
the loaded-run entry points refused one as "a pandas DataFrame ... got DataFrame".

The Arrow -> pandas rule is the one the readers of Parquet follow (``domains/tabular/
reading.py``): dictionary columns read as their values (text dictionaries as categories,
``encoderkit/data/arrow_frames.py``), integer columns with missing cells as pandas' nullable
integers (Arrow's default float64 would read ``473`` as ``473.0`` and the column as floats).
Results come back as pandas (``EncoderImputer.set_output(transform="polars")`` for polars).

``masked_as_missing``: a numpy masked array's masked cells as missing ones, the one rule of
every entry point that fills (``EncoderImputer``, series and set infill): ``np.asarray``
dropped the mask, and the values under it were read as observed.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd


def type_name(x: Any) -> str:
    """``x``'s type as a user imports it (``polars.DataFrame``, ``pyarrow.Table``): the bare
    ``DataFrame`` of a message named no library."""
    kind = type(x)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def as_pandas_frame(x: Any) -> pd.DataFrame | None:
    """``x`` as a pandas DataFrame when it is a table with column names (``x`` itself for a
    pandas DataFrame, never a copy); None for anything else (an array, a list, a Series,
    an Arrow array: one column is no table)."""
    if isinstance(x, pd.DataFrame):
        return x
    if isinstance(x, (str, bytes, pd.Series, np.ndarray)) or \
            not (hasattr(x, "__arrow_c_stream__") or hasattr(x, "__dataframe__")):
        return None
    import pyarrow as pa

    if isinstance(x, pa.RecordBatch):
        return arrow_to_frame(pa.Table.from_batches([x]))
    if isinstance(x, pa.Table):
        return arrow_to_frame(x)
    if hasattr(x, "__arrow_c_stream__"):
        table = _arrow_table(x)
        if table is not None:
            return arrow_to_frame(table)
    if hasattr(x, "__dataframe__"):  # the older interchange protocol (pyarrow reads it too)
        import pyarrow.interchange as pai

        try:
            table = pai.from_dataframe(x)
        except (TypeError, ValueError, NotImplementedError, pa.ArrowException) as e:
            raise TypeError(f"{type_name(x)} could not be read as a table through the dataframe "
                            f"interchange protocol ({e}); pass it as a pandas DataFrame") from None
        return arrow_to_frame(table)
    return None


def _arrow_table(x: Any) -> Any:
    """The Arrow table ``x``'s C stream describes, or None when the stream is not one of
    rows with named columns (a polars Series, an Arrow chunked array: one typed column)."""
    import pyarrow as pa

    try:
        return pa.table(x)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None


def arrow_to_frame(table: Any) -> pd.DataFrame:
    """An Arrow table as pandas, as the Parquet readers read one (module docstring)."""
    import pyarrow as pa

    from encoderkit.data.arrow_frames import decode_dictionaries

    table = decode_dictionaries(_plain_text_dictionaries(table))
    frame = table.to_pandas()
    if frame.shape[1] != table.num_columns:  # index columns restored from pandas' metadata
        names = set(map(str, frame.columns))
        fields = [i for i, f in enumerate(table.schema) if f.name in names]
    else:
        fields = list(range(table.num_columns))
    for j, i in enumerate(fields[:frame.shape[1]]):
        fld = table.schema.field(i)
        if pa.types.is_integer(fld.type) and table.column(i).null_count and frame.dtypes.iloc[j] == "float64":
            dtype = pd.api.types.pandas_dtype(str(fld.type).replace("int", "Int").replace("uInt", "UInt"))
            frame.isetitem(j, table.column(i).to_pandas(types_mapper={fld.type: dtype}.get))
    return frame


def _plain_text_dictionaries(table: Any) -> Any:
    """``table`` with dictionaries of ``string_view`` (polars' categoricals) as dictionaries
    of ``large_string``: read as categories, as a pandas ``category`` column, where
    ``decode_dictionaries`` would decode a dictionary of a text type it does not know to text."""
    import pyarrow as pa

    changed = False
    columns = []
    for fld, col in zip(table.schema, table.columns):
        if pa.types.is_dictionary(fld.type) and pa.types.is_string_view(fld.type.value_type):
            col = col.cast(pa.dictionary(fld.type.index_type, pa.large_string()))
            changed = True
        columns.append(col)
    if not changed:
        return table
    return pa.Table.from_arrays(columns, names=table.column_names, metadata=table.schema.metadata)


def masked_as_missing(X: np.ma.MaskedArray) -> np.ndarray:
    """A masked array's values with every masked cell missing: NaN in a copy of its own float
    dtype (float64 for integers and booleans), or in an object copy (text, objects)."""
    data = np.ma.getdata(X)
    mask = np.ma.getmaskarray(X)
    if not mask.any():
        return np.array(data)
    kind = data.dtype.kind
    out = data.astype(data.dtype if kind in "fc" else np.float64 if kind in "biu" else object)
    out[mask] = np.nan
    return out


def as_user_data(x: Any) -> Any:
    """User data in memory as the domains read it: another library's table as pandas
    (``as_pandas_frame``); a masked array, or one inside a list / tuple / dict (a list of
    series, a set's ``features``; two levels deep), with its masked cells missing
    (``masked_as_missing``). Anything else, and any container holding no masked array,
    is ``x`` itself (no copy)."""
    frame = as_pandas_frame(x)
    return frame if frame is not None else _unmasked(x, depth=2)


def _unmasked(x: Any, depth: int) -> Any:
    if isinstance(x, np.ma.MaskedArray):
        return masked_as_missing(x)
    if depth == 0:
        return x
    if isinstance(x, Mapping):
        items = {k: _unmasked(v, depth - 1) for k, v in x.items()}
        return x if all(items[k] is v for k, v in x.items()) else type(x)(items) if type(x) is dict else items
    if isinstance(x, (list, tuple)):
        items = [_unmasked(v, depth - 1) for v in x]
        return x if all(a is b for a, b in zip(items, x)) else type(x)(items) if type(x) in (list, tuple) else items
    return x
