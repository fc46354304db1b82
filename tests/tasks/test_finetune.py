"""`finetune` on the shared trainer: a separable task is learned, shuffled labels stay at
chance, exact resume, pretrained start, freezing, early stopping, regression units."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from conftest import ft_overrides
from encoderkit.errors import EncoderkitError
from encoderkit.tasks import finetune


def _metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_separable_task_is_learned_and_shuffled_labels_stay_at_chance(labelled_store, tmp_path):
    store, ids, y, labels = labelled_store
    common = {"task.val_fraction": 0.3, "train.eval_every": 40, "train.checkpoint_every": 0}
    run = finetune(ft_overrides(store, str(tmp_path / "real"), labels, steps=40, **common))
    val = [m for m in _metrics(run) if "val_accuracy" in m][-1]
    assert val["val_accuracy"] >= 0.95
    shuffled = tmp_path / "shuffled.csv"
    pd.DataFrame({"id": ids, "label": np.random.default_rng(0).permutation(y)}).to_csv(shuffled, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "shuf"), str(shuffled), steps=40, **common))
    val = [m for m in _metrics(run) if "val_accuracy" in m][-1]
    chance = max(np.mean(y), 1 - np.mean(y))
    assert val["val_accuracy"] <= chance + 0.15
    # the best checkpoint by validation macro-F1 sits besides the newest
    state = json.loads((run / "best" / "state.json").read_text())
    assert state["task"]["classes"] == ["0", "1"] and state["best"]["metric"] == "val_macro_f1"


def test_exact_resume_is_bitwise(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    common = {"schedule.total": 6, "train.checkpoint_every": 3, "train.eval_every": 3,
              "task.dropout": 0.2, "task.layer_decay": 0.8, "task.head_lr": 3.0}
    a = finetune(ft_overrides(store, str(tmp_path / "a"), labels, steps=6, **common))
    b = tmp_path / "b"
    finetune(ft_overrides(store, str(b), labels, steps=3, **common))
    finetune(ft_overrides(store, str(b), labels, steps=6, **common))  # resumes from step 3
    wa = load_file(str(a / "checkpoints/6/model.safetensors"))
    wb = load_file(str(b / "checkpoints/6/model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert [m.get("loss") for m in _metrics(a)] == [m.get("loss") for m in _metrics(b)]


def test_pretrained_start_and_frozen_encoder(labelled_store, tmp_path):
    from encoderkit.train import pretrain

    store, _, _, labels = labelled_store
    pre = pretrain(td.tiny_overrides(store, str(tmp_path / "pre"), steps=2))
    pre_w = load_file(str(pre / "checkpoints/2/model.safetensors"))
    run = finetune(ft_overrides(store, str(tmp_path / "ft"), labels, steps=3, checkpoint=str(pre),
                                **{"task.freeze_encoder": "true", "train.eval_every": 0,
                                   # ignored: the architecture comes from the checkpoint
                                   "model.hidden_size": 64}))
    w = load_file(str(run / "checkpoints/3/model.safetensors"))
    enc = [k for k in w if k.startswith(("embedder.", "encoder."))]
    assert enc and all(torch.equal(w[k], pre_w[k]) for k in enc)  # frozen: unchanged
    assert not torch.equal(w["classifier.weight"], torch.zeros_like(w["classifier.weight"]))
    assert w["classifier.weight"].shape == (2, 32)


def test_layer_decay_and_head_lr_groups(labelled_store, tmp_path):
    from encoderkit.train.config import compose_finetune
    from encoderkit.train.run_dir import _HELD
    from encoderkit.train.trainer import Trainer

    store, _, _, labels = labelled_store
    cfg = compose_finetune(ft_overrides(store, str(tmp_path / "g"), labels, steps=1,
                                        **{"task.layer_decay": 0.5, "task.head_lr": 4.0}))
    trainer = Trainer(cfg)
    with trainer.built():
        scale = {}
        for g in trainer.optimizer.param_groups:
            for p in g["params"]:
                scale[id(p)] = g["lr_scale"]
        names = dict(trainer.model.named_parameters())
        assert scale[id(names["embedder.tok.weight"])] == 0.5 ** 3
        assert scale[id(names["encoder.layers.0.attn.Wqkv.weight"])] == 0.5 ** 2
        assert scale[id(names["encoder.layers.1.attn.Wqkv.weight"])] == 0.5
        assert scale[id(names["encoder.final_norm.weight"])] == 1.0
        assert scale[id(names["classifier.weight"])] == 4.0
        assert os.path.realpath(tmp_path / "g") in _HELD
    assert os.path.realpath(tmp_path / "g") not in _HELD  # the lock is given back


def test_early_stopping(labelled_store, tmp_path):
    store, ids, y, labels = labelled_store
    shuffled = tmp_path / "shuffled.csv"
    pd.DataFrame({"id": ids, "label": np.random.default_rng(1).permutation(y)}).to_csv(shuffled, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "es"), str(shuffled), steps=60,
                                **{"task.patience": 2, "train.eval_every": 2, "optim.lr": 1e-5,
                                   "task.metric": "loss", "train.checkpoint_every": 0}))
    last = max(m["step"] for m in _metrics(run))
    assert last < 60
    assert (run / "checkpoints" / str(last)).is_dir()


def test_regression_in_original_units_and_split_file(labelled_store, tmp_path):
    from encoderkit.infer import load

    store, ids, y, _ = labelled_store
    target = 1000.0 + 50.0 * y  # label = stride, in big units
    labels = tmp_path / "reg.csv"
    pd.DataFrame({"id": ids, "value": target}).to_csv(labels, index=False)
    split = tmp_path / "split.csv"
    names = np.asarray(["train"] * len(ids), dtype=object)
    names[1::4], names[2::8] = "val", "test"
    pd.DataFrame({"id": ids, "split": names}).to_csv(split, index=False)
    run = finetune(ft_overrides(store, str(tmp_path / "reg"), str(labels), steps=30,
                                **{"task.type": "regression", "task.split": str(split),
                                   "train.eval_every": 10, "train.checkpoint_every": 0}))
    history = _metrics(run)
    test = [m for m in history if "test_r2" in m]
    assert test and test[-1]["test_r2"] > 0.5  # the test split is scored with the best checkpoint
    pred = load(run).predict(store)
    assert abs(pred["prediction"].mean() - target.mean()) < 25.0  # original units
    saved = json.loads((run / "split.json").read_text())
    assert sorted(saved["test"]) == sorted(np.asarray(ids)[names == "test"].tolist())


def test_user_errors_are_one_line(labelled_store, tmp_path):
    store, _, _, labels = labelled_store
    with pytest.raises(EncoderkitError, match="task.labels=<file> or task.label_column"):
        finetune(ft_overrides(store, str(tmp_path / "x"), "", steps=1))
    with pytest.raises(EncoderkitError, match="has no label columns"):
        finetune(ft_overrides(store, str(tmp_path / "y"), labels, steps=1,
                              **{"task.labels": "null", "task.label_column": "label"}))
    with pytest.raises(EncoderkitError, match="no \\[CLS\\] element"):
        finetune(ft_overrides(store, str(tmp_path / "z"), labels, steps=1, **{"task.pooling": "cls"}))
    with pytest.raises(EncoderkitError, match="task.type=token_classification is not one of"):
        finetune(ft_overrides(store, str(tmp_path / "w"), labels, steps=1,
                              **{"task.pooling": "mean_std", "task.type": "token_classification"}))
    assert not any((tmp_path / d).exists() for d in "xyzw")


@pytest.mark.parametrize("kind", ["multilabel", "token_classification", "token_regression",
                                  "supervised_contrastive"])
def test_every_task_type_trains_and_predicts(labelled_store, tmp_path, kind):
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load

    store, ids, y, _ = labelled_store
    s = RecordStore(store)
    records = [s[i] for i in range(len(s))]
    if kind == "multilabel":
        frame = pd.DataFrame({"id": ids, "stride": y, "odd_start": [int(r["ids"][0]) % 2 for r in records]})
    elif kind.startswith("token"):
        rows = [(r["id"], p, int(v) % 3 if kind == "token_classification" else float(v))
                for r in records for p, v in enumerate(r["ids"])]
        frame = pd.DataFrame(rows, columns=["id", "position", "label"])
    else:
        frame = pd.DataFrame({"id": ids, "label": y})
    labels = tmp_path / "labels.parquet"
    frame.to_parquet(labels)
    run = finetune(ft_overrides(store, str(tmp_path / "run"), str(labels), steps=2,
                                **{"task.type": kind, "train.eval_every": 2, "train.checkpoint_every": 0}))
    val = [m for m in _metrics(run) if "val_loss" in m]
    assert val and np.isfinite(val[-1]["val_loss"])
    model = load(run)
    if kind == "supervised_contrastive":
        with pytest.raises(EncoderkitError, match="use embed"):
            model.predict(store)
        assert model.embed(store).shape == (len(records), 32)
        return
    pred = model.predict(records[:2])
    if kind == "multilabel":
        assert list(pred.columns) == ["id", "prediction", "proba_stride", "proba_odd_start"]  # file order
        assert len(pred) == 2
    else:  # one row per (record, position)
        assert len(pred) == len(records[0]["ids"]) + len(records[1]["ids"])
        assert pred["position"].tolist()[:3] == [0, 1, 2]
        metrics = model.evaluate(store, labels, verbose=False)
        assert ("accuracy" if kind == "token_classification" else "rmse") in metrics
