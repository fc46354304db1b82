"""`data.max_tokens=auto` in a fine-tuning run: the batch and the `train.steps=auto` budget
resolved from the training split (checked against a hand computation over the run's own
split.json), recorded in config.yaml, and a resumed run identical to an uninterrupted one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from conftest import ft_overrides
from encoderkit.data.store import RecordStore
from encoderkit.tasks import finetune


@pytest.fixture(scope="module")
def few_labels(labelled_store, tmp_path_factory):
    """24 of the 160 records labelled: a split small enough that the auto batch is a few
    records, below data.max_seqlen=64."""
    store, ids, y, _ = labelled_store
    keep = np.r_[np.flatnonzero(y == 0)[:12], np.flatnonzero(y == 1)[:12]]
    label = np.full(len(ids), "", dtype=object)
    label[keep] = y[keep].astype(str)
    path = tmp_path_factory.mktemp("few") / "few.csv"
    pd.DataFrame({"id": ids, "label": label}).to_csv(path, index=False)
    return store, str(path)


def _expected(run: Path, store: str, epochs: float) -> tuple[int, int]:
    """(max_tokens, steps) by the documented rule, from the run's training records."""
    s = RecordStore(store)
    by_id = {s[i]["id"]: len(s[i]["ids"]) for i in range(len(s))}
    lengths = [by_id[i] for i in json.loads((run / "split.json").read_text())["train"]]
    n, total = len(lengths), sum(lengths)
    sequences = min(32, math.ceil(n / 8))
    max_tokens = max(math.ceil(sequences * total / n), max(lengths))
    return max_tokens, max(1, math.ceil(epochs * total / max_tokens))


def test_auto_batch_and_steps_follow_the_training_split(few_labels, tmp_path):
    store, labels = few_labels
    run = finetune(ft_overrides(store, str(tmp_path / "auto"), labels, steps="auto",
                                **{"data.max_tokens": "auto", "train.auto_epochs": 2,
                                   "train.auto_min_steps": 1, "task.val_fraction": 0.25,
                                   "train.eval_every": 0, "train.checkpoint_every": 0}))
    cfg = OmegaConf.load(run / "config.yaml")
    max_tokens, steps = _expected(run, store, epochs=2)
    assert 18 == len(json.loads((run / "split.json").read_text())["train"])  # 24 x 0.75
    assert cfg.data.max_tokens == max_tokens  # 3 records' worth here, not the whole split
    assert cfg.data.max_seqlen == min(64, max_tokens)
    assert cfg.train.steps == steps
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [str(steps)]
    logged = [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in m]
    assert all(m["step_tokens"] <= max_tokens and m["micro_batches"] == 1 for m in logged)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_auto_batch_resumes_bitwise(few_labels, tmp_path):
    store, labels = few_labels
    common = {"data.max_tokens": "auto", "schedule.total": 6, "train.checkpoint_every": 3,
              "train.eval_every": 3, "task.val_fraction": 0.25}
    a = finetune(ft_overrides(store, str(tmp_path / "a"), labels, steps=6, **common))
    b = tmp_path / "b"
    finetune(ft_overrides(store, str(b), labels, steps=3, **common))
    finetune(ft_overrides(store, str(b), labels, steps=6, **common))  # resumes from step 3
    assert OmegaConf.load(a / "config.yaml").data == OmegaConf.load(b / "config.yaml").data
    wa = load_file(str(a / "checkpoints/6/model.safetensors"))
    wb = load_file(str(b / "checkpoints/6/model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
