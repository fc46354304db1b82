"""Task metrics: from scikit-learn accuracy, macro-F1, AUROC (binary / one-vs-rest), MCC
for classification; RMSE, MAE, R^2 (original units) for regression, scikit-learn's
definitions computed on scaled values so that no label scale over- or underflows. Macro-F1 is the mean F1
over the classes in the truth or in the predictions (scikit-learn's ``average="macro"``: a
class the model predicts but the labels lack counts, with F1 0); AUROC is the mean of the
one-vs-rest AUROCs of the classes with a labelled record (a class without one has no
positive to rank: ``absent_classes`` names it), NaN with fewer than two such classes.
Multilabel: macro-F1 over the labels set in the truth or in the predictions, as for classes
(a label neither holds counted F1 0: a perfect prediction scored 0.5 with half the labels
absent); AUROC the mean of the per-label AUROCs of the labels with both values among the
rows (``one_valued_labels`` names the others, ``multilabel_auroc_note`` says so).
With several targets ``rmse`` / ``mae`` / ``r2`` are the unweighted means over targets
(RMSEs of targets in different units mixed into one number: read the per-target
``rmse/<target>`` keys beside them; ``format_table`` labels the headline rows so, the keys
stay ``rmse`` / ``mae`` / ``r2``; ``best/`` is chosen on a scale-free figure,
``objective.selection_value``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from encoderkit.tasks.spec import CLASS_TASKS, TaskSpec

# the validation metric that picks the best checkpoint when task.metric=auto, and its direction
PRIMARY = {"classification": "macro_f1", "token_classification": "macro_f1",
           "multilabel": "macro_f1", "regression": "r2", "token_regression": "r2",
           "contrastive": "loss", "supervised_contrastive": "loss"}
LOWER_IS_BETTER = ("loss", "rmse", "mae")
# what validation reports per task type: the names task.metric may choose from
_CLASSES = ("loss", "accuracy", "macro_f1", "mcc", "auroc")
_VALUES = ("loss", "rmse", "mae", "r2")
# rankme (contrastive tasks): the effective rank of the validation records' standardised
# embeddings, label-free, higher is better (tasks/rankme.py); task.metric=rankme also makes
# the starting model a best/ candidate (objective_best.START_CANDIDATE_METRICS). Opt-in:
# measured on 12 runs of 6 tasks, its gain came from one task (README, "Fine-tuning")
METRICS = {"classification": _CLASSES, "token_classification": _CLASSES,
           "multilabel": ("loss", "accuracy", "macro_f1", "auroc"), "regression": _VALUES,
           "token_regression": _VALUES, "contrastive": ("loss", "retrieval_top1", "rankme"),
           "supervised_contrastive": ("loss", "rankme")}


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


def absent_classes(y: np.ndarray, n_classes: int) -> list[int]:
    """The class indices below ``n_classes`` without a labelled unit in ``y``: left out of
    ``classification_metrics``' AUROC."""
    return sorted(set(range(n_classes)) - set(np.unique(y).tolist()))


def auroc_note(y: np.ndarray, classes: Sequence[str], unit: str = "record") -> str | None:
    """One line saying which classes ``classification_metrics``' AUROC of the labels ``y``
    (class indices into ``classes``, one per labelled ``unit``: record or token) leaves out,
    or why it is NaN; None when every class has a labelled unit. Without it a bare "auroc
    nan" reads as a failure, and a figure over fewer classes as the full one-vs-rest score."""
    absent = absent_classes(y, len(classes))
    if not absent or len(y) == 0:
        return None
    present = sorted(set(range(len(classes))) - set(absent))
    if len(present) < 2:
        only = f"class {classes[present[0]]!r}" if present else "no class"
        return f"auroc: undefined, every labelled {unit} is of {only} (it needs two classes to rank)"
    names = ", ".join(repr(str(classes[k])) for k in absent[:5]) + (
        f" and {len(absent) - 5} more" if len(absent) > 5 else "")
    many = len(absent) > 1
    return (f"auroc: one-vs-rest over the {len(present)} classes with a labelled {unit}; class"
            f"{'es' if many else ''} {names} ha{'ve' if many else 's'} none and "
            f"{'are' if many else 'is'} left out")


def one_valued_labels(y: np.ndarray) -> list[int]:
    """The label columns of the 0/1 indicators ``y`` (``[N, L]``) with one value in every
    row (all 0 or all 1): nothing to rank, so ``multilabel_metrics``' AUROC leaves them out."""
    y = np.asarray(y).reshape(len(y), -1)
    return [j for j in range(y.shape[1]) if len(np.unique(y[:, j])) < 2]


