"""Reading tables, inferring the column schema, and encoding rows as cell tokens.

The schema is plain JSON (it lives in the store's attributes and in a run's
``state.json``). One entry per kept column, in the order the tokens use:

    {"name", "kind": "numeric" | "categorical", "dtype": the source pandas dtype,
     numeric:     "mean", "std" (normalisation), "edges" (quantile bin edges of the
                  normalised values, strictly increasing, >= 2 entries), "integer"
                  (all training values integral: infill rounds), "datetime",
                  "quantiles" (the ``num_bins + 1`` quantiles with ties kept, so the
                  column's marginal can be sampled),
     categorical: "categories" (JSON values; code 0 is the unknown category, the
                  value ``categories[i]`` has code ``i + 1``), "frequencies" (share of
                  the training cells holding ``categories[i]``)}

All statistics (mean, std, quantile edges, vocabularies) come from the training
split only (``encoderkit.data.split.validation_mask``), so validation rows never
leak into normalisation.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.session_state import warnings_kept
from encoderkit.data.textfiles import DECIMALS
from encoderkit.errors import DataError, UnknownValueWarning
from encoderkit.numerics import F32_MAX, finite_mean_std

from domains.tabular import reading
from domains.tabular.bigints import (beyond_int64, big_integer_message, identifier_values, magnitude_message,
                                     magnitudes)
from domains.tabular.cells import CategoryCodes, like_observed
from domains.tabular.datetext import text_dates
from domains.tabular.numcodes import MAX_CODES as CODES_MAX
from domains.tabular.numcodes import codes_message, collapsing_counts
from domains.tabular.words import check_keep_words
# text forms of numbers and dates live in textforms.py; importable from here as before
from domains.tabular.textforms import _number_advice, _number_form, _formatted_numbers, _text_dates  # noqa: F401

KINDS = ("numeric", "categorical", "exclude")
SCHEMA_VERSION = 1

# Ingest options: name -> (default, description). Validated in `check_ingest_options`.
INGEST_DEFAULTS: dict[str, Any] = {
    "columns": {},  # per-column kind override: {name: numeric | categorical | exclude}
    "exclude": [],  # columns to leave out (ids, labels)
    "categorical_threshold": 10,  # integral columns with <= this many distinct values are categorical
    "max_categories": 256,  # vocabulary cap per categorical column (most frequent kept)
    "numeric_fraction": 0.9,  # a text column is numeric if this share of its cells parse as numbers
    "num_bins": 16,  # quantile bins per numeric column (PLE inputs and bin targets)
    "strict": False,  # a non-numeric string in a numeric column is an error instead of missing
    "delimiter": None,  # CSV delimiter; None: tab for .tsv/.tab, comma otherwise
    "missing_value": None,  # a number (-999) or word a file writes for a missing cell
    "keep_words": [],  # words read as missing (NA, N/A, null) that text columns keep as values (words.py)
    "decimal": "auto",  # decimal mark of a text table's numbers: auto ("," in a file of them not
                        # separated by commas, see reading.py), "." or ","
    "validation_fraction": 0.05,  # held out of the statistics, same split as RecordStore.split
    "split_seed": 0,
}


def check_ingest_options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(INGEST_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown tabular ingest option(s) {unknown}; allowed: {sorted(INGEST_DEFAULTS)}")
    opts = {**INGEST_DEFAULTS, **options}
    cols = opts["columns"] or {}
    if not isinstance(cols, Mapping):
        raise ValueError(f"The 'columns' option must be a mapping {{column: kind}}. Got {cols!r} instead.")
    for name, kind in cols.items():
        if kind not in KINDS:
            raise ValueError(f"The 'columns' option gives column {name!r} kind {kind!r}; "
                             f"allowed kinds: {list(KINDS)}")
    opts["columns"] = dict(cols)
    excl = opts["exclude"] or []
    if isinstance(excl, str):
        excl = [excl]
    opts["exclude"] = [str(x) for x in excl]
    for key, low in (("categorical_threshold", 0), ("max_categories", 1), ("num_bins", 1)):
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"The {key!r} option must be an int >= {low}. Got {v!r} instead.")
        opts[key] = int(v)
    for key in ("numeric_fraction", "validation_fraction"):
        v = opts[key]
        if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"The {key!r} option must be a float in [0, 1]. Got {v!r} instead.")
        opts[key] = float(v)
    if not isinstance(opts["strict"], bool):
        raise ValueError(f"The 'strict' option must be true or false. Got {opts['strict']!r} instead.")
    # a tab as typed: ``delimiter='\t'`` (what the reader's hint says) reaches us as the two
    # characters backslash, t; ``tab`` as impute's parameter takes it
    if isinstance(opts["delimiter"], str):
        d = opts["delimiter"]
        d = d[1:-1] if len(d) >= 2 and d[0] == d[-1] and d[0] in "'\"" else d
        opts["delimiter"] = {"\\t": "\t", "tab": "\t"}.get(d, d)
    mv = opts["missing_value"]
    for v in (list(mv) if isinstance(mv, (list, tuple)) else [mv]) if mv is not None else []:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"The 'missing_value' option must be a number or a word (such as -999), "
                             f"or a list of them ([-999, 9999]). Got {mv!r} instead.")
    if isinstance(mv, tuple) or type(mv).__name__ == "ListConfig":
        opts["missing_value"] = list(mv)
    opts["keep_words"] = check_keep_words(opts["keep_words"], opts["missing_value"])
    if opts["decimal"] not in DECIMALS:
        raise ValueError(f"The 'decimal' option must be one of {list(DECIMALS)}. "
                         f"Got {opts['decimal']!r} instead.")
    if opts["delimiter"] is not None and (not isinstance(opts["delimiter"], str) or len(opts["delimiter"]) != 1):
        raise ValueError(f"The 'delimiter' option must be one character (such as ';' or '|'; a "
                         f"tab as '\\t' or tab) or null. Got {opts['delimiter']!r} instead.")
    return opts


# ---------------------------------------------------------------- reading files

# the readers live in reading.py; importable from here as before (tests, encoderkit.impute)
ReadResult, TEXT_SUFFIXES, read_table = reading.ReadResult, reading.TEXT_SUFFIXES, reading.read_table


# ---------------------------------------------------------------- schema inference

def _json_value(v: Any) -> Any:
    """numpy / pandas scalar -> a JSON-native value (categories must survive json)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else v
    return str(v)


