"""Fine-tuning on labelled time series: aeon's bundled UCR sets ItalyPowerDemand
(daily electricity demand, 24 hourly values, winter vs summer; 67 train / 1029 test)
and ArrowHead (arrowhead outlines as 251-sample series, 3 classes; 36 / 175), with the
archive's own train/test splits.

    .venv/bin/python examples/finetune_timeseries.py [--out runs/finetune-timeseries] [--seeds 0 1 2]

Compared side by side (see ``finetune_common.py`` for the protocol): the fine-tuned
pretrained encoder, the same from scratch, frozen-embedding probes (masked-LM and
contrastive), and ROCKET (aeon's ``RocketClassifier``, 10,000 random kernels + ridge),
the classical tool for univariate series classification.

Every series is one record; ``patch=8`` (one setting for both sets: a 24-sample day
makes 3 tokens, an arrowhead 32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from finetune_common import Task, example_main

DATASETS = ("ItalyPowerDemand", "ArrowHead")
OVERRIDES = ["domain.patch=8"]


def load_ucr(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X [N, 1, L] float64, labels [N] str, test mask [N]) with the archive's split."""
    from aeon.datasets import load_arrow_head, load_italy_power_demand

    loader = {"ItalyPowerDemand": load_italy_power_demand, "ArrowHead": load_arrow_head}[name]
    X_train, y_train = loader(split="train")
    X_test, y_test = loader(split="test")
    X = np.concatenate([X_train, X_test]).astype(np.float64)
    y = np.concatenate([y_train, y_test]).astype(str)
    test = np.zeros(len(y), dtype=bool)
    test[len(y_train):] = True
    return X, y, test


def rocket(X: np.ndarray, y: np.ndarray):
    def anchor(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        from aeon.classification.convolution_based import RocketClassifier

        clf = RocketClassifier(n_kernels=10_000, random_state=seed, n_jobs=1)
        clf.fit(X[train], y[train])
        return clf.predict(X[test])
    return anchor


def make_task(name: str, workdir: Path) -> Task:
    from domains.timeseries import TimeSeriesDomain

    X, y, test = load_ucr(name)
    ids = np.asarray([f"{name}-{i:04d}" for i in range(len(y))])
    store = workdir / f"{name}.zarr"
    if not store.exists():
        TimeSeriesDomain.ingest_arrays(list(X), str(store), ids=list(ids))
    return Task(name=name, domain="timeseries", store=str(store), ids=ids, labels=y, test=test,
                pretrain_store=str(store), overrides=list(OVERRIDES),
                anchors={"ROCKET (aeon, 10k kernels)": rocket(X, y)},
                seeded_anchors=("ROCKET (aeon, 10k kernels)",),
                notes=f"length {X.shape[2]}, {len(np.unique(y))} classes, archive split")


def main() -> None:
    example_main(__doc__, "runs/finetune-timeseries", lambda out, names: [make_task(n, out) for n in names], DATASETS)


if __name__ == "__main__":
    main()
