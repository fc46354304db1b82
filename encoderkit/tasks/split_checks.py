"""What the fine-tuning run says of its splits before training, and how much a validation
figure can be trusted: a class the training split lacks (``untrained_classes``), a small or
lopsided validation split (``small_validation``), and the tie band of best/ from the number
of labelled units the validation metrics are over (``selection_tolerance``, ``labelled_units``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from encoderkit.tasks.metrics import auroc_note_of, one_valued_labels
from encoderkit.tasks.spec import CLASS_TASKS, TaskSpec

# Fewer validation records than this draw a warning: one record then moves accuracy by 5
# points or more, and a fraction metric's standard error (0.5 / sqrt(n), as in
# ``selection_tolerance``) is above 0.11, so the summary's metrics and the best/ checkpoint
# chosen on them say little.
MIN_VAL_RECORDS = 20
SMALL_VALIDATION = "the validation split holds"  # how that warning begins (ensemble members skip it)


UNTRAINED_CLASS = "no training record of class"  # how that warning begins (ensemble members skip it)
TEST_AUROC = "test_auroc of the test split"  # how that warning begins (ensemble members skip it)


def _class_counts(spec: TaskSpec, y: Any, indices: np.ndarray) -> np.ndarray:
    """Labelled units (records, or tokens of a token task) of each class among ``indices``."""
    if not len(indices):
        return np.zeros(len(spec.classes), np.int64)
    held = y[indices] if not spec.token_level else np.concatenate([y[i] for i in indices])
    held = np.asarray(held, dtype=np.int64)
    return np.bincount(held[held >= 0], minlength=len(spec.classes))


def untrained_classes(spec: TaskSpec, y: Any, parts: dict[str, np.ndarray], labelled: np.ndarray,
                      split: str | None) -> tuple[list[int], str | None]:
    """Classes with no record in the training split (``parts["training"]``), and the warning
    naming each with the parts that lack it and where its records are: such a class gets an
    output (``proba_<class>``) that never sees an example, so the model cannot predict it and
    the metrics of the parts that hold it drop without a word (the classes come from every
    labelled record: the validation and test splits' and, with ``task.split``, those of
    records in no split)."""
    counts = {name: _class_counts(spec, y, idx) for name, idx in parts.items()}
    placed = np.concatenate([np.asarray(v, dtype=np.int64) for v in parts.values()])
    rest = np.setdiff1d(np.flatnonzero(labelled), placed)
    if rest.size:
        counts["no split"] = _class_counts(spec, y, rest)
    missing = [k for k in range(len(spec.classes)) if counts["training"][k] == 0]
    if not missing:
        return [], None
    unit = "token" if spec.token_level else "record"
    said = []
    for k in missing[:5]:
        lacks = [name for name, idx in parts.items()
                 if (name == "training" or len(idx)) and counts[name][k] == 0]
        held = [f"{int(c[k])} in {'no split' if name == 'no split' else 'the ' + name + ' split'}"
                + (" (labelled, but marked neither train, val nor test in the split file)"
                   if name == "no split" else "") for name, c in counts.items() if c[k]]
        said.append(f"{spec.classes[k]!r} (not in the {' and '.join(lacks)} split"
                    f"{'s' if len(lacks) > 1 else ''}; its labelled {unit}s: {', '.join(held)})")
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    how = (f"mark some of its records train in the split file ({split})" if split else
           "label more records of it, or leave its records out of the labels")
    return missing, (f"{UNTRAINED_CLASS}{'es' if len(missing) > 1 else ''} {'; '.join(said)}{more}: "
                     f"the model has an output for it that never sees an example, so it never "
                     f"predicts it and the metrics of the splits that hold it count every such "
                     f"{unit} wrong; {how}")


def small_validation(spec: TaskSpec, y: Any, val_indices: np.ndarray, n_labelled: int,
                     val_fraction: float, split: str | None,
                     untrained: Sequence[int] = ()) -> str | None:
    """The warning for a validation split of fewer than ``MIN_VAL_RECORDS`` records, or
    (classification) one without a record of some class, which auroc leaves out and
    which skews the others, or (multilabel) one where a label has one value (all 0 or
    all 1), which auroc leaves out too; None for a split that is none of these. Says how to give it more records:
    a ``task.val_fraction`` that reaches ``MIN_VAL_RECORDS``, or a ``task.split`` file.
    ``untrained``: classes the training split lacks too, named by ``untrained_classes``'
    warning (training first), not blamed on the validation split alone here."""
    n = len(val_indices)
    absent: list[str] = []
    if spec.type in CLASS_TASKS and n:
        seen = set(np.flatnonzero(_class_counts(spec, y, val_indices)).tolist())
        absent = [str(c) for k, c in enumerate(spec.classes) if k not in seen and k not in set(untrained)]
    flat: list[str] = []  # multilabel: labels of one value in the split, with that value
    if spec.type == "multilabel" and n:
        held = np.asarray(y)[val_indices]
        flat = [f"{spec.classes[j]!r} (all {int(held[0, j])})" for j in one_valued_labels(held)]
    if n >= MIN_VAL_RECORDS and not absent and not flat:
        return None
    # a contrastive task has no labels: every record of the store takes part
    pool = "records" if spec.contrastive else "labelled"
    what = f"{SMALL_VALIDATION} {n} record{'' if n == 1 else 's'} (of {n_labelled} {pool})"
    if absent:
        shown = ", ".join(map(repr, absent[:5])) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        what += f" and no record of class {shown}"
    if flat:
        shown = ", ".join(flat[:5]) + (f" and {len(flat) - 5} more" if len(flat) > 5 else "")
        what += (f" where {len(flat)} of the {len(spec.classes)} labels ha{'ve' if len(flat) > 1 else 's'} "
                 f"one value: {shown}")
    why = "; ".join((["its metrics, in the summary and in the choice of the best checkpoint (best/), "
                      "are noisy at that size"] if n < MIN_VAL_RECORDS else [])
                    + (["auroc leaves the class out (one-vs-rest over the classes present, undefined with one) "
                        "and the other metrics miss it"]
                       if absent else [])
                    + ([f"auroc leaves {'those labels' if len(flat) > 1 else 'that label'} out (its val_auroc "
                        f"is the mean over the {len(spec.classes) - len(flat)} labels with both values"
                        f"{', undefined with none' if len(flat) == len(spec.classes) else ''})"]
                       if flat else []))
    if split:
        how = (f"mark more records val in the split file ({split}), or leave task.split out and "
               "set task.val_fraction")
    else:
        need = math.ceil(MIN_VAL_RECORDS * 100 / max(n_labelled, 1)) / 100
        how = (f"set task.val_fraction={need:g} (now {val_fraction:g}) for about {MIN_VAL_RECORDS} "
               f"validation records" if need <= 0.5 else
               f"{'add records to the store' if spec.contrastive else 'label more records'}, "
               f"or raise task.val_fraction (now {val_fraction:g}; 0.5 gives about "
               f"{n_labelled // 2}, and as many fewer to train on)")
        how += ", or choose the validation records with task.split=<file> (columns id, split: train / val / test)"
    return f"{what}: {why}; for more, {how}"


# metrics that are fractions of validation units (higher is better): their sampling noise
# is known, at most 0.5 / sqrt(n) (a binomial proportion's standard error at p = 0.5)
FRACTION_METRICS = ("accuracy", "macro_f1")


def selection_tolerance(metric: str, n_val: int) -> float:
    """How far below the best so far a later evaluation may be and still become best/: one
    standard error of a fraction metric on ``n_val`` labelled units (``labelled_units``:
    records, or the labelled tokens of a token task; 0.19 for 7, 0.05 for 100, 0.016 for
    1,000); 0 for other metrics (their scale is the task's)."""
    if metric not in FRACTION_METRICS or n_val < 1:
        return 0.0
    return 0.5 / math.sqrt(n_val)


def unit_labels(spec: TaskSpec, y: Any, indices: np.ndarray) -> np.ndarray:
    """The labels of the labelled units of the records ``indices`` (which hold labelled
    records), as the metrics of those records see them: one per record, or for a token task
    one per labelled token (a token-level accuracy on 40 records of 500 tokens is a fraction
    of 20,000, not of 40)."""
    if not spec.token_level:
        return np.asarray(y)[np.asarray(indices, dtype=np.int64)]
    parts = [np.asarray(y[i]) for i in indices]
    if spec.type == "token_classification":
        return np.concatenate([p[p >= 0] for p in parts]) if parts else np.zeros(0, np.int64)
    kept = [p.reshape(len(p), -1) for p in parts]
    return (np.concatenate([p[~np.isnan(p.astype(np.float64)).all(-1)] for p in kept])
            if kept else np.zeros((0, 1)))


def labelled_units(spec: TaskSpec, y: Any, indices: np.ndarray) -> int:
    """How many labelled units the metrics of the records ``indices`` are over (``unit_labels``);
    the records themselves for a task without labels (contrastive)."""
    return len(indices) if y is None else len(unit_labels(spec, y, indices))


def test_auroc_note(spec: TaskSpec, y: Any, test_indices: np.ndarray) -> str | None:
    """The warning that the test split's ``test_auroc`` (in metrics.jsonl and the summary)
    leaves classes or labels out (``auroc_note_of``: a class without a labelled unit there,
    a label of one value), or is NaN; None when it is over all of them."""
    note = auroc_note_of(spec, unit_labels(spec, y, test_indices))
    if not note:
        return None
    n = len(test_indices)
    return f"{TEST_AUROC} ({n} record{'' if n == 1 else 's'}): {note.removeprefix('auroc: ')}"
