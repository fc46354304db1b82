"""The table side of ``benchmarks/imputation_lodo.py``: the scikit-learn imputers it compares
with, the score of a table's hidden cells, and the encoder's refined and blended fills."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def codes(frame: pd.DataFrame, categorical: list[str]) -> tuple[np.ndarray, dict[str, list]]:
    """Float matrix for scikit-learn: categorical columns as integer codes (NaN kept)."""
    x = np.empty(frame.shape)
    levels = {}
    for j, c in enumerate(frame.columns):
        if c in categorical:
            lv = sorted(frame[c].dropna().unique().tolist(), key=str)
            levels[c] = lv
            m = {v: i for i, v in enumerate(lv)}
            x[:, j] = [m[v] if v in m else np.nan for v in frame[c]]
        else:
            x[:, j] = pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
    return x, levels


def sklearn_impute(holed: pd.DataFrame, categorical: list[str], method: str, seed: int) -> pd.DataFrame:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    x, levels = codes(holed, categorical)
    cat = np.array([c in categorical for c in holed.columns])
    mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    sd[~(sd > 0)] = 1.0
    z = (x - mu) / sd
    if method == "mean/mode":
        out = z.copy()
        if (~cat).any():
            out[:, ~cat] = SimpleImputer(strategy="mean").fit_transform(z[:, ~cat])
        if cat.any():
            out[:, cat] = SimpleImputer(strategy="most_frequent").fit_transform(z[:, cat])
    elif method == "knn":
        out = KNNImputer(n_neighbors=5).fit_transform(z)
    elif method == "iterative_br":
        out = IterativeImputer(max_iter=10, random_state=seed).fit_transform(z)
    elif method == "missforest":
        rf = RandomForestRegressor(n_estimators=50, min_samples_leaf=1, max_features=0.5,
                                   n_jobs=1, random_state=seed)
        out = IterativeImputer(estimator=rf, max_iter=5, random_state=seed).fit_transform(z)
    else:
        raise ValueError(method)
    out = out * sd + mu
    res = holed.copy()
    for j, c in enumerate(holed.columns):
        miss = holed[c].isna().to_numpy()
        if not miss.any():
            continue
        col = out[:, j]
        if cat[j]:  # nearest observed category
            k = np.clip(np.rint(col), 0, len(levels[c]) - 1).astype(int)
            vals = pd.Series([levels[c][i] for i in k], index=holed.index)
        else:
            vals = pd.Series(col, index=holed.index)
        s = res[c].astype(object) if cat[j] else res[c].astype(np.float64)
        s[miss] = vals[miss]
        res[c] = s
    return res


def _key(v) -> str:
    """Cell value for comparison: 3, 3.0 and "3" are the same category."""
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return str(v)


def score_table(truth: pd.DataFrame, pred: pd.DataFrame, holes: np.ndarray,
                categorical: list[str]) -> tuple[float, float]:
    sq, hit, n_num, n_cat = 0.0, 0, 0, 0
    for j, c in enumerate(truth.columns):
        h = holes[:, j]
        if not h.any():
            continue
        if c in categorical:
            t = truth[c].to_numpy()[h]
            p = pred[c].to_numpy()[h]
            hit += int(sum(_key(a) == _key(b) for a, b in zip(t, p)))
            n_cat += int(h.sum())
        else:
            tv = truth[c].to_numpy(np.float64)
            sd = float(np.nanstd(tv)) or 1.0  # a table may have missing cells of its own
            p = pred[c].to_numpy(np.float64)[h]
            sq += float((((p - tv[h]) / sd) ** 2).sum())
            n_num += int(h.sum())
    return (math.sqrt(sq / n_num) if n_num else float("nan"), hit / n_cat if n_cat else float("nan"))


def refine(domain, holed: pd.DataFrame, first: pd.DataFrame, predict, rounds: int,
           rng: np.random.Generator) -> pd.DataFrame:
    """Iterative refinement: re-predict each missing cell with the current fill of the
    row's OTHER missing cells visible (each round: two disjoint halves of the missing
    cells, each re-hidden and predicted given the rest)."""
    miss = holed.isna().to_numpy()
    cur = first.copy()
    for _ in range(rounds):
        half = rng.random(miss.shape) < 0.5
        nxt = cur.copy()
        for part in (half, ~half):
            sel = miss & part
            if not sel.any():
                continue
            pred = domain.infill(cur.mask(sel), predict)
            for j, c in enumerate(holed.columns):
                if sel[:, j].any():
                    s = nxt[c].copy()
                    s[sel[:, j]] = pred[c][sel[:, j]]
                    nxt[c] = s
        cur = nxt
    return cur


def blend(holed: pd.DataFrame, a: pd.DataFrame, *others: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Mean of the imputations on numeric cells; ``a``'s categories."""
    out = a.copy()
    for c in holed.columns:
        if c not in categorical and holed[c].isna().any():
            out[c] = sum(f[c].astype(np.float64) for f in (a, *others)) / (1 + len(others))
    return out
