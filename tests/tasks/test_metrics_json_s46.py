"""metrics.jsonl is strict JSON: a non-finite metric (the AUROC of a validation part with one
class) is written ``null`` and read back as NaN by the run's own readers (it was a bare
``NaN``, which JavaScript's ``JSON.parse`` and every strict parser refuse)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from conftest import ft_overrides
from encoderkit.tasks import finetune
from encoderkit.train.metrics_log import metrics_line, parse_metrics_line, read_metrics


def _strict(line: str) -> dict:
    def refuse(word: str) -> None:
        raise ValueError(f"not JSON: {word}")
    return json.loads(line, parse_constant=refuse)


def test_a_non_finite_value_is_null_and_reads_back_as_nan():
    line = metrics_line({"step": 3, "val_auroc": float("nan"), "loss": 0.5, "x": float("inf")})
    assert _strict(line) == {"step": 3, "val_auroc": None, "loss": 0.5, "x": None}
    back = parse_metrics_line(line)
    assert back["step"] == 3 and back["loss"] == 0.5
    assert math.isnan(back["val_auroc"]) and math.isnan(back["x"])
    # a line an older version wrote (bare NaN) still reads
    assert math.isnan(parse_metrics_line('{"step": 1, "val_auroc": NaN}')["val_auroc"])


def test_finetune_with_a_one_class_validation_part_writes_strict_json(labelled_store, tmp_path):
    store, ids, y, labels = labelled_store
    # every validation record is of class 0: its AUROC is undefined (NaN)
    zeros = np.flatnonzero(y == 0)
    which = np.full(len(ids), "train", dtype=object)
    which[zeros[::3]] = "val"
    split = tmp_path / "split.csv"
    pd.DataFrame({"id": ids, "split": which}).to_csv(split, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "run"), str(labels), steps=4,
                                **{"task.split": str(split), "train.eval_every": 2}))
    lines = (run / "metrics.jsonl").read_text().splitlines()
    parsed = [_strict(line) for line in lines]  # raises on a bare NaN
    nulls = [r for r in parsed if r.get("val_auroc", 0) is None]
    assert nulls, "the validation AUROC of one class should be undefined (null)"
    history = read_metrics(run / "metrics.jsonl")
    assert all(math.isnan(h["val_auroc"]) for h in history if "val_auroc" in h)
