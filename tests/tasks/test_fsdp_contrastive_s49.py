"""FSDP2 fine-tunes a contrastive task (its learned temperature is a 0-dim parameter, which
FSDP2 cannot shard: it stays whole on every rank and its gradient is averaged across the
ranks by hand). It failed at start before. Reference: the same run under DDP, whose gradient
averaging and clipping are torch's own: the same losses, gradient norms and weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from encoderkit.data.ingest import ingest


def _finetune_two_ranks(store, run, strategy: str) -> None:
    args = ["finetune", "checkpoint=none", "domain=tabular", f"data.store={store}", "task=contrastive",
            "model=tiny", "train.steps=6", "train.eval_every=3", "train.checkpoint_every=3",
            "train.progress=false", "task.ensemble=1", "data.max_tokens=128", "data.max_seqlen=32", f"run.dir={run}",
            "run.device=cpu", f"train.strategy={strategy}",
            "train.grad_clip=0.05"]  # small enough to clip every step: the mixed-norm path
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "encoderkit", *args], env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300, cwd=run.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
def test_fsdp_trains_a_contrastive_task_like_ddp(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(size=96).round(3) for c in "abcdef"})
    frame["g"] = rng.choice(["x", "y", "z"], 96)
    frame.to_csv(tmp_path / "t.csv", index=False)
    ingest("tabular", [str(tmp_path / "t.csv")], str(tmp_path / "t.zarr"), progress=False, verbose=False)
    runs = {s: tmp_path / s for s in ("ddp", "fsdp")}
    for strategy, run in runs.items():
        _finetune_two_ranks(tmp_path / "t.zarr", run, strategy)
    logs = {s: [json.loads(x) for x in (r / "metrics.jsonl").read_text().splitlines()] for s, r in runs.items()}
    losses = {s: [m["loss"] for m in log if "loss" in m] for s, log in logs.items()}
    assert len(losses["fsdp"]) == len(losses["ddp"]) > 0
    assert losses["fsdp"] == pytest.approx(losses["ddp"], rel=1e-3, abs=1e-4)
    norms = {s: [m["grad_norm"] for m in log if "grad_norm" in m] for s, log in logs.items()}
    assert min(norms["ddp"]) > 0.05  # clipped on every step
    assert norms["fsdp"] == pytest.approx(norms["ddp"], rel=1e-3)
    weights = {s: load_file(str(r / "checkpoints" / "6" / "model.safetensors")) for s, r in runs.items()}
    assert weights["fsdp"].keys() == weights["ddp"].keys()
    assert weights["fsdp"]["logit_scale"].shape == torch.Size([])
    for k, v in weights["ddp"].items():
        torch.testing.assert_close(weights["fsdp"][k], v, rtol=1e-3, atol=1e-4)
