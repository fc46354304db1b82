"""Checkpoint files: atomic layout, keep-K, RNG round trip, tied weights, config diff."""

from __future__ import annotations

import json
import random

import numpy as np
import torch
from torch import nn

from encoderkit.train import checkpoint as ckpt


def test_rng_state_round_trip_through_json():
    torch.manual_seed(3)
    np.random.seed(4)
    random.seed(5)
    state = json.loads(json.dumps(ckpt.rng_state()))
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    ckpt.set_rng_state(state)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0])
    np.testing.assert_array_equal(expected[1], got[1])
    assert expected[2] == got[2]


def _save(tmp_path, step, keep=2):
    return ckpt.save_checkpoint(tmp_path / "checkpoints", step, {"w": torch.full((2,), float(step))},
                                {"state.0.exp_avg": torch.zeros(2)}, [{"lr": 1.0}],
                                {"step": step, "config": {}}, keep=keep)


def test_save_keeps_last_k_and_ignores_incomplete(tmp_path):
    for step in (1, 2, 3):
        _save(tmp_path, step)
    d = tmp_path / "checkpoints"
    # a crash mid-write leaves a temp dir, and a step dir without state.json never counts
    (d / ".tmp-4-999").mkdir()
    (d / "5").mkdir()
    assert [p.name for p in ckpt.complete_checkpoints(d)] == ["2", "3"]
    assert ckpt.latest_checkpoint(d).name == "3"
    model, optim, groups, state = ckpt.load_checkpoint(d / "3")
    assert torch.equal(model["w"], torch.full((2,), 3.0))
    assert groups == [{"lr": 1.0}] and state["step"] == 3
    assert state["format_version"] == ckpt.FORMAT_VERSION
    ckpt.remove_stale(d)
    assert not (d / ".tmp-4-999").exists()


def test_tied_weights_saved_once_and_restored():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.out = nn.Linear(3, 5, bias=False)
            self.out.weight = self.emb.weight

    a, b = Tied(), Tied()
    state = ckpt.model_state(a)
    assert len(state) == 1
    ckpt.load_model_state(b, state)
    assert torch.equal(b.out.weight, a.emb.weight) and b.out.weight is b.emb.weight


def test_optimizer_round_trip():
    from encoderkit.train.optim import StableAdamW

    p = nn.Parameter(torch.randn(4, 3))
    opt = StableAdamW([p], lr=1e-2)
    p.grad = torch.randn(4, 3)
    opt.step()
    tensors, groups = ckpt.optimizer_tensors(opt)
    groups = json.loads(json.dumps(groups))
    q = nn.Parameter(p.detach().clone())
    opt2 = StableAdamW([q], lr=1e-2)
    ckpt.load_optimizer_tensors(opt2, tensors, groups)
    g = torch.randn(4, 3)
    p.grad, q.grad = g.clone(), g.clone()
    opt.step()
    opt2.step()
    assert torch.equal(p, q)


def test_config_diff_names_changed_keys_and_ignores_duration():
    a = {"optim": {"lr": 1e-3}, "train": {"steps": 10}, "model": {"preset": "tiny"}}
    b = {"optim": {"lr": 2e-3}, "train": {"steps": 20}, "model": {"preset": "tiny"}}
    assert ckpt.config_diff(a, b) == ["optim.lr: checkpoint 0.001, now 0.002"]
    assert ckpt.config_hash(a) != ckpt.config_hash(b)
    b["optim"]["lr"] = 1e-3
    assert ckpt.config_hash(a) == ckpt.config_hash(b)  # train.steps does not count
