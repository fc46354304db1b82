"""Shared set-up of the fine-tuning tests: the tiny `traintest` token domain (registered on
import) and a store whose records carry a learnable binary property (the stride)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import testdomain as td


def stride_labels(store_path: str) -> tuple[list[str], np.ndarray]:
    """Record ids and label = stride of the arithmetic progression (0 or 1): separable."""
    from encoderkit.data.store import RecordStore

    s = RecordStore(store_path)
    ids, y = [], []
    for i in range(len(s)):
        r = s[i]
        ids.append(r["id"])
        y.append(int(r["ids"][1] != r["ids"][0]))
    return ids, np.asarray(y)


@pytest.fixture(scope="module")
def labelled_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ft")
    store = td.write_store(tmp / "store.zarr", n=160, seed=1)
    ids, y = stride_labels(store)
    labels = tmp / "labels.csv"
    pd.DataFrame({"id": ids, "label": y}).to_csv(labels, index=False)
    return store, ids, y, labels


def ft_overrides(store: str, run_dir: str, labels: str, steps: int = 6, **extra) -> list[str]:
    """A seconds-long CPU fine-tuning run on the traintest domain (from scratch)."""
    base = [o for o in td.tiny_overrides(store, run_dir, steps=steps) if not o.startswith("data.val_fraction")]
    # one member unless a test asks (subprocesses do not see conftest's patch of the auto rule)
    extra = {"checkpoint": "none", "task.labels": labels, "task.ensemble": 1, **extra}
    keys = {o.split("=", 1)[0] for o in base}
    base = [o for o in base if o.split("=", 1)[0] not in extra]
    return base + [f"{k}={v}" for k, v in extra.items()] + ([] if "optim.lr" in keys else [])
