"""A labels file's rows aligned with a store's records (``align``): by an ``id`` column
(``use_id_column``, ``record_index``, ``find_record``; an id no record holds, or several
do, is an error naming the row) or one row per record in store order; token tasks' long
tables (``id, position, label``). The result is ``Labels``, per record. Part of the labels
API of ``encoderkit/tasks/labels.py`` (its module doc describes the rules), split out so
each module keeps one job; the files are read by ``label_files.py``.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from encoderkit.errors import DataError, UsageError
from encoderkit.tasks.label_files import check_series_file, counts_header, id_texts, is_missing, missing_words


def record_ids(store: Any) -> np.ndarray:
    """All record ids of a store, in store order (strings)."""
    ids = getattr(store, "_ids", None)
    if ids is None:
        return np.asarray([str(i) for i in range(len(store))], dtype=object)
    return np.asarray([str(x) for x in np.asarray(ids[:]).tolist()], dtype=object)


def column_values(domain: Any, store: Any, column: str, chunk: int = 1024) -> list[Any]:
    """A ``task.label_column`` run's labels: ``column`` of every record of ``store``, in store
    order, as the domain reads it (``Domain.label_values``, ``chunk`` records at a time); its
    errors (``KeyError``, ``NotImplementedError``, ``DataError``, ...) are the caller's to word."""
    values: list[Any] = []
    for lo in range(0, len(store), chunk):
        values += list(domain.label_values(store.read_range(lo, min(lo + chunk, len(store))), column))
    return values


@dataclass
class Labels:
    """Per record labels aligned with the store (index = record index)."""

    values: list[Any]  # per record: a scalar, a tuple (multi-target / multilabel) or an array (token)
    labelled: np.ndarray  # [N] bool
    names: list[str] = field(default_factory=list)  # target / label column names
    file: str = ""
    rows: list[int | None] | None = None  # per record: its line in the labels file

    def where(self, r: int) -> str:
        """How an error names record ``r``: its row in the labels file."""
        row = self.rows[r] if self.rows is not None else None
        return f"row {row}" if row is not None else f"record {r}"


def _row_no(i: int, has_header: bool) -> int:
    """Row ``i`` (0-based) as errors name it: its line in a CSV / TSV, whose header is row 1;
    else counted from 1 (``counts_header``)."""
    return i + (2 if has_header else 1)


AMBIGUOUS = -1  # record_index's value for an id that several records hold


def record_index(ids: np.ndarray) -> dict[str, int]:
    """Store record id -> position, and also each id's part after its last ``:`` (ingest
    names series 7 of a long CSV ``long.csv:7``) where that part names one record only: a
    user's labels file names series by their own keys, not by the file they were read
    from. Exact ids win. An id that several records hold (two FASTA files with a ``chr1``
    each) maps to ``AMBIGUOUS``: a label for it cannot say which record it means."""
    where: dict[str, int] = {}
    for i, rid in enumerate(ids):
        rid = str(rid)
        where[rid] = AMBIGUOUS if rid in where else i
    keys: dict[str, list[int]] = {}
    for i, rid in enumerate(ids):
        head, sep, key = str(rid).rpartition(":")
        if sep and head and key:
            keys.setdefault(key, []).append(i)
    for key, at in keys.items():
        if len(at) == 1 and key not in where:
            where[key] = at[0]
    return where


def find_record(where: dict[str, int], rid: str, row: int, ids: np.ndarray, file: str) -> int:
    """The store position a labels / split row names, or a ``DataError`` naming the row:
    an id no record holds, or one that several records hold."""
    r = where.get(rid)
    if r is None and rid.strip() != rid:  # " row7 " from a spreadsheet: the id it surrounds
        r = where.get(rid.strip())
    if r is None:
        raise DataError(_no_record(row, rid, ids), file=file)
    if r == AMBIGUOUS:
        at = [i for i, x in enumerate(ids) if str(x) == rid]
        raise DataError(f"row {row}: id {rid!r} names {len(at)} records of the store (records "
                        f"{', '.join(map(str, at[:5]))}{', ...' if len(at) > 5 else ''}), so its label could "
                        f"belong to any of them: make the ids unique in the source files, or give "
                        f"one row per record in store order without an id column", file=file)
    return r


