"""``FineTuned.evaluate``'s scoring: the true labels of the labelled records (or tokens) in
the model's encoding / original units beside the model's outputs there, and the task metrics
of the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from encoderkit.errors import DataError
from encoderkit.tasks import labels as L
from encoderkit.tasks.metrics import task_metrics
from encoderkit.tasks.spec import TaskSpec
from encoderkit.tasks.token_range import check_token_range


def _scored(spec: TaskSpec, table: L.Labels, values: list[np.ndarray],
            ids: list[str]) -> tuple[dict[str, float], np.ndarray]:
    """(task metrics of the labelled records of ``table``, with their count, ``records``; the
    true labels scored)."""
    y_true, y_values = _truth(spec, table, values, ids)
    # per target by name (a subset too, label_names=): rmse/<target>, ... beside the means
    metrics = task_metrics(spec, y_true, y_values, names=table.names if spec.type == "regression" else None)
    metrics["records"] = int(np.asarray(table.labelled).sum())
    return metrics, y_true


def _truth(spec: TaskSpec, table: L.Labels, outs: list[np.ndarray], ids: list[str]):
    """Labelled units: (true labels in the model's encoding / original units, the model's
    outputs ``outs`` at those units)."""
    t = spec.type
    if t in ("classification", "token_classification"):
        coder = L.class_coder({c: i for i, c in enumerate(spec.classes)}, spec.class_kind)

        def code(x: Any) -> int:
            if L.is_missing(x):
                return -1
            i = coder(x)  # by value where the classes are numbers
            if i is None:
                raise DataError(L.class_mismatch(x, spec.classes, spec.class_kind), file=table.file)
            return i
    if spec.token_level:
        ys, os_ = [], []
        for r, (v, ok) in enumerate(zip(table.values, table.labelled)):
            if not ok:
                continue
            out = outs[r]
            check_token_range(table, r, ids, len(out))  # finetune's check (tasks/token_range.py)
            v = v[:len(out)]  # past the last token: no label (checked)
            if t == "token_classification":
                y = np.asarray([code(x) for x in v])
                ok_t = y >= 0
            else:
                y = np.asarray([L._number(x, table.file, f"record {ids[r]!r}") for x in v])[:, None]
                ok_t = ~np.isnan(y[:, 0])
            ys.append(y[ok_t]), os_.append(out[:len(v)][ok_t])
        if not ys:
            return np.zeros(0), np.zeros((0, spec.num_outputs))
        return np.concatenate(ys), np.concatenate(os_)
    rows = np.flatnonzero(table.labelled)
    out = np.stack([outs[r] for r in rows]) if rows.size else np.zeros((0, spec.num_outputs))
    if t == "classification":
        return np.asarray([code(table.values[r]) for r in rows], dtype=np.int64), out
    if t == "multilabel":
        y, names = L.encode_multilabel(table)
        if names != spec.classes:
            unknown = [c for c in names if c not in spec.classes]
            if unknown:  # a label the model has no output for: nothing to score it against
                raise DataError(f"label {unknown[0]!r} is not a class of this model ({spec.classes})",
                                file=table.file)
            absent = [c for c in spec.classes if c not in names]
            if absent and len(table.names) > 1:
                # 0/1 columns: a class without its column is not "never present", it is not given
                raise DataError(f"the labels have no column for class {absent[0]!r} (classes of this "
                                f"model: {spec.classes}; columns: {list(table.names)})", file=table.file)
            pos = {c: i for i, c in enumerate(names)}
            y = np.stack([y[:, pos[c]] if c in pos else np.zeros(len(y)) for c in spec.classes], 1)
        return y[rows], out
    y = L.encode_regression(table, np.asarray(ids, dtype=object), False)
    if len(spec.targets) > 1:  # the columns found by name (L.target_columns), a subset too
        out = out[:, [spec.targets.index(n) for n in table.names]]
    return y[rows], out
