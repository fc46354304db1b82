"""Reading tables, inferring the column schema, and encoding rows as cell tokens.

The schema is plain JSON (it lives in the store's attributes and in a run's
``state.json``). One entry per kept column, in the order the tokens use:

    {"name", "kind": "numeric" | "categorical", "dtype": the source pandas dtype,
     numeric:     "mean", "std" (normalisation), "edges" (quantile bin edges of the
                  normalised values, strictly increasing, >= 2 entries), "integer"
                  (all training values integral: infill rounds), "datetime",
                  "quantiles" (the ``num_bins + 1`` quantiles with ties kept, so the
                  column's marginal can be sampled), "zoned" (dates given as text only,
                  ``datetext.py``: whether their times carry a UTC offset),
     categorical: "categories" (JSON values; code 0 is the unknown category, the
                  value ``categories[i]`` has code ``i + 1``), "frequencies" (share of
                  the training cells holding ``categories[i]``)}

All statistics (mean, std, quantile edges, vocabularies) come from the training
split only (``encoderkit.data.split.validation_mask``), so validation rows never
leak into normalisation.

The work is split by job: ``options.py`` (the ingest options), ``values.py`` (a column's
cells as numbers or category values), ``kinds.py`` (numeric or categorical, identifiers),
this module (each column's schema entry), ``encoding.py`` (rows as cell arrays) and
``columnfill.py`` (fills written back into a column). Their names stay importable from here.
"""

from __future__ import annotations

import contextlib
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.errors import DataError
from encoderkit.numerics import finite_mean_std
from encoderkit.data.textforms import _formatted_numbers, _number_advice, _text_dates

from domains.tabular import reading
from domains.tabular.bigids import identifier_override
from domains.tabular.bigints import beyond_int64, big_integer_message, identifier_values, magnitude_message
from domains.tabular.datetext import date_text, mixed_offsets, zoned
from domains.tabular.numcodes import codes_message, collapsing_counts
# the parts of the schema's work that live in their own modules; importable from here as before
from domains.tabular.options import KINDS, INGEST_DEFAULTS, check_ingest_options  # noqa: F401
from domains.tabular.values import (_datetime_ns, _is_date_objects, _is_datetime, _is_timedelta,  # noqa: F401
                                    _json_value, column_numbers, missing_marks, numeric_values, row_name)
from domains.tabular.kinds import (CODE_REPEATS, CODES_MAX, IDENTIFIER_MIN, _codes, _collapsing,  # noqa: F401
                                   _infer_kind, _number_share, nested_message, nested_type)
from domains.tabular.identifiers import identifier_message, identifier_reason, near_unique, row_numbers, \
    row_numbers_message
from domains.tabular.encoding import Encoded, _standardised, as_frame, bin_index, decode_numeric, encode_frame  # noqa: F401
from domains.tabular.columnfill import _UNITS_NS, _round_to_unit, fill_column  # noqa: F401

SCHEMA_VERSION = 1


# ---------------------------------------------------------------- reading files

# the readers live in reading.py; importable from here as before (tests, encoderkit.impute)
ReadResult, TEXT_SUFFIXES, read_table = reading.ReadResult, reading.TEXT_SUFFIXES, reading.read_table


# ---------------------------------------------------------------- schema inference

def _category_counts(s: pd.Series) -> pd.Series:
    """How often each value (``_json_value``) of ``s`` occurs, most frequent first. A column of
    pandas' ``str`` dtype is counted as it is: ``_json_value`` keeps text as it is, and mapping
    it made a Python object of every cell, for the same counts in the same order."""
    present = s.dropna()
    counts = present.value_counts(sort=True) if s.dtype == "str" else \
        present.map(_json_value).value_counts(sort=True)
    # a pandas Categorical counts its unused categories too (0): no value of the column, they
    # entered the vocabulary and moved other columns' fills (remove_unused_categories' rule)
    return counts[counts > 0] if isinstance(present.dtype, pd.CategoricalDtype) else counts


