"""Crash safety: a training process killed with SIGKILL at random moments, including
while a checkpoint is being written, always resumes from a complete checkpoint and
finishes with the weights of an uninterrupted run (bitwise, CPU)."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import testdomain as td
from crash_runs import start_run, wait_for
from encoderkit.train import checkpoint as ckpt
from encoderkit.train import pretrain


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_to_identical_weights(tmp_path):
    store = td.write_store(tmp_path / "store.zarr", n=64)
    extra = {"train.checkpoint_every": 2, "train.keep": 2, "train.eval_every": 4,
             "train.log_every": 1}
    steps = 12
    ref_run = pretrain(td.tiny_overrides(store, str(tmp_path / "ref"), steps=steps, **extra))
    run = tmp_path / "crash"
    ckdir = run / "checkpoints"
    overrides = td.tiny_overrides(store, str(run), steps=steps, **extra)
    rng = np.random.default_rng(0)
    kills = 0
    for attempt in range(4):
        proc = start_run(overrides, slow_save=0.3)
        if attempt % 2 == 0:
            # kill while a checkpoint is being written (its temporary directory exists)
            caught = wait_for(lambda: ckdir.is_dir() and any(
                p.name.startswith(".tmp-") for p in ckdir.iterdir()), proc)
        else:
            # kill at a random moment after training has started
            caught = wait_for(lambda: (run / "metrics.jsonl").is_file(), proc)
            time.sleep(float(rng.uniform(0.0, 1.0)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += caught
        proc.wait()
        # whatever the moment, every step-named directory is a complete checkpoint
        for c in ckpt.complete_checkpoints(ckdir):
            model, optim, groups, state = ckpt.load_checkpoint(c)
            assert state["step"] == int(c.name) and model
        if (ckdir / str(steps)).is_dir():
            break
    assert kills >= 2, "the test never killed the trainer mid-run"
    proc = start_run(overrides, slow_save=0.0)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    a = load_file(str(ref_run / "checkpoints" / str(steps) / "model.safetensors"))
    b = load_file(str(ckdir / str(steps) / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
