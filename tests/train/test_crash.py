"""Crash safety: a training process killed with SIGKILL at random moments, including
while a checkpoint is being written, always resumes from a complete checkpoint and
finishes with the weights of an uninterrupted run (bitwise, CPU)."""

from __future__ import annotations

import pytest

import testdomain as td
from crash_runs import crash_and_finish
from encoderkit.train import pretrain


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_to_identical_weights(tmp_path):
    store = td.write_store(tmp_path / "store.zarr", n=64)
    extra = {"train.checkpoint_every": 2, "train.keep": 2, "train.eval_every": 4,
             "train.log_every": 1}
    steps = 12
    ref_run = pretrain(td.tiny_overrides(store, str(tmp_path / "ref"), steps=steps, **extra))
    run = tmp_path / "crash"
    overrides = td.tiny_overrides(store, str(run), steps=steps, **extra)
    crash_and_finish(overrides, run, ref_run, steps, check_state=lambda state: "loader" in state)
