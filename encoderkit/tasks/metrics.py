"""Task metrics from scikit-learn: accuracy, macro-F1, AUROC (binary / one-vs-rest), MCC
for classification; RMSE, MAE, R^2 (original units) for regression. With several targets
``rmse`` / ``mae`` / ``r2`` are the unweighted means over targets (RMSEs of targets in
different units mixed into one number: read the per-target ``rmse/<target>`` keys beside
them; ``best/`` is chosen on a scale-free figure, ``objective.selection_value``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from encoderkit.tasks.spec import TaskSpec

# the validation metric that picks the best checkpoint when task.metric=auto, and its direction
PRIMARY = {"classification": "macro_f1", "token_classification": "macro_f1",
           "multilabel": "macro_f1", "regression": "r2", "token_regression": "r2",
           "contrastive": "loss", "supervised_contrastive": "loss"}
LOWER_IS_BETTER = ("loss", "rmse", "mae")
# what validation reports per task type: the names task.metric may choose from
_CLASSES = ("loss", "accuracy", "macro_f1", "mcc", "auroc")
_VALUES = ("loss", "rmse", "mae", "r2")
METRICS = {"classification": _CLASSES, "token_classification": _CLASSES,
           "multilabel": ("loss", "accuracy", "macro_f1", "auroc"), "regression": _VALUES,
           "token_regression": _VALUES, "contrastive": ("loss", "retrieval_top1"),
           "supervised_contrastive": ("loss",)}


def primary_metric(spec: TaskSpec) -> str:
    return PRIMARY[spec.type] if spec.metric in (None, "auto") else spec.metric


def better(metric: str, new: float, old: float | None) -> bool:
    if old is None or (isinstance(old, float) and math.isnan(old)):
        return not math.isnan(new)
    return new < old if metric in LOWER_IS_BETTER else new > old


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

    n_classes = proba.shape[1]
    pred = proba.argmax(1)
    labels = np.arange(n_classes)
    # one class in both the truth and the predictions (a validation split without the rare
    # class): MCC is undefined, as AUROC below, rather than scikit-learn's 0 and its warning
    # about the confusion matrix's shape
    single = np.unique(np.concatenate([y, pred])).size < 2
    out = {"accuracy": float(accuracy_score(y, pred)),
           "macro_f1": float(f1_score(y, pred, labels=np.unique(y), average="macro", zero_division=0)),
           "mcc": float(matthews_corrcoef(y, pred)) if len(y) > 1 and not single else float("nan")}
    present = np.unique(y)
    try:
        if n_classes == 2 and len(present) == 2:
            out["auroc"] = float(roc_auc_score(y, proba[:, 1]))
        elif n_classes > 2 and len(present) == n_classes:
            out["auroc"] = float(roc_auc_score(y, proba, multi_class="ovr", labels=labels))
        else:  # a class missing from y: AUROC is undefined
            out["auroc"] = float("nan")
    except ValueError:
        out["auroc"] = float("nan")
    return out


def multilabel_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    pred = (proba >= 0.5).astype(int)
    out = {"accuracy": float(accuracy_score(y, pred)),  # exact match of the whole label set
           "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0))}
    ok = [j for j in range(y.shape[1]) if len(np.unique(y[:, j])) == 2]
    out["auroc"] = float(np.mean([roc_auc_score(y[:, j], proba[:, j]) for j in ok])) if ok else float("nan")
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray,
                       names: Sequence[str] | None = None) -> dict[str, float]:
    """Per target over its observed values, then the mean over targets; with several
    targets and their ``names``, also each target's own ``rmse/<name>``, ``mae/<name>``,
    ``r2/<name>`` (a mean of RMSEs in different units hides which target is predicted)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y = y.reshape(len(y), -1)
    pred = pred.reshape(len(pred), -1)
    nan = float("nan")
    per: list[tuple[float, float, float]] = []
    for j in range(y.shape[1]):
        ok = ~np.isnan(y[:, j])
        if not ok.any():
            per.append((nan, nan, nan))
            continue
        per.append((math.sqrt(mean_squared_error(y[ok, j], pred[ok, j])),
                    float(mean_absolute_error(y[ok, j], pred[ok, j])),
                    float(r2_score(y[ok, j], pred[ok, j])) if ok.sum() > 1 else nan))
    seen = [p for j, p in enumerate(per) if (~np.isnan(y[:, j])).any()]
    out = {m: float(np.mean([p[k] for p in seen])) if seen else nan
           for k, m in enumerate(("rmse", "mae", "r2"))}
    if names is not None and len(names) == y.shape[1] and y.shape[1] > 1:
        for name, p in zip(names, per):
            out.update({f"{m}/{name}": float(v) for m, v in zip(("rmse", "mae", "r2"), p)})
    return out


def task_metrics(spec: TaskSpec, y: np.ndarray, outputs: np.ndarray,
                 names: Sequence[str] | None = None) -> dict[str, float]:
    """``y``: class indices / 0-1 indicators / original-unit targets of labelled units;
    ``outputs``: probabilities (classification) or predictions in original units;
    ``names``: the regression targets of ``y``'s columns (default: the run's targets)."""
    if len(y) == 0:
        return {}
    if spec.type in ("classification", "token_classification"):
        return classification_metrics(y, outputs)
    if spec.type == "multilabel":
        return multilabel_metrics(y, outputs)
    if spec.type in ("regression", "token_regression"):
        return regression_metrics(y, outputs, spec.targets if names is None else names)
    return {}


def _number(v: float) -> str:
    """4 decimals, or 4 significant digits where decimals hide the value (a regression's
    rmse of targets ~1e-12 printed 0.0000) or bury it (1e12: 862855349362.7355)."""
    return f"{v:.4f}" if v == 0 or not np.isfinite(v) or 1e-3 <= abs(v) < 1e6 else f"{v:.4g}"


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    """``{column: {metric: value}}`` -> a plain text table, one metric per line."""
    metrics: list[str] = []
    for r in rows.values():
        metrics += [m for m in r if m not in metrics]
    cols = list(rows)
    width = max([len(m) for m in metrics] + [6])
    cw = max([len(c) for c in cols] + [10])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{c:>{cw}}" for c in cols)]
    for m in metrics:
        cells = []
        for c in cols:
            v = rows[c].get(m)
            cells.append(f"{_number(v):>{cw}}" if isinstance(v, (int, float)) else f"{'-':>{cw}}")
        lines.append(f"{m:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