_PIECE = re.compile(r"(.+):(\d+)-(\d+)")  # a genomic record cut at runs of N: <id>:<start>-<end>


def _no_record(row: int, rid: str, ids: np.ndarray) -> str:
    """Why ``rid`` names no record, in the words of the domain the ids come from: a genomic
    record cut into pieces at runs of N is named by its pieces (whose positions restart at
    0), a series of a long file by ``<file>:<key>``."""
    shown = ", ".join(repr(str(x)) for x in ids[:3])
    pieces = [(str(x), int(m.group(2)), int(m.group(3))) for x in ids
              if (m := _PIECE.fullmatch(str(x))) and m.group(1) == rid.strip()]
    if pieces:
        pieces.sort(key=lambda p: p[1])
        gaps = [b[1] - a[2] for a, b in zip(pieces, pieces[1:]) if b[1] > a[2]]
        named = ", ".join(repr(p[0]) for p in pieces[:4]) + (", ..." if len(pieces) > 4 else "")
        keep = f"max_n_run={max(gaps)} or more" if gaps else "a larger max_n_run"
        return (f"row {row}: id {rid!r} matches no record of the store: ingest split record {rid!r} "
                f"into pieces at runs of N ({named}), each a record whose positions restart at 0 "
                f"(position 0 of {pieces[-1][0]!r} is base {pieces[-1][1]} of {rid!r}); ingest again "
                f"with {keep} to keep it whole, or name the pieces with positions counted from "
                f"each piece's start")
    twin = _unicode_twin(rid.strip(), ids)
    if twin is not None:
        return (f"row {row}: id {rid!r} matches no record of the store as written, but record "
                f"{twin!r} once both are Unicode-normalised: the same letters in another form "
                f"({ascii(rid.strip())} in the labels, {ascii(twin)} in the store: composed / "
                f"decomposed accents or full-width letters); ids are matched as written, so write "
                f"the labels' ids as the store's (unicodedata.normalize('NFC', id) on both sides, "
                f"or save the file in the store's form)")
    if any(_PIECE.fullmatch(str(x)) for x in ids[:1000]):  # genomic ids: no file-name part to drop
        return f"row {row}: id {rid!r} matches no record of the store (its ids look like {shown})"
    return (f"row {row}: id {rid!r} matches no record of the store (its ids look like {shown}; the "
            f"part after the file name also works where it names one record)")


def _unicode_twin(rid: str, ids: np.ndarray) -> str | None:
    """The store id equal to ``rid`` in NFKC but written otherwise, or None. Said, never
    matched: a record's id is matched as written, and two forms may name two records."""
    key = unicodedata.normalize("NFKC", rid)
    return next((str(x) for x in ids if str(x) != rid and unicodedata.normalize("NFKC", str(x)) == key),
                None)


ID_MATCH = 0.9  # share of a column's values that must name records for it to be taken as the ids


