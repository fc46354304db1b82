"""Linear probes of embeddings with nested cross-validation (scikit-learn).

A probe answers "how linearly decodable is the label from these features?":
standardised features, a linear model whose regularisation strength is chosen by
an inner cross-validation on the training folds only, scored on held-out outer
folds. Classification: ``LogisticRegressionCV`` (accuracy, macro-F1), outer
``StratifiedKFold``. Regression: ``RidgeCV`` (R^2, RMSE), outer ``KFold``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from encoderkit.tasks.metrics import scaled_regression

TASKS = ("classification", "regression")
# scikit-learn >= 1.8 warns unless these are set explicitly; older versions lack them.
_LOGREG_COMPAT = {k: v for k, v in {"l1_ratios": (0.0,), "use_legacy_attributes": False}.items()
                  if k in inspect.signature(LogisticRegressionCV).parameters}
METRICS = {"classification": ("accuracy", "macro_f1"), "regression": ("r2", "rmse")}


@dataclass
class ProbeResult:
    task: str
    folds: int
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> [folds]

    def mean(self, metric: str) -> float:
        return float(np.mean(self.scores[metric]))

    def std(self, metric: str) -> float:
        return float(np.std(self.scores[metric]))

    def summary(self) -> dict[str, tuple[float, float]]:
        return {m: (self.mean(m), self.std(m)) for m in self.scores}


def _check(X: np.ndarray, y: np.ndarray, task: str, folds: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    if task not in TASKS:
        raise ValueError(f"The 'task' parameter of probe must be one of {list(TASKS)}. Got {task!r} instead.")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [records, features]; got shape {X.shape}")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"labels must be 1-D with one label per row of {name}; "
                         f"got labels of shape {y.shape} for {name} of shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values "
                         f"({int((~np.isfinite(X)).any(axis=1).sum())} rows)")
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"The 'folds' parameter of probe must be an int >= 2. Got {folds!r} instead.")
    if task == "classification":
        from encoderkit.tasks.label_encode import case_variants_said

        classes, counts = np.unique(y, return_counts=True)
        if name != "baseline":  # once: not again for the CLI's baseline probe of the same labels
            case_variants_said([str(c) for c in classes], "the labels")  # 'Café' twice: two classes
        if len(counts) < 2:
            raise ValueError("classification probe needs at least 2 classes; the labels hold one")
        if counts.min() < folds:
            raise ValueError(f"the smallest class has {counts.min()} records, fewer than folds={folds}; "
                             f"lower folds or add records")
    else:
        y = y.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:  # scikit-learn's words named no label
            raise ValueError(f"labels: {bad.size} regression label(s) are not finite numbers (the first, of "
                             f"record {int(bad[0])} in the order of {name}: {y[bad[0]]})")
        if len(y) < 3 * folds:
            raise ValueError(f"regression probe with folds={folds} needs at least {3 * folds} records; got {len(y)}")
    return X, y


def probe(X: np.ndarray, y: np.ndarray, task: str = "classification", *, folds: int = 5,
          inner_folds: int = 3, seed: int = 0, name: str = "embeddings") -> ProbeResult:
    """Outer ``folds``-fold CV of a standardised linear model tuned by ``inner_folds`` inner CV."""
    X, y = _check(X, y, task, folds, name)
    # each feature, and regression labels, divided by a power of two near their largest
    # magnitude (exact): squares of values near 1e-300 underflowed, so labels unrelated to X
    # scored R^2 1.0 and RMSE 0, and near 1e300 overflowed (R^2 NaN, RMSE inf, NaN features)
    X = X / _power_scale(X, axis=0)
    scale = float(_power_scale(y)) if task == "regression" else 1.0
    target = y / scale if task == "regression" else y
    result = ProbeResult(task=task, folds=folds, scores={m: np.zeros(folds) for m in METRICS[task]})
    if task == "classification":
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    for i, (train, test) in enumerate(splitter.split(X, y)):
        if task == "classification":
            # Inner folds are limited by the smallest class of the training part; with
            # fewer than 2 records per class, C stays at 1 (no inner CV is possible).
            n_inner = min(inner_folds, int(np.unique(y[train], return_counts=True)[1].min()))
            if n_inner >= 2:
                # C up to 100 on standardised features: weaker regularisation only slows lbfgs on
                # (near-)separable data without changing its predictions.
                model = LogisticRegressionCV(Cs=np.logspace(-3, 2, 6), max_iter=2000, scoring="neg_log_loss",
                                             cv=StratifiedKFold(n_inner, shuffle=True, random_state=seed),
                                             **_LOGREG_COMPAT)
            else:
                model = LogisticRegression(C=1.0, max_iter=2000)
        else:
            # Too few records for k inner folds: RidgeCV's efficient leave-one-out instead.
            cv = KFold(inner_folds, shuffle=True, random_state=seed) if len(train) >= 2 * inner_folds else None
            model = RidgeCV(alphas=np.logspace(-3, 4, 15), cv=cv)
        pipe = make_pipeline(StandardScaler(), model).fit(X[train], target[train])
        pred = pipe.predict(X[test])
        if task == "classification":
            result.scores["accuracy"][i] = accuracy_score(y[test], pred)
            result.scores["macro_f1"][i] = f1_score(y[test], pred, average="macro")
        else:
            # scikit-learn's R^2 and RMSE, without over- or underflow at any label scale
            rmse, _, r2 = scaled_regression(target[test], pred)
            result.scores["r2"][i], result.scores["rmse"][i] = r2, rmse * scale
    return result


def _power_scale(v: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The power of two at or below the largest magnitude of ``v`` (along ``axis``; 1 where
    that is 0): dividing by it is exact and leaves magnitudes in [0, 2)."""
    from encoderkit.numerics import power_of_two_below

    return power_of_two_below(np.max(np.abs(v), axis=axis) if v.size else 0.0)