def infer_schema(frame: pd.DataFrame, train: np.ndarray, *, source: str | None = None,
                 rows: np.ndarray | None = None, **options: Any) -> tuple[dict[str, Any], list[str]]:
    """Decide each column's kind and compute its statistics on the ``train`` rows.

    Returns ``(schema, messages)``; messages are human-readable warnings (dropped
    columns, unparsable cells, capped vocabularies) for the ingest report. ``source``: the
    file ``frame`` was read from, ``rows``: the file's 0-based data row of each of its rows
    (rows with no cell left out before), so that a message names a cell by its data row
    (``values.row_name``); without ``source``, by the frame's index label.
    """
    opts = check_ingest_options(options)
    messages = unknown_columns(opts, frame.columns)
    excluded = excluded_columns(opts)
    columns: list[dict[str, Any]] = []
    dropped: dict[str, str] = {}  # name -> why (said again by task.label_column)
    for j, col in enumerate(frame.columns):
        if str(col) in excluded:
            continue
        entry, said, why = column_entry(frame[col], str(col), train, opts, source=source, rows=rows,
                                        first=j == 0)
        messages += said
        if entry is None:
            dropped[str(col)] = why
        else:
            columns.append(entry)
    return finish_schema(columns, dropped, opts, frame.columns, len(frame)), messages


def excluded_columns(opts: Mapping[str, Any]) -> set[str]:
    """The columns the ingest options ``exclude`` (or give the kind ``exclude``)."""
    return set(opts["exclude"]) | {c for c, k in opts["columns"].items() if k == "exclude"}


def unknown_columns(opts: Mapping[str, Any], names: Sequence[Any]) -> list[str]:
    """A message for the columns the options name that the table does not have."""
    unknown = sorted((set(opts["columns"]) | set(opts["exclude"])) - set(map(str, names)))
    return [f"options name column(s) {unknown} that the input does not have"] if unknown else []


def finish_schema(columns: list[dict[str, Any]], dropped: dict[str, str], opts: Mapping[str, Any],
                  names: Sequence[Any], rows: int) -> dict[str, Any]:
    """The schema of the kept ``columns``; a ``DataError`` when none is kept. ``names``: the
    table's columns, ``rows`` its row count (for the message)."""
    excluded = excluded_columns(opts)
    if not columns:
        raise DataError(f"no usable column: every column is excluded or entirely missing "
                        f"(columns: {list(map(str, names))[:20]}, excluded: {sorted(excluded)}, "
                        f"{rows} row(s) with any value)")
    return {"version": SCHEMA_VERSION, "columns": columns, "num_bins": opts["num_bins"],
            "excluded": sorted(excluded), "dropped": dropped}


def entirely_missing_message(name: str) -> str:
    """What ingest says of a column with no value (``EncoderImputer`` says it in its own words:
    ``keep_empty_features`` may keep the column, and an array's columns have other names)."""
    return f"column {name!r} is entirely missing; dropped"


