"""Table rows as cell arrays (``encode_frame``: category codes, standardised numbers, what
is observed) under a schema, and normalised values back to a column's units."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError, UnknownValueWarning
from encoderkit.numerics import F32_MAX, held_in_dtype

from domains.tabular.cells import CategoryCodes
from domains.tabular.datetext import text_dates, zone_message
from domains.tabular.options import INGEST_DEFAULTS
from domains.tabular.values import _json_value, column_numbers

@dataclass
class Encoded:
    """Rows of a frame as cell arrays, [N, C] each, in schema column order."""

    cat: np.ndarray  # int64 category code (0 = unknown; 0 for numeric columns)
    num: np.ndarray  # float32 normalised value (0 where missing / categorical)
    observed: np.ndarray  # bool
    present: np.ndarray  # bool [C]: the column exists in the frame


def encode_frame(frame: pd.DataFrame, schema: Mapping[str, Any], source: str | None = None,
                 report_text: bool = True, quiet: Collection[str] = ()) -> Encoded:
    """Encode by column NAME, so column order in ``frame`` never matters; a schema
    column absent from the frame is all missing; a category cell is matched in whatever form
    it comes (``cells.CategoryCodes``: ``'6'`` is the category 6), and one the schema does not
    know is code 0, with a warning per column (``report_text``).

    Numeric cells follow ``column_numbers`` under the schema's ingest options (a warning for
    a few cells that are not numbers, an error for a column of them; ``report_text`` False:
    the caller said it already, as ingest's ``infer_schema`` does); a value that float32
    cannot hold once standardised is an error. ``source``: the file, for the messages;
    ``quiet``: columns that are no input of the model reading the frame (a fine-tuned run's
    label column, ``drop_columns``), whose unknown categories are not said: they move nothing."""
    opts = {**INGEST_DEFAULTS, **(schema.get("ingest_options") or {})}
    cols = schema["columns"]
    n, c = len(frame), len(cols)
    cat = np.zeros((n, c), dtype=np.int64)
    num = np.zeros((n, c), dtype=np.float32)
    observed = np.zeros((n, c), dtype=bool)
    present = np.zeros(c, dtype=bool)
    names, twice = _column_names(frame)
    twice = [k for k in twice if k in {str(col["name"]) for col in cols}]
    if twice:  # frame[name] would be a frame of both (an AttributeError far from the cause)
        raise DataError(f"column {twice[0]!r} appears more than once in the header; columns "
                        f"need distinct names", file=source)
    for j, col in enumerate(cols):
        if col["name"] not in names:
            continue
        present[j] = True
        s = frame[names[col["name"]]]
        if col["kind"] == "numeric":
            dates = text_dates(s) if col.get("datetime") else None  # ISO dates as text (datetext.py)
            zone = zone_message(col, s) if col.get("datetime") and report_text else None
            if zone:  # times with a UTC offset given to a model trained without, or the reverse
                warnings.warn(f"{source}: {zone}" if source else zone, stacklevel=2)
            v = _plain_numbers(s) if dates is None and not col.get("datetime") else None
            msg = None
            if v is None:
                v, msg = column_numbers(s if dates is None else dates, col["name"], opts, source)
            if msg and report_text:
                warnings.warn(msg, stacklevel=2)
            ok = ~np.isnan(v)
            num[ok, j] = _standardised(v, ok, col, source)
            observed[:, j] = ok
        else:
            codes = CategoryCodes(col["categories"])  # '6' and 6.0 are the category 6
            cells = s.to_numpy(dtype=object)
            ok = _given(s, cells)
            values = [_json_value(v) for v in cells[ok]]
            cat[ok, j] = codes.codes(values)
            observed[:, j] = ok
            if report_text and col["name"] not in quiet and (cat[ok, j] == 0).any():  # they move predictions
                where = f"{source}: " if source else ""
                # stacklevel 1: one place, so that the same words from two readers of one table
                # (EncoderImputer.transform's encoder and its classical imputers) show once
                warnings.warn(where + codes.unknown_message(col["name"], values, cat[ok, j]), UnknownValueWarning,
                              stacklevel=1)
    return Encoded(cat, num, observed, present)


# What follows spares a small frame (``load(run).embed`` of one row) pandas' fixed costs per
# column, each giving what the general call gives: the names through ``Index.map`` took 0.3 ms
# of a 10-column row, ``column_numbers`` 0.1 ms a column.


def _column_names(frame: pd.DataFrame) -> tuple[dict[str, Any], list[str]]:
    """The frame's columns by name (``str`` of their labels; of two alike, the last), and the
    names of the second and later columns of a name already seen, in column order."""
    names: dict[str, Any] = {}
    twice: list[str] = []
    for k in frame.columns:
        name = str(k)
        if name in names:
            twice.append(name)
        names[name] = k
    return names, twice


def _plain_numbers(s: pd.Series) -> np.ndarray | None:
    """A column of numpy ints or floats as ``column_numbers`` reads it (float64; NaN where
    missing; no cell of it is text, so there is nothing to say), or None for any other column
    and for one holding an infinite value (``column_numbers`` says which)."""
    if not isinstance(s.dtype, np.dtype) or s.dtype.kind not in "iuf":
        return None
    v = s.to_numpy(dtype=np.float64)
    if np.isinf(v).any():
        return None
    return v


def _given(s: pd.Series, cells: np.ndarray) -> np.ndarray:
    """``s.notna()`` as numpy; ``cells``: ``s.to_numpy(dtype=object)``. For a column of a numpy
    dtype or of text that is ``pd.notna`` of those cells (the test pandas runs on a numpy
    column's values, and a text column's holes are None / NaN / NA cells), without a Series.
    Other extension columns keep their own test (an Arrow float NaN is a value, not a hole)."""
    if isinstance(s.dtype, (np.dtype, pd.StringDtype)):
        return pd.notna(cells)
    return s.notna().to_numpy()


def _standardised(v: np.ndarray, ok: np.ndarray, col: Mapping[str, Any], source: str | None) -> np.ndarray:
    """``v[ok]`` standardised with the column's training statistics, as the float32 the store
    and the model hold. A value that float32 cannot hold then (1e300 in a column trained on
    values near 1; a validation row at ingest) is refused, as the series and set readers
    refuse a value beyond float32: it became inf with numpy's "overflow encountered in cast"."""
    with np.errstate(over="ignore"):
        z = (v[ok] - col["mean"]) / col["std"]
    far = ~(np.abs(z) <= F32_MAX)
    if far.any():
        i = int(np.flatnonzero(ok)[np.flatnonzero(far)[0]])
        raise DataError(f"column {col['name']!r}: {int(far.sum())} value(s) too large for float32, the "
                        f"model's number type, once standardised by the training mean "
                        f"{col['mean']:.3g} and standard deviation {col['std']:.3g} (first at "
                        f"{f'data row {i + 1}' if source else f'row {i}'}: "
                        f"{v[i]:.3g}); rescale the column as it was in training, or make them empty "
                        f"(missing)", file=source)
    return z.astype(np.float32)


