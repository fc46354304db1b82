"""A table appended to a tabular store: ``ingest ... append=true`` encodes the new files
with the store's own schema (``TabularDomain.ingest_append``), so a table larger than memory
is ingested in parts; and the two pieces ``ingest`` shares with it (reading the files one at
a time, writing encoded rows)."""

from __future__ import annotations

import json
import warnings
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.session_state import warnings_kept
from encoderkit.domain import IngestReport, RecordWriter
from encoderkit.errors import DataError, UnknownValueWarning, UsageError

from domains.tabular.reading import read_table
from domains.tabular.schema import check_ingest_options, encode_frame


def append_files(store: Any, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
                 options: Mapping[str, Any]) -> dict[str, Any]:
    """``TabularDomain.ingest_append`` (its docstring says what happens to each case)."""
    from domains.tabular.columnrecords import held_numbers  # columnrecords imports this module

    schema = json.loads(json.dumps(store.schema))  # kept as the store holds it
    opts = _same_ingest_options(options, schema, str(getattr(store, "where", store)))
    first = 0
    if len(store):
        last = store[len(store) - 1]
        first = int(last["row"]) + 1 if "row" in last else len(store)
    # one file in memory at a time; columns the store holds as numbers read hex cells as ints
    for path, frame in read_files(sources, opts, report, numbers=held_numbers(schema)):
        first += _append_frame(frame, schema, opts, writer, report, first, path)
    return schema


def write_rows(writer: RecordWriter, report: IngestReport, enc: Any, rows: np.ndarray,
                ids: Sequence[str] | None) -> None:
    """One record per encoded row: ``enc`` row ``i`` is table row ``rows[i]`` (meta ``row``),
    its id ``ids[i]`` (default ``row<rows[i]>``)."""
    c = enc.cat.shape[1]
    column = np.arange(c, dtype=np.int32)
    for i in range(len(rows)):
        writer.append({"column": column, "cat": enc.cat[i].astype(np.int32),
                       "num": enc.num[i], "observed": enc.observed[i]},
                      meta={"row": int(rows[i])}, id=ids[i] if ids is not None else f"row{int(rows[i])}")
        report.records += 1
        report.tokens += c


def _same_ingest_options(options: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The store's ingest options, refusing one given again with another value: appended rows
    are read and encoded as the store's first ingest read its rows."""
    stored = check_ingest_options(schema.get("ingest_options") or {})
    given = check_ingest_options(options)
    for key in options:
        if given[key] != stored[key]:
            raise UsageError(f"The {key!r} ingest option contradicts the store {where}: it was ingested "
                             f"with {key}={stored[key]!r}, got {given[key]!r}. Appended rows are read and "
                             f"encoded with the store's schema and ingest options: leave the option out, "
                             f"or ingest into a new store", key=key)
    return stored


def read_files(sources: Sequence[str], opts: Mapping[str, Any], report: IngestReport,
               limit: int | None = None, kept: list[str] | None = None,
               numbers: Sequence[str] = ()) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each file read as a table (``read_table`` with the ingest options and ``limit``), its
    ragged rows and messages put in the report; one at a time. ``kept``: extended with the
    missing-value words (``NA``) the files' text columns keep as values (``words.py``). A
    file whose header names a column twice is refused, naming it (several files' frames
    could not be joined: a pandas traceback)."""
    for path in sources:
        res = read_table(str(path), opts["delimiter"], decimal=opts["decimal"],
                         missing_value=opts["missing_value"], limit=limit,
                         keep_words=opts.get("keep_words") or (), numbers=numbers)
        names = [str(c) for c in res.frame.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DataError(f"column {twice[0]!r} appears more than once in the header; columns "
                            f"need distinct names", file=str(path))
        if kept is not None:
            kept.extend(res.kept_words)
        if res.ragged_rows:
            report.skip("ragged row (wrong number of fields)", res.ragged_rows)
        report.warnings.extend(res.messages)
        for msg in res.kept_said + res.points:  # as the schema's messages: impute, reading again, says nothing
            warnings.warn(msg, stacklevel=2)
        yield str(path), res.frame


def _append_frame(frame: pd.DataFrame, schema: Mapping[str, Any], opts: Mapping[str, Any],
                  writer: RecordWriter, report: IngestReport, first: int, source: str) -> int:
    """One appended file's rows -> records with ``schema``; returns its row count (read ones,
    skipped ones included) so the next file continues the numbering at ``first + count``."""
    names = [str(c) for c in frame.columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"column {twice[0]!r} appears more than once in the header; columns "
                        f"need distinct names", file=source)
    cols = [str(c["name"]) for c in schema["columns"]]
    excluded = set(opts["exclude"]) | {c for c, k in opts["columns"].items() if k == "exclude"}
    known = set(cols) | excluded | set(schema.get("excluded") or ()) | set(schema.get("dropped") or {})
    extra = [n for n in names if n not in known]
    absent = [n for n in cols if n not in set(names)]
    if len(absent) == len(cols):
        raise DataError(f"none of the file's columns is a column of the store (matched by name): "
                        f"the store has {cols[:20]}{' ...' if len(cols) > 20 else ''}, the file "
                        f"{names[:20]}{' ...' if len(names) > 20 else ''}", file=source)
    messages = []
    if extra:
        messages.append(f"{source}: {len(extra)} column(s) the store's schema does not have are ignored: "
                        f"{extra[:10]}{' ...' if len(extra) > 10 else ''} (appended rows keep the schema "
                        f"of the store's first ingest)")
    if absent:
        messages.append(f"{source}: {len(absent)} of the store's {len(cols)} columns are absent and stored "
                        f"as missing in its rows: {absent[:10]}{' ...' if len(absent) > 10 else ''}")
    # a row with no cell at all carries nothing to learn from (ingest's rule; the ignored
    # columns are no cells of it)
    keep = [c for c in frame.columns if str(c) in known and str(c) not in excluded]
    empty = frame[keep].isna().all(axis=1).to_numpy() if keep else np.ones(len(frame), bool)
    if empty.any():
        report.skip("row entirely missing", int(empty.sum()))
    rows = np.flatnonzero(~empty)
    part = frame.iloc[rows].reset_index(drop=True)
    with warnings_kept(record=True) as caught:
        warnings.simplefilter("always")
        enc = encode_frame(part, schema, source=source)
    messages += [str(w.message) for w in caught if not issubclass(w.category, UnknownValueWarning)]
    unknown = []
    for j, col in enumerate(schema["columns"]):
        if col["kind"] == "numeric" or not enc.present[j]:
            continue
        new = enc.observed[:, j] & (enc.cat[:, j] == 0)
        if new.any():
            values = list(dict.fromkeys(part[col["name"]].to_numpy(dtype=object)[new].tolist()))
            unknown.append(f"{source}: column {col['name']!r}: {int(new.sum())} of its "
                           f"{int(enc.observed[:, j].sum())} non-missing cells hold {len(values)} value(s) "
                           f"the store's schema has no category for (such as {values[:5]}); stored as "
                           f"the column's unknown category (the categories are those of the store's "
                           f"first ingest)")
    for msg in messages:
        warnings.warn(msg, stacklevel=3)
    for msg in unknown:
        warnings.warn(msg, UnknownValueWarning, stacklevel=3)
    report.warnings.extend(messages + unknown)
    write_rows(writer, report, enc, first + rows, None)
    return len(frame)
