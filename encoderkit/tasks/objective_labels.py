"""``TaskObjective``'s labels (``TaskLabels``): a ``task.label_column`` read from the store
(``_column_labels``), the labels encoded for the task, with the classes, kind and targets
recorded in the ``TaskSpec`` (``_encode``), and regression targets standardised with the
training split's statistics (``_standardise``), a constant target said aloud
(``constant_targets_said``). Split out of ``encoderkit/tasks/objective.py`` (the
objective), so each module keeps one job; the labels themselves: ``tasks/labels.py``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from encoderkit.errors import DataError, UsageError
from encoderkit.session_state import warnings_kept
from encoderkit.tasks import labels as L
from encoderkit.tasks.spec import CLASSIFICATION_TASKS, TaskSpec

if TYPE_CHECKING:
    from encoderkit.train.trainer import Trainer


class TaskLabels:
    """``TaskObjective``'s reading and encoding of its labels (sets ``file``, ``y_model``;
    ``_standardise`` reads ``y``, ``train_indices`` and ``trainer``)."""

    def _column_labels(self, trainer: Trainer, column: str) -> L.Labels:
        from encoderkit.registry import get_domain

        domain, store = trainer.domain, trainer.store
        try:
            values = L.column_values(domain, store, column)
        except NotImplementedError as e:
            raise UsageError(str(e), key="task.label_column") from None
        except DataError as e:
            raise DataError(e.message, key="task.label_column", file=trainer.cfg.data.store) from None
        except KeyError as e:
            raise UsageError(f"task.label_column={column!r}: {e.args[0] if e.args else e}",
                             key="task.label_column", file=trainer.cfg.data.store) from None
        options = {**domain.options, "drop_columns": sorted({*domain.options.get("drop_columns", []), column})}
        trainer.domain = get_domain(domain.name)(domain.schema, **options)
        labelled = np.asarray([not L.is_missing(v) for v in values], dtype=bool)
        self.file = f"{trainer.cfg.data.store} (column {column!r})"
        return L.Labels(values=values, labelled=labelled, names=[column], file=self.file)

    def _encode(self, spec: TaskSpec, labels: L.Labels) -> tuple[Any, np.ndarray | None]:
        t = spec.type
        strata = None
        if t in CLASSIFICATION_TASKS and len(labels.names) > 1:
            raise UsageError(f"{t} takes one label column; {labels.file} has {labels.names} (name a "
                             f"`label` column, or choose one with task.label_names=[<column>])",
                             key="task.label_names")
        if t in CLASSIFICATION_TASKS:
            spec.classes = L.class_names(labels, spec.token_level)
            L.case_variants_said(spec.classes, labels.file)
            if len(spec.classes) < 2 and t != "supervised_contrastive":
                raise DataError(f"classification needs at least two classes; the labels hold "
                                f"{spec.classes}", file=labels.file)
            spec.class_kind = L.class_kind(labels, spec.classes, spec.token_level)
            y = L.encode_classes(labels, spec.classes, spec.token_level)
            if not spec.token_level:
                strata = y
            self.y_model = y
        elif t == "multilabel":
            y, spec.classes = L.encode_multilabel(labels)
            L.case_variants_said(spec.classes, labels.file)
            self.y_model = y
        elif t in ("regression", "token_regression"):
            y = L.encode_regression(labels, self.ids, spec.token_level)
            spec.targets = list(labels.names) if not spec.token_level else [labels.names[0]]
            self.y_model = y
        else:  # contrastive: no labels
            y = None
            self.y_model = None
        return y, strata

    def _standardise(self, spec: TaskSpec) -> None:
        """Regression targets standardised with train-split statistics (loss in standard units);
        a constant target (``standard_units``) keeps std 0, so it is predicted exactly."""
        if spec.token_level:
            block = np.concatenate([self.y[i] for i in self.train_indices])
        else:
            block = self.y[self.train_indices]
        mean, std, divisor = standard_units(block)
        if self.trainer.info.is_main:  # every rank holds the same labels: said once
            constant_targets_said(spec, np.asarray(block, dtype=np.float64).reshape(len(block), -1),
                                  np.atleast_1d(std) == 0, np.atleast_1d(mean), self.file)
        spec.mean, spec.std = [float(x) for x in np.atleast_1d(mean)], [float(x) for x in np.atleast_1d(std)]
        if spec.token_level:
            self.y_model = [(v - mean) / divisor for v in self.y]
        else:
            self.y_model = (self.y - mean) / divisor




def standard_units(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target (axis 0 of ``block``, NaN ignored): the ``mean`` and ``std`` that
    ``to_prediction`` maps the head's outputs back with (``output * std + mean``), and the
    ``divisor`` the training targets are standardised by. A constant target (every finite value
    the same number: its computed std is float rounding, ~1e-16 of the value, and any share of
    the magnitude as a threshold took real targets for constants, 1e15 + 100 N(0,1) among them:
    labels are standardised in float64) gets std 0 and, as its mean, its value
    itself (the mean of a repeated 0.1 is 0.10000000000000002): it is predicted exactly,
    whatever the head outputs (std 1 in its place predicted 2**-30 in [-0.13, 0.07]); its
    divisor is 1 (no division by 0). A target with no finite value: mean 0, std 1."""
    from encoderkit.numerics import finite_mean_std

    values = np.asarray(block, dtype=np.float64)
    mean, std = finite_mean_std(values, axis=0)  # targets beyond ~1e154 reached the loss as inf
    mean, std = np.atleast_1d(mean), np.atleast_1d(std)
    known = np.isfinite(mean) & np.isfinite(std)
    rows = values.reshape(len(values), -1)
    finite = np.where(np.isfinite(rows), rows, np.nan)
    with np.errstate(invalid="ignore"), warnings_kept():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: not flat
        lowest = np.atleast_1d(np.nanmin(finite, axis=0)).reshape(mean.shape)
        highest = np.atleast_1d(np.nanmax(finite, axis=0)).reshape(mean.shape)
    flat = known & (lowest == highest)
    mean = np.where(flat, lowest, mean)
    std = np.where(flat, 0.0, np.where(known, std, 1.0))
    mean = np.where(np.isfinite(mean), mean, 0.0)
    divisor = np.where(std > 0, std, 1.0)
    shape = values.shape[1:]  # one figure per target, as the mean along axis 0
    return mean.reshape(shape), std.reshape(shape), divisor.reshape(shape)


CONSTANT_TARGET = "regression target"  # how that warning begins
# the warning itself, as a warnings filter matches it (ensemble members skip it; another
# warning beginning "regression target" is still shown)
CONSTANT_TARGET_SAID = r"(?s)regression target .* has one value \(.*\) among all its training labels"


def constant_targets_said(spec: TaskSpec, block: np.ndarray, flat: np.ndarray, value: np.ndarray,
                          file: str) -> None:
    """Warn, naming it, of a target with one value among its training labels (``flat``, the
    rule of ``standard_units``; ``value`` that value): it has nothing to learn, its R^2 is
    undefined (scikit-learn reports 0 or 1), and it is predicted as that value exactly."""
    names = spec.targets if len(spec.targets) == block.shape[1] else [str(j) for j in range(block.shape[1])]
    for j, name in enumerate(names):
        if j < len(flat) and flat[j]:
            warnings.warn(f"{CONSTANT_TARGET} {name!r} has one value ({value[j]:g}) among all its "
                          f"training labels ({file}): there is nothing to learn, its R^2 is undefined "
                          f"(reported as 0 or 1) and it is predicted as that value exactly (its std is "
                          f"stored as 0); check the labels column", stacklevel=3)
