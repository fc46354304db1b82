"""Which labelled records train and which validate: a split file (``read_split``), groups
kept whole on one side (``read_groups``, ``split_labelled``), and class weights for an
imbalanced training split (``class_weights``). Part of the labels API of
``encoderkit/tasks/labels.py`` (its module doc describes the rules), split out so each
module keeps one job.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from encoderkit.errors import DataError, UsageError
from encoderkit.tasks.label_align import _row_no, find_record, record_index
from encoderkit.tasks.label_files import check_series_file, counts_header, id_texts, is_missing, read_table


def read_split(path: str, ids: np.ndarray, labelled: np.ndarray | None = None) -> np.ndarray:
    """A file with ``id, split`` (train / val / test) -> per record split name ('' = none).

    An empty split cell (a CSV's ``row1,``, a Parquet None / NaN) puts its record in no
    split, as a record without a row is (neither trained, validated nor tested on), and as
    an empty label leaves a record unlabelled; the rows are counted in a warning. The cells
    are read one by one: ``astype(str)`` kept a missing one as NaN under pandas 3's string
    dtype, which ``strip`` then failed on (a traceback). ``labelled``: the records with a
    label; those without a row in the file are counted in a warning too (they were left out
    without a word)."""
    frame = read_table(path)
    for c in ("id", "split"):
        if c not in frame.columns:
            raise DataError(f"a split file needs columns id and split; missing {c!r}", file=path)
    where = record_index(ids)
    out = np.full(len(ids), "", dtype=object)
    aliases = {"validation": "val", "valid": "val", "dev": "val"}
    header = counts_header(path, frame)
    blank: list[int] = []
    seen = np.zeros(len(ids), dtype=bool)
    for i, (rid, cell) in enumerate(zip(id_texts(frame["id"], path, header), frame["split"].tolist())):
        r = find_record(where, rid, _row_no(i, header), ids, path)
        seen[r] = True
        if is_missing(cell):
            blank.append(_row_no(i, header))
            out[r] = ""
            continue
        s = str(cell).strip().lower()
        s = aliases.get(s, s)
        if s not in ("train", "val", "test"):
            raise DataError(f"row {_row_no(i, header)}: split {s!r} must be train, val or test", file=path)
        out[r] = s
    if blank:
        rows = ", ".join(map(str, blank[:5])) + (f" and {len(blank) - 5} more" if len(blank) > 5 else "")
        rows = f"row{'s' if len(blank) > 1 else ''} {rows}"
        warnings.warn(f"{path}: {len(blank)} row(s) with an empty split cell ({rows}): their "
                      f"records are in no split (neither trained, validated nor tested on), as a "
                      f"record without a row; write train, val or test there to use them", stacklevel=2)
    if labelled is not None and (missing := np.flatnonzero(np.asarray(labelled, dtype=bool) & ~seen)).size:
        shown = ", ".join(repr(str(ids[r])) for r in missing[:5]) + (" ..." if missing.size > 5 else "")
        warnings.warn(f"{path}: {missing.size} labelled record(s) have no row ({shown}): they are in no "
                      f"split (neither trained, validated nor tested on); add a row with train, val or "
                      f"test to use them", stacklevel=2)
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