def use_id_column(frame, ids: np.ndarray, file: str, token: bool, names: Sequence[str] | None = None,
                  exclude: Sequence[str] = ()):
    """``frame`` with the column that holds the store's record ids named ``id``, where the
    file has no ``id`` column: a sets file keyed by ``set`` (the store's own set column) or
    a FASTA's ``seq_id`` was joined by row order, a shuffled file scoring 0.10 instead of
    0.84. A column qualifies when (nearly) all its values, normalised as the id join does,
    name a record (and, for record labels, no value repeats); the label columns, the group
    column and ``position`` never do. Said once, naming the column; ``frame`` is not changed."""
    columns = [str(c) for c in frame.columns]
    if "id" in columns or not len(frame) or file.lower().endswith(".npy"):
        return frame
    protected = set(map(str, names or ())) | set(map(str, exclude)) | {"label"}
    if token:
        protected.add("position")
    where = record_index(ids)
    found = []
    for c in frame.columns:
        if str(c) in protected:
            continue
        cells = [v for v in frame[c].tolist() if not is_missing(v)]
        if not cells:
            continue
        texts = [str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer()
                 else str(v) for v in cells]
        hits = sum((t in where or t.strip() in where) for t in texts)
        if hits < ID_MATCH * len(frame) or (not token and len(set(texts)) < len(texts)):
            continue
        found.append((len(set(texts)), c))
    best = max((n for n, _ in found), default=0)
    column = next((c for n, c in found if n == best), None)  # the leftmost of the most distinct
    labels_named = bool(names) or "label" in columns
    rest = [c for c in columns if c not in protected and c != str(column)]
    if column is None or not (labels_named or rest):
        return frame  # no ids; or the file's only column, which is its label (joined by order)
    warnings.warn(f"{file}: no 'id' column; column {str(column)!r} holds the store's record ids, so "
                  f"labels are joined to records by it (name it 'id' to say so)", stacklevel=3)
    return frame.rename(columns={column: "id"})


def _order_join_said(frame, cols: list, file: str, token: bool, exclude: Sequence[str]) -> None:
    """Warn that a file with columns beside its labels, none of them the record ids, is joined
    by row order: those columns were dropped without a word, and a shuffled file trained
    on scrambled labels."""
    skip = {str(c) for c in cols} | set(map(str, exclude)) | ({"position"} if token else set())
    ignored = [str(c) for c in frame.columns if str(c) not in skip]
    if ignored:
        warnings.warn(f"{file}: no id column (and column(s) {ignored} do not hold the store's "
                      f"record ids): labels are joined to records by row order, column(s) "
                      f"{ignored} ignored; add an 'id' column to join by id", stacklevel=3)


def missing_label_column(column: str, columns: Sequence[str]) -> str:
    """The message for a label ``column`` that the table of ``columns`` lacks: its columns, and
    the one that differs from it by case or outer spaces only (``Affair`` for ``affair``)."""
    near = [c for c in columns if str(c).strip().lower() == str(column).strip().lower()]
    hint = f" ({near[0]!r} differs only in case or spaces: rename it {column!r})" if near else ""
    return f"label column {column!r} does not exist; columns: {list(map(str, columns))}{hint}"


def align(frame, ids: np.ndarray, file: str, token: bool, names: Sequence[str] | None = None,
          exclude: Sequence[str] = ()) -> Labels:
    """Rows of ``frame`` -> per-record values, by ``id`` column or by order; ``exclude``:
    columns that are never labels (the group column; naming one as a label is an error)."""
    n = len(ids)
    header = counts_header(file, frame)
    frame = use_id_column(frame, ids, file, token, names, exclude)
    # a group decides the split, not the target: named as a label, or the `label` column
    # itself (without that column another one would silently become the target)
    columns = [str(c) for c in frame.columns]
    named = [str(c) for c in names] if names else (["label"] if "label" in columns else [])
    clash = [c for c in named if c in exclude]
    if clash:
        raise UsageError(f"task.group_column={clash[0]!r} is also a label column: a group decides "
                         "the split, not the target", file=file, key="task.group_column")
    cols = [c for c in frame.columns if str(c) != "id" and not (token and str(c) == "position")
            and str(c) not in exclude]
    if names:
        absent = [c for c in names if c not in frame.columns]
        if absent:
            raise UsageError(missing_label_column(absent[0], [str(c) for c in frame.columns]), file=file,
                             key="task.label_names")
        cols = list(names)
    elif "label" in [str(c) for c in cols]:  # a `label` column wins over other columns
        cols = [c for c in cols if str(c) == "label"]
    if not cols:
        raise DataError("labels file has no label column (only an id column)", file=file)
    if file.lower().endswith((".csv", ".tsv")):  # text cells: NA words mean missing, said aloud
        frame = missing_words(frame, cols, file)
    if token:
        return _align_tokens(frame, ids, file, cols, header)
    if "id" in frame.columns:
        check_series_file(frame, ids, file)
        where = record_index(ids)
        values: list[Any] = [None] * n
        rows: list[int | None] = [None] * n
        fids = id_texts(frame["id"], file, header)
        block = frame[cols].to_numpy(dtype=object)
        for i, rid in enumerate(fids):
            r = find_record(where, rid, _row_no(i, header), ids, file)
            if values[r] is not None:
                raise DataError(f"row {_row_no(i, header)}: id {rid!r} is labelled twice", file=file)
            values[r] = tuple(block[i]) if len(cols) > 1 else block[i][0]
            rows[r] = _row_no(i, header)
    else:
        if len(frame) != n:
            raise DataError(f"has {len(frame)} label rows and no id column, but the store has {n} "
                            f"records (without ids, one row per record in store order)", file=file)
        _order_join_said(frame, cols, file, token, exclude)
        block = frame[cols].to_numpy(dtype=object)
        values = [tuple(row) if len(cols) > 1 else row[0] for row in block]
        rows = [_row_no(i, header) for i in range(n)]
    labelled = np.asarray([v is not None and not (all(is_missing(x) for x in v) if isinstance(v, tuple)
                                                 else is_missing(v)) for v in values], dtype=bool)
    return Labels(values=values, labelled=labelled, names=[str(c) for c in cols], file=file, rows=rows)


