"""``task.mlm_weight``: a contrastive stage that keeps the masked-LM loss (DeCLUTR). The
pretraining head is loaded with the encoder; its loss on the masked views equals what the
pretraining model (``MaskedEncoderModel``) computes on the same batch with the same weights;
the logged total is InfoNCE + weight x masked-LM; the run embeds; bad values are config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import testdomain as td
from conftest import ft_overrides


MaskedViewsDomain = td.CropViewsDomain


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    from encoderkit.data.store import StoreWriter
    from encoderkit.train import pretrain

    tmp = tmp_path_factory.mktemp("cmlm")
    store = str(tmp / "store.zarr")
    with StoreWriter(store, MaskedViewsDomain.name) as w:
        for i, ids in enumerate(td.make_records(48, seed=3)):
            w.append({"ids": ids}, id=f"r{i}")
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    run = pretrain(td.tiny_overrides(store, str(tmp / "pre"), steps=3, **{"domain.name": MaskedViewsDomain.name}))
    return store, run


def _overrides(store: str, run_dir: str, pre, steps: int = 4, **extra) -> list[str]:
    return ft_overrides(store, run_dir, "", steps=steps, **{
        "domain.name": MaskedViewsDomain.name, "task.type": "contrastive", "task.labels": "null",
        "checkpoint": str(pre), "task.val_fraction": 0.25, "train.eval_every": 2, **extra})


def test_masked_lm_part_equals_the_pretraining_model(pretrained, tmp_path):
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.train import checkpoint as ckpt
    from encoderkit.train.config import compose_finetune
    from encoderkit.train.trainer import Trainer
    from encoderkit.infer.load import resolve_checkpoint

    store, pre = pretrained
    trainer = Trainer(compose_finetune(_overrides(store, str(tmp_path / "c"), pre, **{"task.mlm_weight": 1.0})))
    with trainer.built():
        model = trainer.model.eval()
        tensors, _, _, _ = ckpt.load_checkpoint(resolve_checkpoint(str(pre)))
        reference = MaskedEncoderModel(trainer.domain, trainer.encoder_config)
        reference.load_state_dict(tensors)
        reference.eval()
        # the task model's pretraining head is the checkpoint's, bit for bit
        head = {k: v for k, v in model.state_dict().items() if k.startswith("head.")}
        assert head and all(torch.equal(v, tensors[k]) for k, v in head.items())
        batch = next(iter(trainer.loader))
        assert batch.targets and int(batch.predict.sum()) > 0  # the training views are masked
        with torch.no_grad():
            got = model.masked_lm(model.encode(batch), batch)
            want = reference(batch).loss
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_run_logs_infonce_plus_weighted_mlm_and_embeds(pretrained, tmp_path):
    from safetensors.torch import load_file

    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    store, pre = pretrained
    run = finetune(_overrides(store, str(tmp_path / "c"), pre, **{"task.mlm_weight": 0.5, "train.log_every": 1}))
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss_mlm" in r]
    assert len(steps) == 4
    for r in steps:
        assert r["loss"] == pytest.approx(r["loss_info_nce"] + 0.5 * r["loss_mlm"], rel=1e-5)
    weights = load_file(str(run / "checkpoints" / "4" / "model.safetensors"))
    assert any(k.startswith("head.") for k in weights)
    emb = load(run).embed(store)
    assert emb.shape == (len(RecordStore(store)), 32) and np.isfinite(emb).all()
    plain = finetune(_overrides(store, str(tmp_path / "p"), pre, steps=2))
    assert not any(k.startswith("head.") for k in load_file(str(plain / "checkpoints" / "2" / "model.safetensors")))


def test_bad_values_are_config_errors(tmp_path):
    from encoderkit.train.config import ConfigError, compose_finetune

    base = ft_overrides("s.zarr", str(tmp_path / "x"), "labels.csv")
    with pytest.raises(ConfigError, match="task.mlm_weight"):
        compose_finetune(base + ["task=contrastive", "task.mlm_weight=-1"])
    with pytest.raises(ConfigError, match="not contrastive"):
        compose_finetune(base + ["task.mlm_weight=1.0"])
