"""A fine-tuning head's size against the labels it learns from.

Each class (classification) or label (multilabel) gets one output of the head, so a labels
file's number of distinct values sets the head's size. A column that is no label at all (an
id, free text), or a ``;`` set of per-record tags, makes that number grow with the records:
150 records holding 1,000 labels each gave a 150,000-output head (and a 150 x 150,000 label
block) that trained without a word on outputs that one record, or none, ever sees. Said
before training (``class_spread_note``), and refused before any allocation where the head,
or the 0/1 label block of a multilabel file, would not fit in this machine's memory
(``train/model_size.py``: the parameter count comes from a build on the ``meta`` device).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
from torch import nn

from encoderkit.errors import DataError
from encoderkit.tasks.spec import TaskSpec

MANY_CLASSES = "the task head has an output for each of"  # how that warning begins
# classes seen on a single labelled unit each, from which (when they are most of the classes)
# the warning is given: a handful of rare classes is an ordinary long tail, which the
# untrained-class and small-validation warnings already name one by one
MIN_SINGLETONS = 10
ENCODER_PREFIXES = ("embedder.", "encoder.")


def class_counts(spec: TaskSpec, y: Any, labelled: np.ndarray) -> tuple[np.ndarray, int]:
    """Labelled units (records, or tokens of a token task) of each class / label, and the
    number of labelled units."""
    from encoderkit.tasks.split_checks import unit_labels

    held = unit_labels(spec, y, np.flatnonzero(labelled))
    if spec.type == "multilabel":  # records holding each label
        return np.asarray(held, dtype=np.float64).sum(0).astype(np.int64), len(held)
    held = np.asarray(held, dtype=np.int64)
    held = held[held >= 0]
    return np.bincount(held, minlength=len(spec.classes)), len(held)


def class_spread_note(spec: TaskSpec, y: Any, labelled: np.ndarray, file: str,
                      head_parameters: int) -> str | None:
    """The warning for more classes / labels than labelled units, or for most of them
    (``MIN_SINGLETONS`` at least) held by one labelled unit each; None otherwise."""
    if spec.type not in ("classification", "token_classification", "multilabel") or not spec.classes:
        return None
    counts, units = class_counts(spec, y, labelled)
    what = "labels" if spec.type == "multilabel" else "classes"
    unit = "token" if spec.token_level else "record"
    n, once = len(spec.classes), int((counts == 1).sum())
    if n > units:
        rare = ""
    elif once >= MIN_SINGLETONS and 2 * once > n:
        rare = f", {once:,} of them held by one labelled {unit} each"
    else:
        return None
    shown = ", ".join(repr(c) for c in spec.classes[:3]) + (", ..." if n > 3 else "")
    source = f" of {file}" if file else ""
    return (f"{MANY_CLASSES} {n:,} {what} ({shown}) over {units:,} labelled {unit}s{source}{rare}: "
            f"outputs ({head_parameters:,} head parameters) that one {unit} or none cannot train, "
            f"and metrics over them say little; check that the labels are the right column (not "
            f"an id or free text: task.label_names), or merge the rare {what}")


def check_label_block(records: int, labels: int, file: str) -> None:
    """Before a multilabel file's ``[records, labels]`` 0/1 block (float64) is made: a
    ``DataError`` naming the file where it would not fit in this machine's memory."""
    from encoderkit.train.model_size import memory_bytes

    need, have = records * labels * 8, memory_bytes()
    if have is not None and need > have:
        raise DataError(f"{labels:,} distinct labels over {records:,} records make a label block of "
                        f"{need / 1e9:.1f} GB, more than this machine's {have / 1e9:.1f} GB of memory: "
                        f"check that the labels are the right column (task.label_names)", file=file)


def build_task_model(build: Callable[[], nn.Module], spec: TaskSpec, y: Any, labelled: np.ndarray,
                     file: str, say: bool, check: Callable[[nn.Module], None] | None = None) -> nn.Module:
    """``build()`` (a ``TaskModel``) once its size is known from a ``meta`` build: the spread
    of the classes over the labelled records said when ``say`` (the main rank), and a
    ``DataError`` naming the labels file, before any allocation, where the model with its
    head would not fit in memory. ``check`` is given the ``meta`` model first (the
    pretrained checkpoint's weights compared with the encoder its state.json describes:
    a false claim is refused before it is built, or taken for a head too large)."""
    from encoderkit.train.model_size import allocation, meta_parameters, size_problem, size_text

    model, parameters = meta_parameters(build)
    if check is not None:
        check(model)
    head = sum(p.numel() for name, p in model.named_parameters() if not name.startswith(ENCODER_PREFIXES))
    del model
    if say:
        note = class_spread_note(spec, y, labelled, file, head)
        if note:
            warnings.warn(note, stacklevel=3)
    problem = size_problem(parameters)
    if problem:
        what = "labels" if spec.type == "multilabel" else "classes" if spec.classes else "outputs"
        raise DataError(f"{spec.num_outputs:,} {what} give the task head {size_text(head)}: {problem}; "
                        f"check that the labels are the right column (task.label_names)", file=file)
    with allocation(parameters, lambda message: DataError(message, file=file)):
        return build()
