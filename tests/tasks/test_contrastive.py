"""The contrastive objective through the loop, on the test token domain given views
(two random crops): both views of a window share a micro-batch, adjacent; training and
validation (loss, top-1 retrieval) run; the run embeds."""

from __future__ import annotations

import json

import numpy as np

import testdomain as td
from conftest import ft_overrides


CropViewsDomain = td.CropViewsDomain


def test_views_are_paired_in_batches_and_training_runs(tmp_path):
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune
    from encoderkit.train.config import compose_finetune
    from encoderkit.train.trainer import Trainer

    from encoderkit.data.store import StoreWriter

    store = str(tmp_path / "store.zarr")
    with StoreWriter(store, CropViewsDomain.name) as w:
        for i, ids in enumerate(td.make_records(48, seed=2)):
            w.append({"ids": ids}, id=f"r{i}")
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    overrides = ft_overrides(store, str(tmp_path / "con"), "", steps=4, **{
        "domain.name": "traintest-views", "task.type": "contrastive", "task.val_fraction": 0.25,
        "train.eval_every": 2, "task.labels": "null"})
    trainer = Trainer(compose_finetune(overrides))
    with trainer.built():
        for _, batch in zip(range(3), trainer.loader):
            assert batch.num_sequences % 2 == 0
            assert batch.record[0::2].tolist() == batch.record[1::2].tolist()
    run = finetune(overrides)
    val = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if "val_loss" in x]
    assert len(val) == 2 and all(np.isfinite(v["val_loss"]) for v in val)
    assert 0.0 <= val[-1]["val_retrieval_top1"] <= 1.0
    emb = load(run).embed(store)
    assert emb.shape == (len(RecordStore(store)), 32)


def test_long_records_leave_room_for_negatives(tmp_path):
    """Records longer than the batch: windows are cut so that a micro-batch holds at least
    MIN_CONTRASTIVE_PAIRS pairs of views. At the former max_tokens // 2 windows, one
    record's pair of views filled the batch, InfoNCE had no negative and its loss was 0."""
    from encoderkit.data.store import StoreWriter
    from encoderkit.tasks.objective import MIN_CONTRASTIVE_PAIRS
    from encoderkit.train.config import compose_finetune
    from encoderkit.train.trainer import Trainer

    store = str(tmp_path / "store.zarr")
    with StoreWriter(store, CropViewsDomain.name) as w:
        for i, ids in enumerate(td.make_records(12, seed=3, low=200, high=300)):
            w.append({"ids": ids}, id=f"r{i}")
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    overrides = ft_overrides(store, str(tmp_path / "con"), "", steps=2, **{
        "domain.name": "traintest-views", "task.type": "contrastive", "task.val_fraction": 0.0,
        "train.eval_every": 0, "task.labels": "null", "data.max_tokens": 512, "data.max_seqlen": 512})
    trainer = Trainer(compose_finetune(overrides))
    with trainer.built():
        for _, batch in zip(range(4), trainer.loader):
            lengths = np.diff(batch.cu_seqlens.numpy())
            assert lengths.max() <= 512 // (2 * MIN_CONTRASTIVE_PAIRS)
            assert batch.num_sequences // 2 >= MIN_CONTRASTIVE_PAIRS
            out = trainer.model(batch)
            assert float(out.loss.detach()) > 0.0  # negatives exist: log(pairs) at chance, not log(1) = 0