def _align_tokens(frame, ids: np.ndarray, file: str, cols: list, header: bool) -> Labels:
    n = len(ids)
    values: list[Any] = [None] * n
    if "id" in frame.columns:
        if "position" not in frame.columns:
            raise DataError("token labels need columns id, position, label (one row per token)",
                            file=file)
        if len(cols) != 1:
            raise DataError(f"token labels take one label column; got {cols}", file=file)
        import pandas as pd

        fids = id_texts(frame["id"], file, header)
        where = record_index(ids)
        rec = np.asarray([find_record(where, rid, _row_no(i, header), ids, file)
                          for i, rid in enumerate(fids)], dtype=np.int64)
        pos = pd.to_numeric(frame["position"], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(pos) | (pos < 0) | (pos != np.floor(pos)))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"row {_row_no(i, header)}: position {frame['position'].iloc[i]!r} is not a "
                            f"token index", file=file)
        pos = pos.astype(np.int64)
        lab = frame[cols[0]].to_numpy(dtype=object)
        order = np.lexsort((pos, rec))
        rec, pos, lab = rec[order], pos[order], lab[order]
        twice = np.flatnonzero((rec[1:] == rec[:-1]) & (pos[1:] == pos[:-1]))
        if twice.size:  # one label would silently overwrite the other
            a, b = sorted((int(order[twice[0]]), int(order[twice[0] + 1])))
            raise DataError(f"row {_row_no(b, header)}: id {fids[b]!r} position {int(pos[twice[0]])} is "
                            f"labelled twice (also on row {_row_no(a, header)})", file=file)
        starts = np.flatnonzero(np.r_[True, rec[1:] != rec[:-1]]) if len(rec) else np.zeros(0, np.int64)
        for a, b in zip(starts, np.r_[starts[1:], len(rec)]):
            arr = np.full(int(pos[b - 1]) + 1, None, dtype=object)
            arr[pos[a:b]] = lab[a:b]
            values[int(rec[a])] = arr
    else:  # a 2-D block: one row per record, one column per token (NaN padded)
        if len(frame) != n:
            raise DataError(f"has {len(frame)} rows of token labels and no id column, but the store "
                            f"has {n} records", file=file)
        block = frame.to_numpy(dtype=object)
        values = list(block)
    labelled = np.asarray([v is not None and not all(is_missing(x) for x in v) for v in values],
                          dtype=bool)
    return Labels(values=values, labelled=labelled, names=[str(c) for c in cols], file=file)