def format_results(results: dict[str, ProbeResult]) -> str:
    """A side-by-side table: one row per feature set, mean +- std per metric."""
    first = next(iter(results.values()))
    metrics = list(first.scores)
    width = max(12, *(len(n) for n in results))
    head = f"{'features':<{width}}" + "".join(f"  {m:>17}" for m in metrics)
    lines = [f"{first.task} probe, {first.folds}-fold cross-validation (mean +- std over folds)", head]
    for name, r in results.items():
        lines.append(f"{name:<{width}}" + "".join(f"  {r.mean(m):>8.4f} +- {r.std(m):<6.4f}" for m in metrics))
    return "\n".join(lines)


def read_embeddings(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Embeddings written by ``EmbeddingWriter`` (or any 2-D ``.npy`` / ``.csv``) and their ids (or None).
    Whatever is wrong with the file is a ``DataError`` naming it (and the row, for NaN)."""
    from encoderkit.errors import DataError, InputNotFoundError, reading

    path = Path(path)
    if not path.exists():
        raise InputNotFoundError("embeddings file does not exist", file=path, key="embeddings")
    suffix = path.suffix.lower()
    if suffix not in (".zarr", ".npy", ".csv", ".tsv"):
        raise DataError("cannot read features from this file type: expected .zarr, .npy, .csv or .tsv",
                        file=path, key="embeddings")
    with reading(path):
        X, ids = _read_embeddings(path, suffix)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise DataError(f"holds an array of dtype {X.dtype}, not numbers", file=path)
    if X.ndim != 2:
        raise DataError(f"must hold a 2-D array [records, features]; got shape {X.shape}", file=path)
    if ids is not None and len(ids) != len(X):
        raise DataError(f"has {len(ids)} ids for {len(X)} rows", file=path)
    bad = np.flatnonzero(~np.isfinite(X.astype(np.float64)).all(axis=1))
    if bad.size:
        which = f"row {int(bad[0])}" + (f" (id {ids[bad[0]]!r})" if ids is not None else "")
        raise DataError(f"{which} holds NaN or infinite values ({bad.size} such row(s))", file=path)
    return X, ids


def _read_embeddings(path: Path, suffix: str) -> tuple[np.ndarray, np.ndarray | None]:
    from encoderkit.errors import DataError

    if suffix == ".zarr":
        import zarr

        if not path.is_dir():
            raise DataError("is not a zarr directory", file=path)
        group = zarr.open_group(str(path), mode="r")
        if "embeddings" not in group:
            raise DataError(f"is not an embeddings store (no 'embeddings' array); "
                            f"found {sorted(group.array_keys())}", file=path)
        if "offsets" in group:
            raise DataError("holds per-token embeddings (pooling=none); pool them first", file=path)
        # element-wise: numpy cannot cast zarr's variable-width StringDType to '<U' in one go
        ids = np.asarray([str(x) for x in group["ids"][:]]) if "ids" in group else None
        return np.asarray(group["embeddings"][:]), ids
    if suffix == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise DataError("holds an object array, which would need pickle (never used); save "
                                "a numeric array (np.save(path, x.astype(np.float32)))", file=path) from None
            raise
        ids_path = path.with_name(path.stem + ".ids.npy")
        ids = None
        if ids_path.exists():
            from encoderkit.errors import reading

            with reading(ids_path):
                ids = np.load(ids_path, allow_pickle=False).astype(str)
        return X, ids
    import pandas as pd

    # round_trip: each value as float(text); the default parser can be one rounding step off.
    # Ids as written ("007", "NA"), as the labels file's are read (infer.cli._read_labels)
    from encoderkit.data import textfiles

    textfiles.check_compression(path)
    frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", float_precision="round_trip",
                        converters={"id": str}, index_col=False)  # a trailing separator: no index
    ids = None
    if "id" in frame.columns:
        ids = frame.pop("id").astype(str).to_numpy()
    if frame.shape[1] == 0:
        raise DataError("has no feature columns", file=path)
    try:
        return frame.to_numpy(dtype=np.float64), ids
    except (ValueError, TypeError):
        bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        col = bad[0] if bad else frame.columns[0]
        row = int(np.flatnonzero(pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna())[0]) \
            if bad and (pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()).any() else 0
        raise DataError(f"column {col!r} is not numeric (row {row} holds {frame[col].iloc[row]!r})",
                        file=path) from None
