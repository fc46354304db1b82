"""Fine-tuning on labelled tables: scikit-learn's bundled wine (178 wines, 13 chemical
measurements, 3 cultivars) and breast_cancer (569 tumours, 30 image features,
malignant / benign), a stratified 30% test split drawn once.

    .venv/bin/python examples/finetune_tabular.py [--out runs/finetune-tabular] [--seeds 0 1 2]

Compared side by side (protocol in ``finetune_common.py``): the fine-tuned pretrained
encoder, the same from scratch, frozen-embedding probes (masked-LM and contrastive
with SCARF views), and scikit-learn's ``HistGradientBoostingClassifier`` with its
defaults, the tool a tabular practitioner reaches for first. The label column is not
part of the ingested table (it is the fine-tuning label).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from finetune_common import Task, fixed_test_split, example_main

DATASETS = ("wine", "breast_cancer")


def load_table(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn import datasets

    bunch = {"wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}[name](as_frame=True)
    return bunch.data, np.asarray(bunch.target).astype(str)


def gradient_boosting(X: np.ndarray, y: np.ndarray):
    def anchor(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed).fit(X[train], y[train]).predict(X[test])
    return anchor


def make_task(name: str, workdir: Path) -> Task:
    from domains.tabular import ingest_frame

    frame, y = load_table(name)
    store = workdir / f"{name}.zarr"
    if not store.exists():
        ingest_frame(frame, str(store), verbose=False)
    ids = np.asarray([f"row{i}" for i in range(len(frame))])  # the ids ingest_frame gives
    return Task(name=name, domain="tabular", store=str(store), ids=ids, labels=y,
                test=fixed_test_split(y), pretrain_store=str(store),
                anchors={"HistGradientBoosting (sklearn defaults)": gradient_boosting(frame.to_numpy(), y)},
                notes=f"{frame.shape[1]} numeric columns, {len(np.unique(y))} classes, 30% test")


def main() -> None:
    example_main(__doc__, "runs/finetune-tabular", lambda out, names: [make_task(n, out) for n in names], DATASETS)


if __name__ == "__main__":
    main()
