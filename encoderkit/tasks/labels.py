"""Labels for fine-tuning: read a labels file (CSV / TSV / Parquet / .npy), align it with
the records of a store, encode it for a task, split it into train / validation / test.

* With an ``id`` column (any case: ``ID``; a Parquet index), rows join the store's record
  ids (an id the store does not hold is an error naming the file and row; a record with no
  row is unlabelled); without one, there must be one row per record, in store order. How
  files are read: ``label_files.py``.
* An empty / NaN / ``pd.NA`` label means *unlabelled*: the record is neither trained nor
  validated on (CSV words such as ``NA`` too, with a warning).
* Token tasks: a long table ``id, position, label`` (position = token index in the
  featurized record) or a 2-D ``.npy`` ``[records, tokens]`` padded with NaN.
* CSV / TSV cells are read as text: a class label is the text as written (trimmed), so
  ``+0`` and ``-0`` are two classes and so are ``1`` and ``1.0`` (a file written from a
  float column says ``1.0`` on every row, which stays one class); ids are strings.
  Parquet and ``.npy`` keep their types (an integer-valued float class is named ``1``).
  Classes are named by text; the run records what the labels were (``class_kind``), and
  ``predict`` returns them so (ints for int labels and for a CSV's ``0`` / ``1``).
* Multilabel: several 0/1 (or true / false) columns, one per label, or one column of
  ``;``-separated names where ``[]`` (``EMPTY_SET``) is a record with none of the labels;
  an empty cell there is unlabelled, as everywhere, with a warning (``encode_multilabel``).
* Columns: ``task.label_names`` if given, else a ``label`` column if there is one, else
  every column but ``id`` (and ``position``, and the group column): several only for
  multi-target regression and multilabel indicator columns. Evaluating a run, a regression
  run's targets are found by name (``target_columns``), never by position.
* Groups (``task.group_column``): a column of the labels file naming each record's group
  (the gene a window was cut from, the patient a row belongs to); the validation split
  then keeps every group whole on one side (``split_labelled``), so validation measures
  records of groups the model has not trained on.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from encoderkit.errors import DataError, UsageError
# the file reading lives in label_files; its names stay importable from here
from encoderkit.tasks.label_files import (LABEL_SUFFIXES, check_series_file, counts_header,  # noqa: F401
                                          id_texts, is_missing, missing_words, read_table)


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
# a ``;``-separated multilabel cell for a record with none of the labels (an empty cell is
# unlabelled); ``predict`` writes it for an empty predicted set, so its output reads back
EMPTY_SET = "[]"


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
    if any(_PIECE.fullmatch(str(x)) for x in ids[:1000]):  # genomic ids: no file-name part to drop
        return f"row {row}: id {rid!r} matches no record of the store (its ids look like {shown})"
    return (f"row {row}: id {rid!r} matches no record of the store (its ids look like {shown}; the "
            f"part after the file name also works where it names one record)")


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
            raise UsageError(f"label column {absent[0]!r} does not exist; columns: "
                             f"{[str(c) for c in frame.columns]}", file=file, key="task.label_names")
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


# ---------------------------------------------------------------------------
# encoding


def _class_name(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def class_code(index: Mapping[str, int], x: Any, kind: str = "") -> int | None:
    """The code of label ``x`` in a model's class ``index`` (name -> code; ``None``: not a
    class). A bool class matches across file types: Parquet / .npy bools are named ``true``
    / ``false``, while pandas writes them to a CSV as ``True`` / ``False``. Where the model's
    classes are numbers (``kind`` ``int`` / ``float``: ``TaskSpec.class_kind``), a label
    matches the class of equal value, whatever the file: a float column written to a CSV
    by pandas says ``1.0`` for the class ``1``. Many labels: ``class_coder`` (the value map
    built once)."""
    return class_coder(index, kind)(x)


def class_coder(index: Mapping[str, int], kind: str = "") -> Callable[[Any], int | None]:
    """``class_code`` for one class ``index``, its value map built once. Int classes match
    exactly (``decimal.Decimal`` of the label's text, no float on the way): only an exactly
    whole value, and never a float label of magnitude >= 2**53 (a float there may already
    be a neighbouring integer rounded: 2**53 + 1 reads as 2**53)."""
    lowered: dict[str, list[int]] = {}
    for c, i in index.items():
        if c.lower() in ("true", "false"):
            lowered.setdefault(c.lower(), []).append(i)
    by_value = _by_value(index, kind) if kind in ("int", "float") else {}

    def code(x: Any) -> int | None:
        name = _class_name(x)
        if name in index:
            return index[name]
        same = lowered.get(name.lower(), ())
        if len(same) == 1:
            return same[0]
        if by_value:
            value = _numeric(x, kind)
            if value is not None:
                return by_value.get(value)
        return None
    return code


# a number as a CSV cell writes it: 1, -2, 1.0, .5, 1e3 (not "1_000", "inf", "0x1")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EXACT_FLOAT = 2 ** 53  # floats of this magnitude or more are not all integers' neighbours apart


def _numeric(x: Any, kind: str = "float") -> Decimal | float | None:
    """Label ``x`` as a number to look up in ``_by_value(index, kind)``, or None (text, a
    bool, NaN; for ``kind`` ``int``, a float of magnitude >= 2**53). Int classes: an exact
    ``Decimal`` (of the text as written, or of an int / float label); float classes: a float."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        value: Any = int(x)
    elif isinstance(x, (float, np.floating)):
        value = float(x)
        if math.isnan(value) or (kind == "int" and abs(value) >= _EXACT_FLOAT):
            return None
    elif isinstance(x, str) and _NUMBER_TEXT.fullmatch(x.strip()):
        value = x.strip()
    else:
        return None
    if kind != "int":
        return float(value)
    return Decimal(value)


def _by_value(index: Mapping[str, int], kind: str) -> dict[Any, int]:
    """``index`` keyed by the classes' values: an exact ``Decimal`` for int classes (equal
    values hash alike: ``Decimal('1') == Decimal('1.0')``), a float for float classes."""
    found: dict[Any, int] = {}
    for c, i in index.items():
        try:
            found.setdefault(Decimal(int(c)) if kind == "int" else float(c), i)
        except ValueError:
            continue
    return found


def class_mismatch(x: Any, classes: Sequence[str], kind: str) -> str:
    """Why label ``x`` matches no class of a model whose classes are ``classes`` of ``kind``,
    and how to write the labels so that they do."""
    shown = list(classes[:20]) + (["..."] if len(classes) > 20 else [])
    base = f"label {x!r} is not a class of this model ({shown}"
    if kind in ("int", "float"):
        return (base + f"; its classes are numbers ({kind}), so a label matches the class of equal "
                "value, as 1, 1.0 or 1e0 all match '1')")
    if classes and all(_NUMBER_TEXT.fullmatch(str(c)) for c in classes) and _numeric(x) is not None:
        return (base + "; its classes are text, read from a CSV / TSV labels file as written, so "
                f"a label matches only when written the same way: write {x!r} as the class is "
                f"written, one of {shown})")
    return base + ")"


def _sort_classes(names: set[str]) -> list[str]:
    """Numeric order where every name is a number (ties such as "+0" / "-0" by text), else text order."""
    try:
        return sorted(names, key=lambda c: (float(c), c))
    except ValueError:
        return sorted(names)


def class_names(labels: Labels, token: bool) -> list[str]:
    seen: set[str] = set()
    for v, ok in zip(labels.values, labels.labelled):
        if not ok:
            continue
        items = v if token else [v]
        seen.update(_class_name(x) for x in items if not is_missing(x))
    return _sort_classes(seen)


CASE_VARIANTS = "labels that differ only in letter case"  # how that warning begins


def case_variants_said(classes: Sequence[str], file: str) -> None:
    """Warn where class names differ only in letter case (``Setosa`` / ``setosa``): each is
    its own class (a label is matched as written, its surrounding whitespace stripped, its
    case kept), which splits one class in two when a file mixes spellings."""
    groups: dict[str, list[str]] = {}
    for c in classes:
        groups.setdefault(str(c).casefold(), []).append(str(c))
    twins = [g for g in groups.values() if len(g) > 1]
    if twins:
        shown = "; ".join(" / ".join(map(repr, g)) for g in twins[:5]) + (
            f" and {len(twins) - 5} more" if len(twins) > 5 else "")
        warnings.warn(f"{CASE_VARIANTS}: {shown} (in {file}) are separate classes (labels keep their "
                      f"case; only surrounding whitespace is stripped); write them alike if they are "
                      f"one class", stacklevel=3)


_INT_TEXT = re.compile(r"0|-?[1-9][0-9]*")  # as str(int) writes it: not "01", "+1", "-0", "1.0"


def class_kind(labels: Labels, classes: list[str], token: bool) -> str:
    """What the labels were, so ``predict`` returns its classes as the caller's labels are
    (``(out["prediction"] == y).mean()`` was 0 for int labels against text '1'): ``bool``,
    ``int`` or ``float`` where every label is one (a float beside ints: ``float``); text
    labels whose classes are all written as ints (a CSV labels file of 0/1) ``int``; else
    ``str``. A kind whose values do not name the classes back (``class_values``) is ``str``."""
    kinds: set[str] = set()
    for v, ok in zip(labels.values, labels.labelled):
        if not ok:
            continue
        for x in (v if token else [v]):
            if is_missing(x):
                continue
            kinds.add("bool" if isinstance(x, (bool, np.bool_)) else
                      "int" if isinstance(x, (int, np.integer)) else
                      "float" if isinstance(x, (float, np.floating)) else "str")
    kind = kinds.pop() if len(kinds) == 1 else "float" if kinds == {"int", "float"} else "str"
    if kind == "str" and classes and all(_INT_TEXT.fullmatch(c) for c in classes):
        kind = "int"
    try:
        back = [_class_name(x) for x in class_values(classes, kind)]
    except (TypeError, ValueError, KeyError):
        back = None
    return kind if back == list(classes) else "str"


def class_values(classes: Sequence[str], kind: str) -> np.ndarray:
    """The class names ``classes`` as values of ``kind`` (``TaskSpec.class_kind``): int64 /
    float64 / bool, or object text. A run saved before the kind was recorded (``""``) gets
    ints where every class is written as an int ('0', '12', '-3'; not '01' or '1.0'), text
    otherwise: its float and bool labels are not told apart from text, so they stay text."""
    if not kind:
        kind = "int" if classes and all(_INT_TEXT.fullmatch(c) for c in classes) else "str"
    if kind == "int":
        ints = [int(c) for c in classes]
        fits = all(-2**63 <= v < 2**63 for v in ints)  # beyond int64: Python ints
        return np.asarray(ints, dtype=np.int64 if fits else object)
    if kind == "float":
        return np.asarray([float(c) for c in classes], dtype=np.float64)
    if kind == "bool":
        return np.asarray([{"true": True, "false": False}[c.lower()] for c in classes], dtype=bool)
    return np.asarray(list(classes), dtype=object)


def encode_classes(labels: Labels, classes: list[str], token: bool) -> list[np.ndarray] | np.ndarray:
    """Class indices (-1 = unlabelled): ``[N]`` or, for token tasks, one ``[L_i]`` per record."""
    index = {c: i for i, c in enumerate(classes)}

    def code(x: Any) -> int:
        return -1 if is_missing(x) else index.get(_class_name(x), -2)

    if token:
        out = []
        for r, v in enumerate(labels.values):
            arr = np.asarray([code(x) for x in v], dtype=np.int64) if v is not None else np.zeros(0, np.int64)
            if (arr == -2).any():
                raise DataError(f"record {r}: token label not among the classes {classes}", file=labels.file)
            out.append(arr)
        return out
    y = np.asarray([code(v) if ok else -1 for v, ok in zip(labels.values, labels.labelled)], dtype=np.int64)
    bad = np.flatnonzero(y == -2)
    if bad.size:
        raise DataError(f"{labels.where(int(bad[0]))}: label {labels.values[bad[0]]!r} is not one of "
                        f"the classes {classes}", file=labels.file)
    return y


def _number(x: Any, file: str, where: str) -> float:
    if is_missing(x):
        return float("nan")
    if isinstance(x, (bool, np.bool_)):
        return float(x)
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise DataError(f"{where}: regression label {x!r} is not a number", file=file) from None
    if math.isinf(value):  # NaN means unlabelled; an infinite target has no loss to learn from
        raise DataError(f"{where}: regression label {x!r} is infinite; leave it empty to mark "
                        f"the record unlabelled", file=file)
    return value


def encode_regression(labels: Labels, ids: np.ndarray, token: bool) -> list[np.ndarray] | np.ndarray:
    """Float targets (NaN = missing): ``[N, K]`` or, for token tasks, one ``[L_i, 1]`` per record."""
    if token:
        return [np.asarray([[_number(x, labels.file, f"record {ids[r]!r}")] for x in v], dtype=np.float64)
                if v is not None else np.zeros((0, 1)) for r, v in enumerate(labels.values)]
    k = len(labels.names)
    y = np.full((len(labels.values), k), np.nan)
    for r, (v, ok) in enumerate(zip(labels.values, labels.labelled)):
        if ok:
            row = v if isinstance(v, tuple) else (v,)
            y[r] = [_number(x, labels.file, f"{labels.where(r)} (id {ids[r]!r})") for x in row]
    if k > 1 and labels.labelled.any():
        # a target no record has: its head output would train on nothing and predict noise
        empty = [name for j, name in enumerate(labels.names) if np.isnan(y[labels.labelled, j]).all()]
        if empty:
            raise DataError(f"regression target column {empty[0]!r} has no value in any labelled row; "
                            f"drop it, or choose the targets with task.label_names", file=labels.file)
    return y


def _indicator(x: Any, labels: Labels, r: int) -> float:
    """One multilabel indicator cell: 0 / 1, or true / false as pandas writes a bool column."""
    if isinstance(x, str) and x.strip().lower() in ("true", "false"):
        return float(x.strip().lower() == "true")
    try:
        value = float(x)
    except (TypeError, ValueError):
        value = float("nan")
    if value not in (0.0, 1.0):
        raise DataError(f"{labels.where(r)}: multilabel columns must hold 0/1 (or true/false); got "
                        f"{x!r} in {tuple(labels.values[r])!r}", file=labels.file)
    return value


def encode_multilabel(labels: Labels) -> tuple[np.ndarray, list[str]]:
    """``[N, C]`` 0/1 indicators and the label names (several 0/1 columns, or one column
    of ``;``-separated label names)."""
    from encoderkit.tasks.head_size import check_label_block

    n = len(labels.values)
    if len(labels.names) > 1:
        check_label_block(n, len(labels.names), labels.file)
        y = np.zeros((n, len(labels.names)))
        for r, (v, ok) in enumerate(zip(labels.values, labels.labelled)):
            if ok:
                y[r] = [_indicator(x, labels, r) for x in v]
        return y, list(labels.names)
    sets = [_label_set(v, labels, r) if ok else set()
            for r, (v, ok) in enumerate(zip(labels.values, labels.labelled))]
    _warn_empty_sets(labels)
    names = _sort_classes(set().union(*sets)) if sets else []
    index = {c: i for i, c in enumerate(names)}
    check_label_block(n, len(names), labels.file)
    y = np.zeros((n, len(names)))
    for r, s in enumerate(sets):
        for c in s:
            y[r, index[c]] = 1.0
    return y, names


def _label_set(v: Any, labels: Labels, r: int) -> set[str]:
    """One ``;``-separated multilabel cell -> its label names; ``[]``: the empty set."""
    parts = {s.strip() for s in str(v).split(";") if s.strip()}
    if EMPTY_SET in parts and len(parts) > 1:
        raise DataError(f"{labels.where(r)}: {v!r} holds {EMPTY_SET} (none of the labels) beside "
                        f"labels", file=labels.file)
    return set() if EMPTY_SET in parts else parts


def _warn_empty_sets(labels: Labels) -> None:
    """A ``;`` multilabel file's empty cells are unlabelled, as in every labels file, but a
    tool writing a record's label set joined by ``;`` writes an empty set as an empty cell:
    128 of 800 records then left training and validation without a word. Said aloud, with
    the way to write an empty set."""
    rows = labels.rows
    empty = [r for r in np.flatnonzero(~np.asarray(labels.labelled, dtype=bool))
             if rows is None or rows[r] is not None]  # a record without a row is not a cell
    if empty:
        warnings.warn(f"{labels.file}: {len(empty)} record(s) have an empty multilabel cell (first: "
                      f"{labels.where(int(empty[0]))}): an empty cell means unlabelled (not trained on "
                      f"or scored), not an empty label set; write {EMPTY_SET} for a record with none "
                      f"of the labels (or leave its row out to say unlabelled)", stacklevel=4)


def target_columns(frame, targets: Sequence[str], file: str, names: Sequence[str] | None = None,
                   exclude: Sequence[str] = ()) -> list[str] | None:
    """The columns of a labels ``frame`` holding a regression run's ``targets``, found by
    name: pairing them by position scored a file with its columns reordered (or holding
    ``Pulse`` alone) against the wrong targets, and a file with more columns than the run
    has targets crashed. ``names`` (``evaluate(label_names=...)``): those targets alone,
    scored on their own. Otherwise every target needs a column of its name (a ``DataError``
    names the first without one); other columns (one the run was not trained on with
    ``task.label_names``) are ignored with a warning. A one-target run whose file holds one
    label column (or a ``label`` column) takes it whatever its name, as classification does:
    ``None``, ``align`` picks it."""
    columns = [str(c) for c in frame.columns if str(c) != "id" and str(c) not in exclude]
    targets = [str(t) for t in targets]
    if names:
        names = [str(c) for c in names]
        if len(targets) == 1:
            if len(names) > 1:
                raise UsageError(f"label_names={names}: this run predicts one target "
                                 f"({targets[0]!r}); name one column", key="label_names")
            return names
        unknown = [c for c in names if c not in targets]
        if unknown:
            raise UsageError(f"label_names: {unknown[0]!r} is not a target of this run (its "
                             f"targets: {targets})", key="label_names")
        return names
    if len(targets) == 1 and targets[0] not in columns and (len(columns) == 1 or "label" in columns):
        return None
    missing = [t for t in targets if t not in columns]
    if missing:
        near = [c for c in columns if c.lower() == missing[0].lower()]
        hint = f" ({near[0]!r} differs in case)" if near else ""
        raise DataError(f"no column {missing[0]!r} for the run's target {missing[0]!r}{hint}: targets "
                        f"are matched to columns by name (targets {targets}, columns {columns}); name "
                        f"a column after every target (from Python, evaluate(..., label_names=[...]) "
                        f"scores some of them)", file=file)
    extra = [c for c in columns if c not in targets]
    if extra:
        warnings.warn(f"{file}: column(s) {extra} are not targets of this run (its targets: "
                      f"{targets}): ignored", stacklevel=3)
    return targets


# ---------------------------------------------------------------------------
# splits and class weights


def read_split(path: str, ids: np.ndarray) -> np.ndarray:
    """A file with ``id, split`` (train / val / test) -> per record split name ('' = none)."""
    frame = read_table(path)
    for c in ("id", "split"):
        if c not in frame.columns:
            raise DataError(f"a split file needs columns id and split; missing {c!r}", file=path)
    where = record_index(ids)
    out = np.full(len(ids), "", dtype=object)
    aliases = {"validation": "val", "valid": "val", "dev": "val"}
    header = counts_header(path, frame)
    for i, (rid, s) in enumerate(zip(id_texts(frame["id"], path, header), frame["split"].astype(str))):
        r = find_record(where, rid, _row_no(i, header), ids, path)
        s = aliases.get(s.strip().lower(), s.strip().lower())
        if s not in ("train", "val", "test"):
            raise DataError(f"row {_row_no(i, header)}: split {s!r} must be train, val or test", file=path)
        out[r] = s
    return out


def read_groups(frame, ids: np.ndarray, labelled: np.ndarray, file: str, column: str) -> np.ndarray:
    """``task.group_column`` -> per record group name (``''`` for a record without a row).

    Rows join records as labels do (by ``id``, else one row per record in store order; the
    rows of a token task's record must agree); a labelled record whose group cell is empty
    is an error naming its row: the split could not say which side it belongs to."""
    if column not in [str(c) for c in frame.columns]:
        raise UsageError(f"task.group_column={column!r} is not a column of the labels file; columns: "
                         f"{[str(c) for c in frame.columns]}", file=file, key="task.group_column")
    header = counts_header(file, frame)
    cells = frame[column].to_numpy(dtype=object)
    groups = np.full(len(ids), "", dtype=object)
    rows = np.zeros(len(ids), dtype=np.int64)
    if "id" in frame.columns:
        check_series_file(frame, ids, file)
        where = record_index(ids)
        for i, rid in enumerate(id_texts(frame["id"], file, header)):
            r = find_record(where, rid, _row_no(i, header), ids, file)
            if rows[r] and str(cells[i]) != str(groups[r]):  # token labels: a row per position
                raise DataError(f"row {_row_no(i, header)}: record {rid!r} is in group "
                                f"{str(cells[i])!r} here and {str(groups[r])!r} on row {rows[r]}: "
                                f"one group per record", file=file)
            groups[r], rows[r] = cells[i], _row_no(i, header)
    else:
        if len(frame) != len(ids):  # align names this mismatch first; kept for direct callers
            raise DataError(f"has {len(frame)} rows and no id column, but the store has {len(ids)} "
                            f"records", file=file)
        groups[:] = cells
        rows[:] = [_row_no(i, header) for i in range(len(ids))]
    for r in np.flatnonzero(labelled):
        if is_missing(groups[r]) or not str(groups[r]).strip():
            raise DataError(f"row {rows[r]}: a labelled record with an empty {column!r} (its group "
                            f"decides its side of the validation split)", file=file)
    return np.asarray([str(g).strip() if not is_missing(g) else "" for g in groups], dtype=object)


def split_labelled(labelled: np.ndarray, fraction: float, seed: int,
                   strata: np.ndarray | None = None,
                   groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train / validation record indices among the labelled ones; stratified by ``strata``
    (class index per record) where every class has at least two records. With ``groups``
    (a name per record) whole groups go to validation (``_split_groups``)."""
    from sklearn.model_selection import train_test_split

    idx = np.flatnonzero(labelled)
    if fraction <= 0 or len(idx) < 2:
        return idx, np.zeros(0, np.int64)
    if groups is not None:
        return _split_groups(idx, fraction, seed, None if strata is None else strata[idx], groups[idx])
    # at least one record on each side: round(0.99 * 10) = 10 left no training record
    n_val = min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
    stratify = None
    if strata is not None:
        s = strata[idx]
        _, counts = np.unique(s, return_counts=True)
        if counts.min() >= 2 and n_val >= len(counts) and len(idx) - n_val >= len(counts):
            stratify = s
    train, val = train_test_split(idx, test_size=n_val, random_state=seed, shuffle=True,
                                  stratify=stratify)
    return np.sort(train), np.sort(val)


def _split_groups(idx: np.ndarray, fraction: float, seed: int, strata: np.ndarray | None,
                  groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole groups to validation, about ``fraction`` of the records: one fold of
    scikit-learn's ``StratifiedGroupKFold`` (class proportions kept as far as whole groups
    allow) or ``GroupKFold`` without classes, ``round(1 / fraction)`` folds (at least 2, at
    most one per group), shuffled by ``seed``. A single group cannot be split: no validation."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        import warnings

        warnings.warn(f"task.group_column: all {len(idx)} labelled records are in one group "
                      f"({groups[0]!r}); whole groups cannot be split, so there is no validation")
        return idx, np.zeros(0, np.int64)
    k = int(min(n_groups, max(2, round(1.0 / fraction))))
    if strata is not None:
        folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        train, val = next(folds.split(idx, strata, groups))
    else:
        folds = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        train, val = next(folds.split(idx, groups=groups))
    return np.sort(idx[train]), np.sort(idx[val])


def class_weights(option: Any, y_train: np.ndarray, n_classes: int) -> np.ndarray | None:
    """``balanced`` (scikit-learn's ``compute_class_weight``), a list of floats, or None.
    A class absent from the training split gets weight 1."""
    if option in (None, "none", False):
        return None
    if option == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(y_train)
        w = np.ones(n_classes)
        w[present] = compute_class_weight("balanced", classes=present, y=y_train)
        return w
    try:
        w = np.asarray(list(option), dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"task.class_weights must be null, 'balanced' or a list of {n_classes} "
                         f"floats; got {option!r}", key="task.class_weights") from None
    # NaN / inf or all zeros made the loss NaN at the first step ("stopped", after the setup)
    if w.shape != (n_classes,) or not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise UsageError(f"task.class_weights must hold {n_classes} finite non-negative floats (one "
                         f"per class, not all 0); got {[float(x) for x in w]}", key="task.class_weights")
    return w
