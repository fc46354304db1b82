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

What a notebook holds besides (session 54): a table whose export raises (a RuntimeError of
its ``__dataframe__``, an Arrow error of its ``to_pandas``) is a ``DataError`` naming its type
and what failed, not the library's traceback; a lazy frame (polars' ``LazyFrame``) is refused
with "call .collect() first", never collected here (its query may be unbounded); a torch
tensor is read as the numpy array it holds (``tensor_as_array``: detached, moved to the CPU);
a list of row dicts (``df.to_dict("records")``) is the table pandas makes of it
(``rows_as_frame``), for the domains whose lists hold no dicts of their own.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from encoderkit.errors import DataError

# what the refusals of a table that cannot be read advise instead
PASS_INSTEAD = "pass a pandas DataFrame (or a numpy array) instead"


def type_name(x: Any) -> str:
    """``x``'s type as a user imports it (``polars.DataFrame``, ``pyarrow.Table``): the bare
    ``DataFrame`` of a message named no library."""
    kind = type(x)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def as_pandas_frame(x: Any) -> pd.DataFrame | None:
    """``x`` as a pandas DataFrame when it is a table with column names (``x`` itself for a
    pandas DataFrame, never a copy); None for anything else (an array, a list, a Series,
    an Arrow array: one column is no table). A lazy frame, and a table whose conversion
    fails, are a ``DataError`` saying what to pass instead."""
    if isinstance(x, pd.DataFrame):
        return x
    lazy = lazy_frame_problem(x)
    if lazy is not None:
        raise DataError(lazy)
    if isinstance(x, (str, bytes, pd.Series, np.ndarray)) or \
            not (_has(x, "__arrow_c_stream__") or _has(x, "__dataframe__")):
        return None
    import pyarrow as pa

    if isinstance(x, pa.RecordBatch):
        return _converted(x, "its conversion to pandas", lambda: arrow_to_frame(pa.Table.from_batches([x])))
    if isinstance(x, pa.Table):
        return _converted(x, "its conversion to pandas", lambda: arrow_to_frame(x))
    if _has(x, "__arrow_c_stream__"):
        table = _converted(x, "its Arrow C stream (__arrow_c_stream__)", lambda: _arrow_table(x))
        if table is not None:
            return _converted(x, "its conversion to pandas", lambda: arrow_to_frame(table))
    if _has(x, "__dataframe__"):  # the older interchange protocol (pyarrow reads it too)
        import pyarrow.interchange as pai

        table = _converted(x, "the dataframe interchange protocol (__dataframe__)",
                           lambda: pai.from_dataframe(x))
        return _converted(x, "its conversion to pandas", lambda: arrow_to_frame(table))
    return None


def _has(x: Any, name: str) -> bool:
    """``hasattr``, where a property that raises something other than AttributeError (a
    library's lazy import failing) says no rather than passing its error on."""
    try:
        return hasattr(x, name)
    except Exception:  # any error of a foreign property: no such export
        return False


def _converted(x: Any, step: str, convert: Callable[[], Any]) -> Any:
    """``convert()``; whatever it raises (the other library's RuntimeError, an Arrow or pandas
    error, a TypeError) as one line naming ``x``'s type, the ``step`` that failed and what to
    pass instead. ``DataError``s (a lazy frame found inside) pass as they are."""
    try:
        return convert()
    except DataError:
        raise
    except Exception as e:  # a foreign library's error of any kind, said as ours
        said = " ".join(str(e).split()) or "no message"
        raise DataError(f"{type_name(x)} could not be read as a table: {step} failed with "
                        f"{type(e).__name__}: {said}; {PASS_INSTEAD}") from e


def lazy_frame_problem(x: Any) -> str | None:
    """Why ``x`` is refused when it is a lazy frame (a query that ``.collect()`` runs: polars'
    ``LazyFrame``, narwhals' ``LazyFrame``), else None. It is never collected here: the result
    of a scan may be larger than memory, and the user decides when (and with what engine) it
    runs. A lazy frame exports no table (no ``__arrow_c_stream__``), so it fell through to
    pandas' and scikit-learn's words ("Expected 2D array, got scalar array")."""
    kind = type(x)
    if "lazy" not in kind.__name__.lower() or not callable(getattr(x, "collect", None)):
        return None
    return (f"{type_name(x)} is a lazy query, not a table: call .collect() on it first and pass "
            f"the DataFrame it returns (encoderkit does not run the query: its result may be "
            f"unbounded)")


