"""Table rows as cell arrays (``encode_frame``: category codes, standardised numbers, what
is observed) under a schema, and normalised values back to a column's units."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError, UnknownValueWarning
from encoderkit.numerics import F32_MAX

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
    names = {str(k): k for k in frame.columns}
    twice = [str(k) for k in frame.columns[frame.columns.map(str).duplicated()]]
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
            v, msg = column_numbers(s if dates is None else dates, col["name"], opts, source)
            if msg and report_text:
                warnings.warn(msg, stacklevel=2)
            ok = ~np.isnan(v)
            num[ok, j] = _standardised(v, ok, col, source)
            observed[:, j] = ok
        else:
            codes = CategoryCodes(col["categories"])  # '6' and 6.0 are the category 6
            ok = s.notna().to_numpy()
            values = [_json_value(v) for v in s.to_numpy(dtype=object)[ok]]
            cat[ok, j] = codes.codes(values)
            observed[:, j] = ok
            if report_text and col["name"] not in quiet and (cat[ok, j] == 0).any():  # they move predictions
                where = f"{source}: " if source else ""
                # stacklevel 1: one place, so that the same words from two readers of one table
                # (EncoderImputer.transform's encoder and its classical imputers) show once
                warnings.warn(where + codes.unknown_message(col["name"], values, cat[ok, j]), UnknownValueWarning,
                              stacklevel=1)
    return Encoded(cat, num, observed, present)


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


def bin_index(z: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Quantile bin of normalised values: bin k covers [edges[k], edges[k+1])."""
    e = np.asarray(edges, dtype=np.float64)
    return np.clip(np.searchsorted(e, z, side="right") - 1, 0, max(e.size - 2, 0))


def decode_numeric(z: np.ndarray, col: Mapping[str, Any]) -> np.ndarray:
    """Normalised values -> the column's units (float64; integral columns rounded)."""
    x = np.asarray(z, dtype=np.float64) * col["std"] + col["mean"]
    if col.get("integer") or col.get("datetime"):
        x = np.round(x)
    return x


def as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValueError(f"tabular data as a numpy array must be 2-D [rows, columns]; got shape {data.shape}")
        return pd.DataFrame(data, columns=[f"c{i}" for i in range(data.shape[1])])
    raise TypeError(f"tabular data must be a pandas DataFrame or a 2-D numpy array; got {type(data).__name__}")