def _is_date_objects(s: pd.Series) -> bool:
    """An object column of ``datetime.date`` values: how pyarrow hands over a CSV column of
    ``2020-01-31`` cells or a Parquet date32 column."""
    return s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "date"


def _is_datetime(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(s.dtype) or _is_date_objects(s)


def _is_timedelta(s: pd.Series) -> bool:
    return pd.api.types.is_timedelta64_dtype(s.dtype)


def _datetime_ns(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A datetime (or date) column as int64 nanoseconds since the epoch, a timedelta column
    as int64 nanoseconds, and where observed."""
    ok = s.notna().to_numpy()
    out = np.zeros(len(s), dtype=np.int64)
    if ok.any():
        # as_unit: pandas keeps s/ms/us/ns resolutions; the schema always speaks nanoseconds
        t = s[ok] if _is_timedelta(s) else pd.to_datetime(s[ok])
        out[ok] = t.dt.as_unit("ns").astype("int64").to_numpy()
    return out, ok


def _round_to_unit(ns: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """``ns`` rounded to the coarsest unit of ``_UNITS_NS`` every ``observed`` value is a multiple of."""
    unit = next((u for u in _UNITS_NS if not np.any(observed % u)), 1)
    return np.round(ns / unit).astype(np.int64) * unit


# time units a datetime fill is rounded to: the coarsest that every observed value is a
# multiple of (a column of dates gets dates, not 19:23:28.649388)
_UNITS_NS = (86_400 * 10**9, 3_600 * 10**9, 60 * 10**9, 10**9, 10**6, 10**3, 1)


def numeric_values(s: pd.Series) -> np.ndarray:
    """A numeric or datetime column as float64 (datetimes: nanoseconds since the epoch;
    timedeltas: nanoseconds; pd.to_numeric would read NaT as -9.2e18)."""
    if _is_datetime(s) or _is_timedelta(s):
        ns, ok = _datetime_ns(s)
        out = np.full(len(s), np.nan)
        out[ok] = ns[ok].astype(np.float64)
        return out
    # to_numpy with na_value: an Arrow or nullable column's pd.NA as NaN (pd.to_numeric of an
    # Arrow string column holds NaN for its words, NA for its holes: a notna() test of it
    # took every word for a number)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def missing_marks(s: pd.Series) -> np.ndarray:
    """Which cells of ``s`` are one of ``MISSING_MARKS`` or Stata's ``.a`` .. ``.z`` (any case,
    outer spaces ignored)."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return np.zeros(len(s), dtype=bool)
    return reading.is_mark(s)


def row_name(s: pd.Series, i: int, source: str | None) -> str:
    """Position ``i`` of ``s`` as its reader counts it: the file's 1-based data row (a
    header line not counted), or the DataFrame's index label given from Python."""
    return f"data row {i + 1}" if source else f"row {s.index[i]}"


def column_numbers(s: pd.Series, name: str, opts: Mapping[str, Any],
                   source: str | None = None) -> tuple[np.ndarray, str | None]:
    """The cells of the numeric column ``name`` as float64 (``numeric_values``) under the one
    policy every reader applies (ingest, impute, predict / embed / infill on a raw table), and
    the warning to give, if any. ``opts``: the ingest options the schema was made with.

    An infinite value is a ``DataError`` (as scikit-learn's imputers: not a value, not missing
    either). A cell that is not a number (``abc``, ``n/a``) is missing, with a warning naming
    the count, examples and first row; it is a ``DataError`` with ``strict``, or when the
    column is mostly such cells (fewer than ``numeric_fraction`` of its cells are numbers, so
    ingest would not have read it as numbers) unless ``columns`` forced it numeric. At
    predict time such a column was read as all missing, its predictions those of an empty
    column, without a word."""
    v = numeric_values(s)
    where = f"{source}: " if source else ""
    with np.errstate(invalid="ignore"):
        inf = np.isinf(v)
    if inf.any():
        raise DataError(f"column {name!r} holds {int(inf.sum())} infinite value(s) (first at "
                        f"{row_name(s, int(np.flatnonzero(inf)[0]), source)}); make them empty (missing) or finite numbers",
                        file=source)
    given = s.notna().to_numpy()
    text = given & np.isnan(v)
    if not text.any():
        return v, None
    count, present = int(text.sum()), int(given.sum())
    marked = int((text & missing_marks(s)).sum())  # "." / "-": holes, not stray text
    examples = list(s[text].astype(str).unique()[:3])
    first = int(np.flatnonzero(text)[0])
    said = f"column {name!r}: {count} non-numeric cell(s) such as {examples} (first at {row_name(s, first, source)})"
    if opts.get("strict"):
        raise DataError(f"{said} (strict=true)", file=source)
    fraction = float(opts.get("numeric_fraction", 0.9))
    if present > marked and 1.0 - (count - marked) / (present - marked) < fraction and \
            (opts.get("columns") or {}).get(name) != "numeric":
        raise DataError(f"column {name!r}: {count} of its {present} non-empty cells are not numbers "
                        f"(such as {examples}, first at {row_name(s, first, source)}), but the model reads it as numbers "
                        f"(ingest does when at least {fraction:.0%} of a column's cells are): check "
                        f"that the column holds what it held in training", file=source)
    return v, f"{where}{said} read as missing"


# an integer column is read as category codes only when each code is seen this many times on
# average: a handful of distinct counts in a small table (7 values in 17 rows) are numbers
CODE_REPEATS = 5


def _codes(values: np.ndarray, threshold: int) -> bool:
    """Whether the integers ``values`` (observed cells) look like category codes rather
    than counts or measurements: at most ``threshold`` distinct values, and either two
    (yes / no as 0 / 1) or each seen ``CODE_REPEATS`` times on average (a category has to
    be seen a few times to be learnt as one). A code column is filled with a value seen in
    it; a number column with a number (rounded to an integer), which for a small table's
    counts, such as 0, 1, 4, 6, 37 executions in 17 states, is the better fill: read as
    codes, a hidden 4 was filled with 37 (an unordered category says nothing of which
    codes are near), 19x the error of the column mean."""
    distinct = np.unique(values)
    if distinct.size > threshold:
        return False
    return bool(distinct.size <= 2 or values.size >= CODE_REPEATS * distinct.size)


# fewer observed values than this, and a column of distinct words may still be categories
IDENTIFIER_MIN = 5


def _identifier(s: pd.Series) -> bool:
    """A text column whose every observed value occurs once (row ids, names, free text):
    as categories, each seen once, nothing can be learnt from it, and a hidden cell of it
    can never be filled right; as an input it only lets a model memorise rows. Only text:
    numbers, booleans and times (a Period column holds one month a row) are not ids; nor
    are (``infer_schema`` asks) numbers or dates written as text (``1 249,80``,
    ``31.12.2020``: ``_formatted_numbers``, ``_text_dates``), which, dropped, kept their
    holes empty without a word."""
    present = s.dropna()
    if len(present) < IDENTIFIER_MIN or pd.api.types.infer_dtype(present, skipna=True) != "string":
        return False  # numbers, booleans, and times such as Period values (one a row) are no ids
    return bool(present.nunique() == len(present))


def _infer_kind(s: pd.Series, opts: Mapping[str, Any]) -> str:
    if _is_datetime(s) or _is_timedelta(s):
        return "numeric"
    if beyond_int64(s):  # ids and codes of 20 digits: no float holds them; amounts are numbers (bigints.py)
        return "numeric" if magnitudes(s) and not _codes(numeric_values(s), opts["categorical_threshold"]) \
            else "categorical"
    if pd.api.types.is_bool_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = s.dropna().to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):  # inf: not integral; refused below, column named
            integral = bool(np.all(np.mod(v, 1.0) == 0.0))
        return "categorical" if integral and _codes(v, opts["categorical_threshold"]) else "numeric"
    present = s.dropna()
    # a boolean column with holes comes as object (True / False / None): pd.to_numeric
    # would read it as 0 / 1 and fill 0.37; it is two categories
    if s.dtype == object and pd.api.types.infer_dtype(present, skipna=True) == "boolean":
        return "categorical"
    # digits led by a zero (zip codes 02139, FIPS 01001) are codes, written as such
    if pd.api.types.infer_dtype(present, skipna=True) == "string" and \
            present.astype(str).str.strip().str.fullmatch(r"0\d+").any():
        return "categorical"
    if _collapsing(present) is not None:  # 3.1 beside 3.10: codes (numcodes.py)
        return "categorical"
    # text: numeric if nearly every cell parses as a number (a stray "abc" is missing), not
    # counting the cells that mark a missing value ("." / "-", however many)
    rest = present[~missing_marks(present)]
    if len(rest) and _number_share(rest) >= opts["numeric_fraction"]:
        return "numeric"
    return "categorical"