class BinEdges:
    """A numeric column's quantile edges prepared once (when the schema is read) for
    ``bin_index``, which runs per masked example in the training loader: converting the
    schema's list and clipping on every call cost 4x the search itself.

    For sorted edges (as ``infer_schema`` writes them: ``np.unique``) the bin is the count of
    inner edges ``edges[1:-1]`` at or below the value: one search, no clip, and the same
    answer as clipping ``searchsorted(edges) - 1`` to ``[0, len - 2]`` (below the first edge:
    0; at or past the last, +inf and NaN: the top bin). Edges that are not sorted (an edited
    schema) keep that search-and-clip."""

    __slots__ = ("edges", "inner", "top")

    def __init__(self, edges: Sequence[float]) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.top = max(self.edges.size - 2, 0)
        ordered = bool(np.all(self.edges[1:] >= self.edges[:-1]))  # False with a NaN edge
        self.inner = self.edges[1:-1].copy() if ordered else None

    def index(self, z: np.ndarray) -> np.ndarray:
        if self.inner is not None:
            return np.searchsorted(self.inner, z, side="right")
        return _clipped_search(self.edges, z)


def _clipped_search(e: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(e, z, side="right") - 1, 0, max(e.size - 2, 0))


def bin_index(z: np.ndarray, edges: Sequence[float] | BinEdges) -> np.ndarray:
    """Quantile bin of normalised values: bin k covers [edges[k], edges[k+1]); values below
    the first edge are bin 0, values at or past the last (and NaN) the top bin. ``edges``:
    a column's list, or its ``BinEdges`` prepared once (the loader's hot path)."""
    if isinstance(edges, BinEdges):
        return edges.index(z)
    return _clipped_search(np.asarray(edges, dtype=np.float64), z)


def decode_numeric(z: np.ndarray, col: Mapping[str, Any]) -> np.ndarray:
    """Normalised values -> the column's units (float64; integral columns rounded). A value
    beyond float64 (an extrapolation of a column near 1e308: inf, with numpy's overflow
    warning in the user's output) is held at float64's largest finite one."""
    with np.errstate(over="ignore"):
        x = held_in_dtype(np.asarray(z, dtype=np.float64) * col["std"] + col["mean"], np.float64)
    if col.get("integer") or col.get("datetime"):
        x = np.round(x)
    return x


def as_frame(data: Any) -> pd.DataFrame:
    """``data`` as the DataFrame infill, embed and predict read: a table with column names
    of any library (polars, pyarrow: ``encoderkit.frames.as_pandas_frame``, read as in
    pandas), a list of row dicts (``{column: value}``, as ``pd.DataFrame(rows)`` reads it: a
    key a row lacks is a missing cell), or a 2-D numpy array or torch tensor (columns
    ``c0, c1, ...``; a masked array's masked cells missing)."""
    from encoderkit.frames import as_pandas_frame, masked_as_missing, rows_as_frame, tensor_as_array

    data = tensor_as_array(data)
    frame = as_pandas_frame(data)
    if frame is None:
        frame = rows_as_frame(data)
    if frame is not None:
        return frame
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValueError(f"tabular data as a numpy array must be 2-D [rows, columns]; got shape {data.shape}")
        if isinstance(data, np.ma.MaskedArray):
            data = masked_as_missing(data)
        return pd.DataFrame(data, columns=[f"c{i}" for i in range(data.shape[1])])
    raise TypeError(not_a_table(data))


def not_a_table(data: Any) -> str:
    """Why ``data`` is no table the tabular domain reads (``as_frame``; ``featurize`` of a
    row dict given as a stored record). A list of dicts is named by the first cell that holds
    more than one value (rows as dicts need one value a cell)."""
    from encoderkit.frames import type_name

    rows = ""
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
        cell = next(((i, k, v) for i, r in enumerate(data) for k, v in r.items()
                     if not pd.api.types.is_scalar(v)), None)
        # rows all: a row met where a stored record was expected (``featurize``)
        rows = " (a row dict where a stored record was expected: pass rows as a list or a DataFrame)" \
            if cell is None else (
            f" of row dicts whose row {cell[0]}, key {str(cell[1])!r} holds a {type_name(cell[2])}, "
            f"not one value (rows as dicts need one value a cell)")
    return (f"tabular data must be a DataFrame (pandas, polars, pyarrow), a list of row dicts "
            f"or a 2-D numpy array; got {type_name(data)}{rows}")
