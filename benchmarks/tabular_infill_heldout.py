"""Tabular infill of a trained run on rows it never saw: the blend's classical imputers fitted
on the run's training store (what ``encoderkit infill`` does) against the same imputers fitted
on the rows being filled (the transductive way ``impute`` fills its own table), each on the
whole held-out file and row by row.

Protocol: each table's rows are split 70 / 30 (seed 44); 15% of the cells of both parts are
hidden; a run is pretrained on the 70% (every default but ``train.steps``); the hidden cells
of the 30% are scored. NRMSE (``nrmse``): the root mean square, pooled over the hidden cells
of every column, of each cell's error divided by its column's standard deviation in the true
values of the rows scored (pandas, ddof=1), that is of the whole 30% part, or of its first
``--rows`` rows for the row-by-row figures; not the whole table's. The column means of the
training part are the floor.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/tabular_infill_heldout.py --out /tmp/heldout \
        --only wine breast_cancer diabetes --steps 300 --rows 40
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def tables() -> dict[str, pd.DataFrame]:
    import statsmodels.api as sm
    from sklearn import datasets

    return {"wine": datasets.load_wine(as_frame=True).frame,
            "breast_cancer": datasets.load_breast_cancer(as_frame=True).frame,
            "diabetes": datasets.load_diabetes(as_frame=True, scaled=False).frame,
            "iris": datasets.load_iris(as_frame=True).frame.drop(columns="target"),
            "star98": sm.datasets.star98.load_pandas().data.astype(float),
            "macrodata": sm.datasets.macrodata.load_pandas().data.drop(columns=["year", "quarter"]),
            "grunfeld": sm.datasets.grunfeld.load_pandas().data.drop(columns=["firm"]).astype(float)}


def split(frame: pd.DataFrame, seed: int = 44) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train with holes, test with holes, test truth)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(frame))
    cut = int(0.7 * len(frame))
    train = frame.iloc[np.sort(idx[:cut])].reset_index(drop=True)
    truth = frame.iloc[np.sort(idx[cut:])].reset_index(drop=True)
    return (train.mask(rng.random(train.shape) < 0.15), truth.mask(rng.random(truth.shape) < 0.15), truth)


def nrmse(filled: pd.DataFrame, test: pd.DataFrame, truth: pd.DataFrame) -> float:
    hidden = (test.isna() & truth.notna()).to_numpy()
    err = ((filled.to_numpy(dtype=float) - truth.to_numpy(dtype=float)) / truth.std().to_numpy())[hidden]
    return float(np.sqrt(np.mean(err ** 2)))


def run_table(name: str, frame: pd.DataFrame, out: Path, steps: int, rows: int) -> dict[str, float]:
    import encoderkit
    from encoderkit.data.ingest import ingest
    from encoderkit.train import pretrain

    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    train, test, truth = split(frame)
    train.to_csv(work / "train.csv", index=False)
    store = str(work / "train.zarr")
    ingest("tabular", str(work / "train.csv"), store, overwrite=True, progress=False, verbose=False)
    run = pretrain(["domain=tabular", f"data.store={store}", f"run.dir={work / 'run'}",
                    f"train.steps={steps}", "train.progress=false", "run.resume=never"])
    model = encoderkit.load(run)
    rows_of = test.iloc[:rows]

    def transductive(data: pd.DataFrame) -> pd.DataFrame:  # the imputers fitted on `data` itself
        domain = copy.copy(model.domain)
        domain.training_store = None
        return domain.infill(data, model.predict)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = {"training-rows mean": nrmse(test.fillna(train.mean()), test, truth)}
        for arm, fill in (("training store", model.infill), ("rows being filled", transductive)):
            t0 = time.perf_counter()
            scores[f"{arm}, whole file"] = nrmse(fill(test), test, truth)
            alone = pd.concat([fill(rows_of.iloc[[i]]) for i in range(len(rows_of))])
            scores[f"{arm}, row by row (first {rows})"] = nrmse(alone, rows_of, truth.iloc[:rows])
            scores[f"{arm}, same rows in the file"] = nrmse(fill(test).iloc[:rows], rows_of, truth.iloc[:rows])
            scores[f"{arm}, seconds"] = time.perf_counter() - t0
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rows", type=int, default=40)
    args = ap.parse_args()
    out = Path(args.out)
    results = {}
    for name, frame in tables().items():
        if args.only and name not in args.only:
            continue
        results[name] = run_table(name, frame, out, args.steps, args.rows)
        print(name, json.dumps({k: round(v, 4) for k, v in results[name].items()}), flush=True)
    from benchmarks.environment import environment  # the BLAS kernel the baselines ran on

    (out / "results.json").write_text(json.dumps({**results, "_environment": environment()}, indent=1))


if __name__ == "__main__":
    main()