def _collapsing(text: pd.Series) -> tuple[str, str] | None:
    """``numcodes.collapsing`` of a text column (no missing cell), counted by pandas."""
    if text.nunique() > CODES_MAX:
        return None
    return collapsing_counts(text.astype(str).value_counts().to_dict())


def _number_share(text: pd.Series) -> float:
    """The share of the cells of ``text`` (no missing cell) that ``numeric_values`` reads as
    numbers. Each distinct text of pandas' ``str`` dtype is read once: reading every cell
    made a Python object of each (about 100 bytes a cell: 0.2 GB for a column of 1.75M rows
    of eight words), for the same share (whether a text is a number depends on it alone)."""
    if text.dtype != "str":
        return float((~np.isnan(numeric_values(text))).mean())
    codes, distinct = pd.factorize(text)
    return float((~np.isnan(numeric_values(pd.Series(distinct))))[codes].mean())


def _category_counts(s: pd.Series) -> pd.Series:
    """How often each value (``_json_value``) of ``s`` occurs, most frequent first. A column of
    pandas' ``str`` dtype is counted as it is: ``_json_value`` keeps text as it is, and mapping
    it made a Python object of every cell, for the same counts in the same order."""
    present = s.dropna()
    return present.value_counts(sort=True) if s.dtype == "str" else \
        present.map(_json_value).value_counts(sort=True)