def column_entry(s: pd.Series, name: str, train: np.ndarray, opts: Mapping[str, Any],
                 source: str | None = None, rows: np.ndarray | None = None,
                 first: bool = False) -> tuple[dict[str, Any] | None, list[str], str]:
    """One column's schema entry (its kind and statistics on the ``train`` rows), the
    messages to give, and why it is dropped when the entry is None. ``opts``: checked
    ingest options; ``source``, ``rows``: see ``infer_schema``. Column by column, so a large
    table is read one column at a time. Text of ISO dates or period labels (``2021-01-31``,
    ``2015-01``, ``2005Q1``) is read as the dates it writes (``datetext.py``), as the file
    readers read ISO dates, unless the options make the column categories. ``first``: the
    table's first column, which may be the row numbers ``df.to_csv()`` writes (``row_numbers``:
    left out, as an identifier is, unless the options name it)."""
    messages: list[str] = []
    if s.notna().sum() == 0:
        return None, [entirely_missing_message(name)], "it is entirely missing"
    if first and name not in opts["columns"] and row_numbers(s, name):
        return None, [row_numbers_message(name, s)], "it holds row numbers"
    if (nested := nested_type(s)) is not None:  # a list / struct / map column: no value counts
        return None, [nested_message(name, nested)], f"it holds {nested}"
    dates = date_text(s) if opts["columns"].get(name) in (None, "numeric") else None
    kind = opts["columns"].get(name) or ("numeric" if dates is not None else _infer_kind(s, opts))
    big = kind == "categorical" and name not in opts["columns"] and beyond_int64(s)
    n = int(s.notna().sum())
    # one rule for text ids (identifiers.py): nearly each value once, so one repeated address
    # no longer kept a column of e-mails as categories
    ids = (n, n) if big and n >= IDENTIFIER_MIN and identifier_values(s) else \
        near_unique(s) if kind == "categorical" and name not in opts["columns"] and not big else None
    if ids is not None and (big or not _formatted_numbers(s.dropna().unique(), opts["numeric_fraction"])
                            and not _text_dates(s.dropna().unique(), opts["numeric_fraction"])):
        return None, [identifier_message(name, *ids, identifier_override(name, s if big else None))], \
            identifier_reason(*ids)
    entry: dict[str, Any] = {"name": name, "kind": kind, "dtype": str(s.dtype)}
    if kind == "numeric":
        v, msg = column_numbers(s if dates is None else dates, name, opts, source, rows)
        if msg:
            messages.append(msg)
        if name not in opts["columns"] and beyond_int64(s):  # amounts beyond int64 (bigints.py)
            messages.append(magnitude_message(name, s))
        vt = v[train & ~np.isnan(v)]
        if vt.size == 0:
            vt = v[~np.isnan(v)]  # every observed value fell in the validation split
        if vt.size == 0:
            return None, messages + [f"column {name!r} has no numeric value; dropped"], "it has no numeric value"
        mean, std = finite_mean_std(vt)  # an inf std made every fill NaN
        std = std if std > 0 else 1.0
        z = (vt - mean) / std
        quantiles = np.quantile(z, np.linspace(0.0, 1.0, opts["num_bins"] + 1))
        edges = np.unique(quantiles)
        if edges.size == 1:  # constant column: one zero-width bin
            edges = np.array([edges[0], edges[0]])
        # quantiles keep their ties (edges do not): the marginal SCARF-style views draw from
        entry.update(mean=mean, std=std, edges=[float(e) for e in edges],
                     quantiles=[float(q) for q in quantiles],
                     integer=bool(np.all(np.mod(vt, 1.0) == 0.0)), datetime=_is_datetime(s) or dates is not None)
        if dates is not None:  # whether its times carry a UTC offset (a dtype of text cannot say)
            entry["zoned"] = zoned(s)
        seen = v[np.isfinite(v)]
        if seen.size:  # over every row, validation ones too: the bounds of plausible fills (plausible.py)
            entry.update(low=float(seen.min()), high=float(seen.max()))
        return entry, messages, ""
    st = s[train] if train.any() else s
    counts = _category_counts(st)
    if counts.empty:
        counts = _category_counts(s)
    # a column the user made categories (a pandas category, columns={c: categorical})
    # is no number written oddly: no advice to convert it
    chosen = isinstance(s.dtype, pd.CategoricalDtype) or name in opts["columns"]
    if big:
        messages.append(big_integer_message(name, s))
    elif not chosen and (pair := collapsing_counts(counts.to_dict())) is not None:
        messages.append(codes_message(name, pair))
    elif not chosen and _formatted_numbers(counts.index, opts["numeric_fraction"]):
        example, advice = _number_advice(counts.index)
        messages.append(f"column {name!r} holds numbers written with separators, signs, units "
                        f"or percent signs (such as {example!r}); read as categories, so fills "
                        f"are values seen in it: to have it treated as a number, {advice}")
    elif not chosen and (pair := mixed_offsets(s)) is not None:
        (a, first), (b, other) = pair  # row positions: data row 1 is a CSV's line 2
        messages.append(f"column {name!r} holds ISO times, some with a UTC offset and some "
                        f"without: data row {b + 1} holds {other!r}, data row {a + 1} {first!r}; read as "
                        f"categories, so fills are times seen in it; give every time with its offset "
                        f"(or none) to have them read and filled as dates")
    elif not chosen and isinstance(s.dtype, pd.PeriodDtype):  # no text: its values are Periods
        messages.append(f"column {name!r} holds periods ({s.dtype}); read as categories, so fills "
                        f"are periods seen in it: to have them read and filled as dates, give "
                        f"the column as timestamps (.dt.to_timestamp(); .dt.to_period("
                        f"{s.dtype.freq.freqstr!r}) turns the filled column back)")
    elif not chosen and _text_dates(counts.index, opts["numeric_fraction"]):
        messages.append(f"column {name!r} holds dates written as text (such as "
                        f"{str(counts.index[0])!r}); read as categories, so fills are dates "
                        f"seen in it: write them as ISO dates (2020-12-31, 2020-12-31 09:30 "
                        f"with a time; in Python, datetime values) to have them read and "
                        f"filled as dates")
    if len(counts) > opts["max_categories"]:
        messages.append(f"column {name!r}: {len(counts)} categories, keeping the "
                        f"{opts['max_categories']} most frequent (others read as unknown)")
        counts = counts.iloc[: opts["max_categories"]]
    cats = list(counts.index)
    with contextlib.suppress(TypeError):  # stable, human-friendly order when the values compare
        cats = sorted(cats)
    count_of, total = dict(counts.items()), float(counts.sum())
    entry.update(categories=cats, frequencies=[float(count_of[c]) / total for c in cats])
    return entry, messages, ""