def tensor_as_array(x: Any) -> Any:
    """A torch tensor as the numpy array it holds (detached from autograd, moved to the CPU; a
    sparse tensor made dense, bfloat16, which numpy lacks, as float32), shared with the tensor
    where it already is one on the CPU; anything else is ``x`` itself. torch is looked up in
    ``sys.modules``: a tensor exists only where torch was imported."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(x, torch.Tensor):
        return x
    t = x.detach()
    try:
        if t.layout != torch.strided:
            t = t.to_dense()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.resolve_conj().resolve_neg().numpy()
    except (RuntimeError, TypeError, ValueError) as e:  # a meta tensor, a quantized one, ...
        raise DataError(f"torch.Tensor of dtype {str(x.dtype).replace('torch.', '')} on {x.device} "
                        f"could not be read as a numpy array ({' '.join(str(e).split())}); pass a "
                        f"numpy array instead") from None


def holds_rows(x: Any) -> bool:
    """Whether ``x`` is a list (or tuple) of row dicts, ``{column: value}`` with one value per
    cell (``df.to_dict("records")``, JSON records): what pandas reads as a table. A domain's
    stored records hold per-token arrays, so they are never rows; neither is a dict holding
    an array, a list or a dict (a set's ``{"coords": ..., "features": ...}``)."""
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(map(_is_row, x))


def holds_a_row(x: Any) -> bool:
    """Whether some item of the list (or tuple) ``x`` is a row dict (every value one cell).
    A domain's stored records hold per-token arrays, so a list holding one is user data
    (rows, one of them perhaps bad), never a list of stored records."""
    return isinstance(x, (list, tuple)) and any(map(_is_row, x))


def _is_row(r: Any) -> bool:
    """A dict of one value a key (a cell each: a number, a text, None, a date)."""
    # a 0-d numpy array (np.array(3.0), what indexing some arrays gives) is one cell too
    return isinstance(r, Mapping) and all(pd.api.types.is_scalar(v) or (isinstance(v, np.ndarray) and v.ndim == 0)
                                          for v in r.values())


def rows_as_frame(x: Any) -> pd.DataFrame | None:
    """A list of row dicts (``holds_rows``) as the table ``pandas.DataFrame(rows)`` makes of
    it (keys as columns in order of first appearance, a key a row lacks a missing cell); None
    for anything else."""
    if not holds_rows(x):
        return None
    return pd.DataFrame([{k: v.item() if isinstance(v, np.ndarray) else v for k, v in r.items()} for r in x])


def _arrow_table(x: Any) -> Any:
    """The Arrow table ``x``'s C stream describes, or None when the stream is not one of
    rows with named columns (a polars Series, an Arrow chunked array: one typed column)."""
    import pyarrow as pa

    try:
        return pa.table(x)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None  # any other error of the export: said by ``_converted``


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


def as_user_data(x: Any, rows: bool = False) -> Any:
    """User data in memory as the domains read it: another library's table as pandas
    (``as_pandas_frame``); a torch tensor as numpy (``tensor_as_array``); a masked array, or a
    tensor or masked array inside a list / tuple / dict (a list of series, a set's
    ``features``; two levels deep), as a plain array with its masked cells missing
    (``masked_as_missing``). ``rows``: a list of row dicts as a table (``rows_as_frame``), for a
    domain whose lists hold no dicts of their own. Anything else, and any container holding no
    masked array or tensor, is ``x`` itself (no copy)."""
    x = tensor_as_array(x)
    frame = as_pandas_frame(x)
    if frame is None and rows:
        frame = rows_as_frame(x)
    return frame if frame is not None else _plain(x, depth=2)


def _plain(x: Any, depth: int) -> Any:
    if isinstance(x, np.ma.MaskedArray):
        return masked_as_missing(x)
    x = tensor_as_array(x)
    if depth == 0:
        return x
    if isinstance(x, Mapping):
        items = {k: _plain(v, depth - 1) for k, v in x.items()}
        return x if all(items[k] is v for k, v in x.items()) else type(x)(items) if type(x) is dict else items
    if isinstance(x, (list, tuple)):
        items = [_plain(v, depth - 1) for v in x]
        return x if all(a is b for a, b in zip(items, x)) else type(x)(items) if type(x) in (list, tuple) else items
    return x
