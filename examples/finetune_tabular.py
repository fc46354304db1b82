"""Fine-tuning on labelled tables, a stratified (regression: random) 30% test split drawn once:

- scikit-learn's wine (178 wines, 13 chemical measurements, 3 cultivars) and
  breast_cancer (569 tumours, 30 image features, malignant / benign);
- scikit-learn's diabetes (442 patients, 10 baseline measurements; the target is a
  number, disease progression after one year: a regression, scored by R^2);
- statsmodels' anes96 (944 voters of the 1996 US election survey, 10 answers, most of
  them integer scales; the label is the vote, Clinton or Dole);
- statsmodels' star98 (303 California school districts, 20 demographic and school
  measurements; the target is the share of pupils above the national median in maths,
  NABOVE / (NABOVE + NBELOW): a regression, scored by R^2).

    .venv/bin/python examples/finetune_tabular.py [--out runs/finetune-tabular] [--seeds 0 1 2]

Compared side by side (protocol in ``finetune_common.py``): the fine-tuned pretrained
encoder, the same from scratch, frozen-embedding probes (masked-LM and contrastive
with SCARF views), and scikit-learn's ``HistGradientBoostingClassifier`` (regression:
``...Regressor``) with its defaults, the tool a tabular practitioner reaches for first,
plus L2 logistic (regression: ridge) regression on the standardised columns, which is
stronger on small, nearly linear tables. The label column is not part of the ingested
table (it is the fine-tuning label).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from finetune_common import Task, example_main, fixed_test_split, logreg_anchor

DATASETS = ("wine", "breast_cancer", "diabetes", "anes96", "star98")
REGRESSION = ("diabetes", "star98")


def load_table(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    if name == "anes96":
        from domains.tabular import sample_frame

        frame = sample_frame()
        return frame.drop(columns=["vote"]), frame["vote"].map({0: "Clinton", 1: "Dole"}).to_numpy()
    if name == "star98":
        import statsmodels.api as sm

        frame = sm.datasets.star98.load_pandas().data
        share = frame["NABOVE"] / (frame["NABOVE"] + frame["NBELOW"])
        return frame.drop(columns=["NABOVE", "NBELOW"]), share.to_numpy(dtype=np.float64)
    from sklearn import datasets

    bunch = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer,
             "diabetes": datasets.load_diabetes}[name](as_frame=True)
    y = np.asarray(bunch.target)
    return bunch.data, (y.astype(np.float64) if name in REGRESSION else y.astype(str))


def gradient_boosting(X: np.ndarray, y: np.ndarray, kind: str):
    def anchor(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor if kind == "regression" else HistGradientBoostingClassifier
        return model(random_state=seed).fit(X[train], y[train]).predict(X[test])
    return anchor


def make_task(name: str, workdir: Path) -> Task:
    from domains.tabular import ingest_frame

    frame, y = load_table(name)
    kind = "regression" if name in REGRESSION else "classification"
    store = workdir / f"{name}.zarr"
    if not store.exists():
        ingest_frame(frame, str(store), verbose=False)
    ids = np.asarray([f"row{i}" for i in range(len(frame))])  # the ids ingest_frame gives
    X = frame.to_numpy(dtype=np.float64)
    linear = "ridge" if kind == "regression" else "logistic regression"
    return Task(name=name, domain="tabular", store=str(store), ids=ids, labels=y, kind=kind,
                test=fixed_test_split(y, stratify=kind == "classification"), pretrain_store=str(store),
                anchors={"HistGradientBoosting (sklearn defaults)": gradient_boosting(X, y, kind),
                         f"{linear} (standardised columns, CV)": logreg_anchor(X, y, kind)},
                notes=f"{frame.shape[1]} columns, "
                      + ("a numeric target, R^2" if kind == "regression" else f"{len(np.unique(y))} classes")
                      + ", 30% test")


def main() -> None:
    example_main(__doc__, "runs/finetune-tabular", lambda out, names: [make_task(n, out) for n in names], DATASETS)


if __name__ == "__main__":
    main()
