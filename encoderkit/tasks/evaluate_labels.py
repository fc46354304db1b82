"""Labels given to ``FineTuned.evaluate`` lined up with the records they score: labels in
memory (a Series, a DataFrame, an array) as a labels table, on a table's rows by their index
or on the records by position, a block of unnamed columns named after the run's targets /
labels, and whether a labels file is the data file itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from encoderkit.errors import DataError, UsageError
from encoderkit.tasks.spec import TaskSpec


def _same_path(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file (a labels file that is the data file itself)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _on_rows(labels: Any, index: Any) -> Any:
    """``labels`` (a Series, or a DataFrame without an ``id`` column) in the order of the
    table rows ``index`` by their own index, as pandas aligns; pairing them by position
    instead scored shuffled labels without a word. Other labels as they are."""
    import pandas as pd

    if not isinstance(labels, (pd.Series, pd.DataFrame)) or (
            isinstance(labels, pd.DataFrame) and "id" in map(str, labels.columns)):
        return labels
    if labels.index.equals(index):
        return labels
    if index.is_unique and labels.index.is_unique and len(labels) == len(index) \
            and labels.index.isin(index).all():
        return labels.loc[index]
    absent = [v for v in index[:1000] if v not in labels.index][:3]
    raise UsageError(f"the labels' index does not match the table's ({len(labels)} labels, {len(index)} "
                     f"rows{'; rows without a label of their index: ' + repr(absent) if absent else ''}): "
                     f"give labels indexed like the table, or labels.to_numpy() to pair them by position")


def _by_position(labels: Any) -> Any:
    """``labels`` given beside data without a row index (records, a store, a file), which
    pairs them with the records by position. A Series, or a DataFrame without an ``id``
    column, indexed other than 0..n-1 (a slice, a shuffle) has an index the caller means,
    and it lines up with nothing here: refused (it was scored by position without a word),
    as ``_on_rows`` refuses an index that does not match a table's. Other labels as they are."""
    import pandas as pd

    if not isinstance(labels, (pd.Series, pd.DataFrame)) or (
            isinstance(labels, pd.DataFrame) and "id" in map(str, labels.columns)):
        return labels
    if labels.index.equals(pd.RangeIndex(len(labels))):
        return labels
    raise UsageError(f"the labels' index is not 0..{len(labels) - 1} (it starts {list(labels.index[:3])!r}) "
                     f"and the data has no row index to line it up on: pass labels.to_numpy() (or "
                     f"labels.reset_index(drop=True)) to pair them with the records by position, or a "
                     f"DataFrame with an 'id' column to pair them by record id")


def _frame(labels: Any, spec: TaskSpec):
    """In-memory labels as a labels table: a DataFrame as it is; a Series under its name
    (a regression target is found by name); a 2-D array one column per target / label
    (``_unnamed_columns``); anything else one ``label`` column."""
    import pandas as pd

    if isinstance(labels, pd.DataFrame):
        return labels
    if isinstance(labels, pd.Series):
        name = labels.name if isinstance(labels.name, str) and labels.name not in ("id", "position") else "label"
        return pd.DataFrame({name: labels.to_numpy()})
    a = np.asarray(labels)
    if a.ndim == 2 and not spec.token_level:
        if a.shape[1] == 1 and spec.type != "multilabel" and len(spec.targets) <= 1:
            return pd.DataFrame({"label": a[:, 0]})
        if spec.type == "classification":
            raise UsageError(f"classification takes one label per record; the labels array has shape "
                             f"{a.shape}")
        block = pd.DataFrame(a, columns=[f"label_{j}" for j in range(a.shape[1])])
        return _unnamed_columns(block, spec, "labels (given in memory)")
    if a.ndim == 2:  # token labels: one row per record, one column per token (as a 2-D .npy)
        return pd.DataFrame(a, columns=[f"label_{j}" for j in range(a.shape[1])])
    if a.ndim != 1:
        raise UsageError(f"labels given as an array must be 1-D (or 2-D: one column per target or "
                         f"label); got shape {a.shape}")
    if spec.type == "regression" and len(spec.targets) > 1:
        raise UsageError(f"the labels array is 1-D, but the run has {len(spec.targets)} targets "
                         f"{spec.targets}: give a 2-D array of one column per target, in that order, or "
                         f"a DataFrame with columns named after them")
    return pd.DataFrame({"label": a})


def _unnamed_columns(frame: Any, spec: TaskSpec, file: str):
    """A 2-D block without column names (an array, a 2-D ``.npy``: ``label_0`` ..) for a
    regression run with several targets or a multilabel run: its columns are the run's
    targets / labels in the order the run lists them (``spec.targets`` / ``spec.classes``,
    as ``predict`` writes its columns); another width is refused. Other runs: as it is."""
    names = spec.targets if spec.type == "regression" else spec.classes if spec.type == "multilabel" else []
    width = frame.shape[1]
    unnamed = [str(c) for c in frame.columns] == [f"label_{j}" for j in range(width)]
    if not names or not unnamed or (spec.type == "regression" and len(names) == 1 and width == 1) \
            or list(names) == [str(c) for c in frame.columns]:
        return frame
    if width != len(names):
        what = "targets" if spec.type == "regression" else "labels"
        raise (UsageError if file.startswith("labels (") else DataError)(
            f"{width} unnamed label columns, but the run has {len(names)} {what} {list(names)}: give "
            f"one column per {what[:-1]}, in that order (or columns named after them)", file=file)
    return frame.set_axis(list(names), axis=1)