def infer_schema(frame: pd.DataFrame, train: np.ndarray, **options: Any) -> tuple[dict[str, Any], list[str]]:
    """Decide each column's kind and compute its statistics on the ``train`` rows.

    Returns ``(schema, messages)``; messages are human-readable warnings (dropped
    columns, unparsable cells, capped vocabularies) for the ingest report.
    """
    opts = check_ingest_options(options)
    messages = unknown_columns(opts, frame.columns)
    excluded = excluded_columns(opts)
    columns: list[dict[str, Any]] = []
    dropped: dict[str, str] = {}  # name -> why (said again by task.label_column)
    for col in frame.columns:
        if str(col) in excluded:
            continue
        entry, said, why = column_entry(frame[col], str(col), train, opts)
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


def column_entry(s: pd.Series, name: str, train: np.ndarray,
                 opts: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str], str]:
    """One column's schema entry (its kind and statistics on the ``train`` rows), the
    messages to give, and why it is dropped when the entry is None. ``opts``: checked
    ingest options. Column by column, so a large table is read one column at a time."""
    messages: list[str] = []
    if s.notna().sum() == 0:
        return None, [f"column {name!r} is entirely missing; dropped"], "it is entirely missing"
    kind = opts["columns"].get(name) or _infer_kind(s, opts)
    big = kind == "categorical" and name not in opts["columns"] and beyond_int64(s)
    if big and int(s.notna().sum()) >= IDENTIFIER_MIN and identifier_values(s) or \
            kind == "categorical" and name not in opts["columns"] and _identifier(s) and \
            not _formatted_numbers(s.dropna().unique(), opts["numeric_fraction"]) and \
            not _text_dates(s.dropna().unique(), opts["numeric_fraction"]):
        n = int(s.notna().sum())
        return None, [f"column {name!r} is an identifier (each of its {n} values occurs once): "
                      f"left out of the model, its cells kept as they are (the ingest option "
                      f"'columns={{{name}: categorical}}' keeps it in)"], \
            "it is an identifier (each of its values occurs once)"
    entry: dict[str, Any] = {"name": name, "kind": kind, "dtype": str(s.dtype)}
    if kind == "numeric":
        v, msg = column_numbers(s, name, opts)
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
                     integer=bool(np.all(np.mod(vt, 1.0) == 0.0)), datetime=_is_datetime(s))
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


