"""The one-call imputer as a new user runs it: ``EncoderImputer()`` with its defaults
(``experiment=impute``: hidden 64, 3 layers, ``train.steps=auto``) next to scikit-learn's
imputers, on tables none of the defaults were chosen on.

Protocol: hide ``--hide`` of the observed cells completely at random (seeded), fit every
imputer on the holed table, score the hidden cells: numeric columns by NRMSE (RMSE over
the column's standard deviation, pooled over cells), columns with few integral values
(integer-coded answers) by accuracy; scikit-learn's outputs rounded to the nearest
observed value for those. One number per table, imputer and seed; lower NRMSE / higher
accuracy is better. Wall time includes training.

Usage: python benchmarks/impute_defaults.py [--seeds 1] [--only wine diabetes] [--n-models 1]
       [--overrides domain.numeric_decode=regression ...] [--baselines mean knn iterative missforest]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

if not __package__:  # run as a file: benchmarks.environment importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tables() -> dict[str, pd.DataFrame]:
    from sklearn.datasets import load_diabetes, load_iris, load_wine
    from statsmodels.datasets import fair, star98

    return {"wine": load_wine(as_frame=True).data,
            "diabetes": load_diabetes(as_frame=True, scaled=False).data,
            "iris": load_iris(as_frame=True).data,
            "fair": fair.load_pandas().data.iloc[:1000].reset_index(drop=True),
            "star98": star98.load_pandas().data.iloc[:, 2:14].reset_index(drop=True)}


def categorical(frame: pd.DataFrame) -> list[str]:
    out = []
    for c in frame.columns:
        v = frame[c].dropna().to_numpy(dtype=np.float64)
        if np.all(np.mod(v, 1) == 0) and np.unique(v).size <= 10:
            out.append(c)
    return out


def sklearn_fill(holed: pd.DataFrame, name: str, seed: int, cats: list[str]) -> pd.DataFrame:
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    imp = {"mean": SimpleImputer(), "knn": KNNImputer(),
           "iterative": IterativeImputer(max_iter=10, random_state=seed),
           "missforest": IterativeImputer(ExtraTreesRegressor(n_estimators=50, random_state=seed),
                                          max_iter=5, random_state=seed)}[name]
    x = holed.to_numpy(np.float64)
    mu, sd = np.nanmean(x, 0), np.nanstd(x, 0)
    sd[sd == 0] = 1
    out = pd.DataFrame(imp.fit_transform((x - mu) / sd) * sd + mu, columns=holed.columns)
    for c in cats:
        levels = np.unique(holed[c].dropna())
        out[c] = levels[np.abs(out[c].to_numpy()[:, None] - levels[None]).argmin(1)]
    return out


def score(truth: pd.DataFrame, hidden: np.ndarray, filled: pd.DataFrame, cats: list[str]) -> tuple[float, float]:
    sq = n = hit = m = 0
    for j, c in enumerate(truth.columns):
        h = hidden[:, j]
        if not h.any():
            continue
        t, p = truth[c].to_numpy(np.float64)[h], filled[c].to_numpy(np.float64)[h]
        if c in cats:
            hit, m = hit + int((t == p).sum()), m + int(h.sum())
        else:
            sd = truth[c].std(ddof=0) or 1.0
            sq, n = sq + float((((t - p) / sd) ** 2).sum()), n + int(h.sum())
    return (sq / n) ** 0.5 if n else float("nan"), hit / m if m else float("nan")


def main() -> None:
    import torch

    from encoderkit.sklearn import EncoderImputer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--hide", type=float, default=0.2)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--n-models", type=int, default=1)
    ap.add_argument("--overrides", nargs="*", default=[], help="pretrain overrides for EncoderImputer")
    ap.add_argument("--baselines", nargs="*", default=["mean", "knn", "iterative", "missforest"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, truth in tables().items():
        if args.only and name not in args.only:
            continue
        truth = truth.astype(np.float64)
        cats = categorical(truth)
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            hidden = (rng.random(truth.shape) < args.hide) & truth.notna().to_numpy()
            holed = truth.mask(hidden)
            fills = {}
            for method in args.baselines:
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fills[method] = (sklearn_fill(holed, method, seed, cats), time.perf_counter() - t0)
            t0 = time.perf_counter()
            # the frame as a user has it: integer-coded answers as ints where nothing is missing
            est = EncoderImputer(random_state=seed, n_models=args.n_models, overrides=tuple(args.overrides))
            fills["encoderkit"] = (est.fit_transform(holed), time.perf_counter() - t0)
            steps = est.models_[0].step
            for method, (filled, secs) in fills.items():
                nrmse, acc = score(truth, hidden, filled, cats)
                rows.append({"table": name, "shape": f"{truth.shape[0]}x{truth.shape[1]}", "seed": seed,
                             "imputer": method, "nrmse": nrmse, "accuracy": acc, "seconds": secs,
                             "steps": steps if method == "encoderkit" else None})
                print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    print(df.groupby(["table", "imputer"])[["nrmse", "accuracy", "seconds"]].mean().round(3).to_string())
    from benchmarks.environment import describe  # the kernel the scikit-learn imputers ran on

    print(f"BLAS / OpenMP: {describe()}")


if __name__ == "__main__":
    main()