def multilabel_auroc_note(y: np.ndarray, labels: Sequence[str], unit: str = "record") -> str | None:
    """One line saying how many and which labels ``multilabel_metrics``' AUROC of the
    indicators ``y`` (one row per labelled ``unit``) leaves out, each with the one value it
    has there, or that it is NaN; None when every label has both values. Without it the
    mean over 3 labels read as the score over the 5 the run has."""
    y = np.asarray(y).reshape(len(y), -1)
    left = one_valued_labels(y)
    if not left or len(y) == 0:
        return None
    n = y.shape[1]
    names = [str(labels[j]) if j < len(labels) else str(j) for j in left]
    shown = ", ".join(f"{name!r} (all {int(y[0, j])})" for name, j in zip(names[:5], left[:5])) + (
        f" and {len(left) - 5} more" if len(left) > 5 else "")
    if len(left) == n:
        return (f"auroc: undefined, each of the {n} labels has one value in every labelled {unit} "
                f"(it needs both 0 and 1 to rank): {shown}")
    many = len(left) > 1
    return (f"auroc: the mean over {n - len(left)} of the {n} labels, those with both values among "
            f"the {len(y)} labelled {unit}s; {len(left)} label{'s' if many else ''} ha"
            f"{'ve' if many else 's'} one value and {'are' if many else 'is'} left out: {shown}")


def auroc_note_of(spec: TaskSpec, y: np.ndarray) -> str | None:
    """``auroc_note`` or ``multilabel_auroc_note`` for a task's labels ``y`` (as
    ``task_metrics`` takes them); None for a task without an AUROC."""
    unit = "token" if spec.token_level else "record"
    if spec.type in CLASS_TASKS:
        return auroc_note(y, spec.classes, unit)
    if spec.type == "multilabel":
        return multilabel_auroc_note(y, spec.classes, unit)
    return None


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

    n_classes = proba.shape[1]
    pred = proba.argmax(1)
    # the classes in the truth or the predictions, as scikit-learn's default: over the truth's
    # classes alone, predicting a class the labels lack cost nothing on that class
    seen = np.union1d(y, pred)
    # one class in both the truth and the predictions (a validation split without the rare
    # class): MCC is undefined, as AUROC below, rather than scikit-learn's 0 and its warning
    # about the confusion matrix's shape
    single = seen.size < 2
    out = {"accuracy": float(accuracy_score(y, pred)),
           "macro_f1": float(f1_score(y, pred, labels=seen, average="macro", zero_division=0)),
           "mcc": float(matthews_corrcoef(y, pred)) if len(y) > 1 and not single else float("nan")}
    present = np.unique(y)
    try:
        if len(present) < 2:  # no negative (or no positive) to rank: undefined
            out["auroc"] = float("nan")
        elif n_classes == 2:
            out["auroc"] = float(roc_auc_score(y, proba[:, 1]))
        else:
            # one-vs-rest per class with a record, averaged: scikit-learn's macro "ovr" when every
            # class has one (it refuses a class without: that class has no positive to rank)
            out["auroc"] = float(np.mean([roc_auc_score(y == k, proba[:, k]) for k in present]))
    except ValueError:
        out["auroc"] = float("nan")
    return out


def multilabel_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    pred = (proba >= 0.5).astype(int)
    # the labels set in the truth or the predictions, as classification_metrics' classes: a
    # label neither holds has no F1 (scikit-learn's zero_division made it 0, in the mean)
    seen = np.flatnonzero((np.asarray(y) > 0).any(0) | (pred > 0).any(0))
    out = {"accuracy": float(accuracy_score(y, pred)),  # exact match of the whole label set
           "macro_f1": float(f1_score(y, pred, labels=seen, average="macro", zero_division=0))
           if seen.size else float("nan")}
    left = set(one_valued_labels(y))
    ok = [j for j in range(y.shape[1]) if j not in left]
    out["auroc"] = float(np.mean([roc_auc_score(y[:, j], proba[:, j]) for j in ok])) if ok else float("nan")
    return out


def _sum_of_squares(x: np.ndarray) -> tuple[float, float]:
    """``(m, q)`` with ``sum(x**2) == m**2 * q``: ``m`` the largest magnitude, ``q`` the sum of
    squares of ``x / m`` (between 1 and ``len(x)``), so nothing over- or underflows; (0, 0)
    for zeros, (inf, nan) where ``x`` holds an infinity."""
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m == 0.0 or not math.isfinite(m):
        return m, 0.0 if m == 0.0 else float("nan")
    u = x / m
    return m, float(np.dot(u, u))