# ---------------------------------------------------------------- encoding

@dataclass
class Encoded:
    """Rows of a frame as cell arrays, [N, C] each, in schema column order."""

    cat: np.ndarray  # int64 category code (0 = unknown; 0 for numeric columns)
    num: np.ndarray  # float32 normalised value (0 where missing / categorical)
    observed: np.ndarray  # bool
    present: np.ndarray  # bool [C]: the column exists in the frame


def encode_frame(frame: pd.DataFrame, schema: Mapping[str, Any], source: str | None = None,
                 report_text: bool = True) -> Encoded:
    """Encode by column NAME, so column order in ``frame`` never matters; a schema
    column absent from the frame is all missing; a category cell is matched in whatever form
    it comes (``cells.CategoryCodes``: ``'6'`` is the category 6), and one the schema does not
    know is code 0, with a warning per column (``report_text``).

    Numeric cells follow ``column_numbers`` under the schema's ingest options (a warning for
    a few cells that are not numbers, an error for a column of them; ``report_text`` False:
    the caller said it already, as ingest's ``infer_schema`` does); a value that float32
    cannot hold once standardised is an error. ``source``: the file, for the messages."""
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
            if report_text and (cat[ok, j] == 0).any():  # read as unknown, they move predictions
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


def fill_column(s: pd.Series, fill: np.ndarray, rows: np.ndarray) -> pd.Series:
    """Write ``fill`` (python values) at ``rows`` of ``s`` keeping its dtype where possible,
    and in a text or object column the form of its cells (``cells.like_observed``)."""
    out = s.copy()
    if not rows.any():
        return out
    dtype = s.dtype
    idx = np.flatnonzero(rows)
    if _is_datetime(s):
        tz = getattr(dtype, "tz", None)
        # rounded on the wall clock (a column of local midnights gets local midnights)
        observed, ok = _datetime_ns(s.dt.tz_localize(None) if tz is not None else s)
        ns = np.asarray(fill, dtype=np.float64).astype(np.int64)
        offset = np.zeros_like(ns)
        if tz is not None:  # wall clock - UTC, per value
            wall = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True)).tz_convert(tz).tz_localize(None)
            offset = wall.as_unit("ns").asi8 - ns
        ns = _round_to_unit(ns + offset, observed[ok]) - offset
        if _is_date_objects(s):
            values = out.to_numpy(dtype=object).copy()
            values[idx] = list(pd.to_datetime(ns, unit="ns").date)
            return pd.Series(values, index=s.index, name=s.name, dtype=object)
        vals = pd.Series(pd.to_datetime(ns, unit="ns", utc=tz is not None))
        if tz is not None:
            vals = vals.dt.tz_convert(tz)
        out.iloc[idx] = vals.astype(dtype).to_numpy()
        return out
    if _is_timedelta(s):
        observed, ok = _datetime_ns(s)
        ns = _round_to_unit(np.asarray(fill, dtype=np.float64), observed[ok])
        out.iloc[idx] = pd.to_timedelta(ns, unit="ns").astype(dtype).to_numpy()
        return out
    if isinstance(dtype, pd.CategoricalDtype):
        fill = like_observed(fill, dtype.categories)  # the category '6' for the fill 6
        new = [v for v in dict.fromkeys(fill) if v not in dtype.categories]
        if new:
            out = out.cat.add_categories(new)
        out.iloc[idx] = list(fill)
        return out
    if pd.api.types.is_bool_dtype(dtype) or dtype == object or pd.api.types.is_string_dtype(dtype) \
            or not pd.api.types.is_numeric_dtype(dtype):  # text, or categories such as Period values
        values = out.to_numpy(dtype=object).copy()
        # as the column writes its cells: '6' beside '6' (not the category 6), '49' not '49.0'
        values[idx] = like_observed(fill, values[s.notna().to_numpy()])
        if dtype == object:
            return pd.Series(values, index=s.index, name=s.name, dtype=object)
        try:
            return pd.Series(values, index=s.index, name=s.name).astype(dtype)
        except (TypeError, ValueError):  # a category as text that the dtype cannot parse back
            return pd.Series(values, index=s.index, name=s.name, dtype=object)
    np_dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))  # Int64 / Float32 -> int64 / float32
    fill = np.asarray(fill, dtype=np.float64)
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)  # float(2**63 - 1) is 2**63, which wrapped round to -2**63
        top = float(info.max) if float(info.max) <= info.max else np.nextafter(float(info.max), 0.0)
        fill = np.clip(np.round(fill), float(info.min), top)
    fill = fill.astype(np_dtype)
    with warnings_kept():
        warnings.simplefilter("ignore", FutureWarning)  # pandas' upcast notice; we cast back below
        out.iloc[idx] = fill
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out


def as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValueError(f"tabular data as a numpy array must be 2-D [rows, columns]; got shape {data.shape}")
        return pd.DataFrame(data, columns=[f"c{i}" for i in range(data.shape[1])])
    raise TypeError(f"tabular data must be a pandas DataFrame or a 2-D numpy array; got {type(data).__name__}")
