"""Fill the holes of a table with a pretrained tabular encoder (a user's view).

A DataFrame with missing cells goes in (the 1996 US election survey bundled with
statsmodels: integer-coded answers + numeric columns, 20% of cells removed at
random); a filled DataFrame comes out; a small table compares the error on the
removed cells with scikit-learn's imputers.

    python examples/tabular_imputation.py [--steps 300] [--out /tmp/tabular-example]

The three encoderkit calls: ``ingest_frame`` (DataFrame -> record store),
``encoderkit.train.pretrain`` (Hydra overrides), ``encoderkit.load(run).infill``.
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import pandas as pd

import encoderkit
from domains.tabular import ingest_frame, sample_frame
from encoderkit.train import pretrain


def sklearn_fill(holed: pd.DataFrame, method: str, categorical: list[str]) -> pd.DataFrame:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    imputer = {"SimpleImputer": SimpleImputer(strategy="mean"), "KNNImputer": KNNImputer(n_neighbors=5),
               "IterativeImputer": IterativeImputer(max_iter=10, random_state=0)}[method]
    x = holed.to_numpy(dtype=np.float64)
    mu, sd = np.nanmean(x, 0), np.nanstd(x, 0)
    out = pd.DataFrame(imputer.fit_transform((x - mu) / sd) * sd + mu, columns=holed.columns)
    for c in categorical:  # codes back to the nearest observed answer
        levels = np.unique(holed[c].dropna())
        out[c] = levels[np.abs(out[c].to_numpy()[:, None] - levels[None]).argmin(1)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", default="/tmp/tabular-example")
    args = ap.parse_args()

    truth = sample_frame()
    rng = np.random.default_rng(0)
    holes = rng.random(truth.shape) < 0.2
    holed = truth.mask(holes)  # the user's table: NaN where a cell is missing
    print(f"input: {holed.shape[0]} rows x {holed.shape[1]} columns, {int(holes.sum())} missing cells")

    store = os.path.join(args.out, "store")
    ingest_frame(holed, store, overwrite=True, validation_fraction=0.05)
    run = pretrain(["domain=tabular", f"data.store={store}", f"run.dir={os.path.join(args.out, 'run')}",
                    "model.hidden_size=64", "model.num_layers=3", "model.num_heads=4",
                    "model.intermediate_size=128", f"train.steps={args.steps}", "train.progress=false",
                    "data.max_tokens=1408", "data.max_seqlen=64", "optim.lr=2e-3",
                    f"schedule.warmup={max(1, args.steps // 10)}", "run.resume=never",
                    # scored by squared error below: decode numbers as the regression value
                    # (the conditional mean) rather than clipped to the likeliest bin
                    "domain.numeric_decode=regression"])

    model = encoderkit.load(run)
    filled = model.infill(holed)  # same columns, same dtypes, observed cells untouched
    assert filled.notna().all().all()
    print(filled.head())

    categorical = [c["name"] for c in model.domain.columns if c["kind"] == "categorical"]
    fills = {"encoderkit": filled}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("SimpleImputer", "KNNImputer", "IterativeImputer"):
            fills[method] = sklearn_fill(holed, method, categorical)
    rows = []
    for method, df in fills.items():
        sq, n, hit, m = 0.0, 0, 0, 0
        for j, c in enumerate(truth.columns):
            h = holes[:, j]
            t, p = truth[c].to_numpy(float)[h], df[c].to_numpy(float)[h]
            if c in categorical:
                hit, m = hit + int((t == p).sum()), m + int(h.sum())
            else:
                sq, n = sq + float((((p - t) / truth[c].std(ddof=0)) ** 2).sum()), n + int(h.sum())
        rows.append({"method": method, "NRMSE numeric (lower better)": np.sqrt(sq / n),
                     "accuracy categorical (higher better)": hit / m})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