def scaled_regression(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """RMSE, MAE (original units) and R^2 of one target's ``pred`` against ``y`` (1-D, no
    NaN in ``y``), as scikit-learn's ``mean_squared_error`` / ``mean_absolute_error`` /
    ``r2_score`` define them (R^2 of a constant ``y``: 1 for a perfect prediction, else 0),
    computed on values divided by a scale and scaled back: squares in raw units underflowed
    for labels ~1e-300 (rmse 0, r2 1.0: a "perfect" model picked ``best/``) and overflowed
    for labels ~1e200 (rmse and r2 NaN). RMSE and MAE divide by the largest magnitude of
    labels and predictions (differences then stay within 2), R^2 by the labels' own (it is
    scale-free; predictions beyond float64 there give -inf). A NaN or infinite prediction
    gives NaN figures."""
    nan = float("nan")
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    if not np.isfinite(pred).all():
        return nan, nan, nan
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        s = float(max(np.max(np.abs(y)), np.max(np.abs(pred))))
        if s == 0.0:  # every label and prediction 0
            return 0.0, 0.0, 1.0 if len(y) > 1 else nan
        err = y / s - pred / s  # within [-2, 2]
        m_err, q_err = _sum_of_squares(err)
        rmse = s * m_err * math.sqrt(q_err / len(y))
        mae = s * float(np.mean(np.abs(err)))
        if len(y) < 2:
            return rmse, mae, nan
        top = float(np.max(np.abs(y)))
        t = y / top if top > 0 else y
        m_tot, q_tot = _sum_of_squares(t - np.mean(t))
        m_res, q_res = _sum_of_squares((t - pred / top) if top > 0 else err)
        if m_tot == 0.0:  # a constant truth: scikit-learn's force_finite
            return rmse, mae, 1.0 if m_res == 0.0 else 0.0
        if not math.isfinite(m_res):  # predictions beyond float64 on the labels' scale
            return rmse, mae, float("-inf")
        # SS_res / SS_tot = (m_res / m_tot)^2 * q_res / q_tot
        ratio = m_res / m_tot  # a product, not ** (a float power that overflows raises)
        r2 = 1.0 - ratio * ratio * (q_res / q_tot)
    return rmse, mae, r2


def regression_metrics(y: np.ndarray, pred: np.ndarray,
                       names: Sequence[str] | None = None) -> dict[str, float]:
    """Per target over its observed values, then the mean over targets; with several
    targets and their ``names``, also each target's own ``rmse/<name>``, ``mae/<name>``,
    ``r2/<name>`` (a mean of RMSEs in different units hides which target is predicted).
    Scikit-learn's definitions, computed without over- or underflow at any label scale
    (``scaled_regression``)."""
    y = y.reshape(len(y), -1)
    pred = pred.reshape(len(pred), -1)
    nan = float("nan")
    per: list[tuple[float, float, float]] = []
    for j in range(y.shape[1]):
        ok = ~np.isnan(y[:, j])
        if not ok.any():
            per.append((nan, nan, nan))
            continue
        per.append(scaled_regression(y[ok, j], pred[ok, j]))
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
    if spec.type in CLASS_TASKS:
        return classification_metrics(y, outputs)
    if spec.type == "multilabel":
        return multilabel_metrics(y, outputs)
    if spec.type in ("regression", "token_regression"):
        return regression_metrics(y, outputs, spec.targets if names is None else names)
    return {}


def _number(v: float) -> str:
    """4 decimals, or 4 significant digits where decimals hide the value (a regression's
    rmse of targets ~1e-12 printed 0.0000) or bury it (1e12: 862855349362.7355). A count
    (an int) is printed as one."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return f"{v:.4f}" if v == 0 or not np.isfinite(v) or 1e-3 <= abs(v) < 1e6 else f"{v:.4g}"


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    """``{column: {metric: value}}`` -> a plain text table, one metric per line. Beside
    per-target rows (``rmse/<target>``), the headline ``rmse`` / ``mae`` / ``r2`` is labelled
    as the mean over the targets it is: a mean of RMSEs in different units (``rmse 48.04``
    = the mean of 57.43 and 38.65) read as one error in one unit."""
    metrics: list[str] = []
    for r in rows.values():
        metrics += [m for m in r if m not in metrics]
    cols = list(rows)
    label = {m: _headline_label(m, metrics) for m in metrics}
    width = max([len(v) for v in label.values()] + [6])
    cw = max([len(c) for c in cols] + [10])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{c:>{cw}}" for c in cols)]
    for m in metrics:
        cells = []
        for c in cols:
            v = rows[c].get(m)
            cells.append(f"{_number(v):>{cw}}" if isinstance(v, (int, float)) else f"{'-':>{cw}}")
        lines.append(f"{label[m]:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def _headline_label(metric: str, metrics: Sequence[str]) -> str:
    """``metric``'s row label: a regression headline beside its per-target rows says it is
    their mean (in mixed units for rmse and mae; r2 is scale-free)."""
    if metric not in ("rmse", "mae", "r2"):
        return metric
    n = sum(m.startswith(f"{metric}/") for m in metrics)
    if n < 2:
        return metric
    return f"{metric} (mean of {n} targets" + (")" if metric == "r2" else ", mixed units)")
