"""Distributed training on CPU (torchrun, gloo): 2 ranks reach the weights of 1 process
with the same global batch (a hand-written loop over both ranks' micro-batches), with
DDP and with FSDP2 (including a resume); StableAdamW's per-tensor RMS under FSDP2
equals the single-device one. The fast default-suite variant of the same gradient
weighting is test_trainer.py::test_gradient_accumulation_matches_reference_loop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import testdomain as td
from test_trainer import assert_weights_close, loaders, reference_training

HERE = Path(__file__).resolve().parent


def torchrun(script: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(script), *args],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_two_gloo_ddp_ranks_match_single_process_reference(tmp_path):
    store = td.write_store(tmp_path / "store.zarr", n=64)
    run = tmp_path / "ddp"
    proc = torchrun(HERE / "dist_entry.py", td.tiny_overrides(
        store, str(run), steps=3, **{"train.eval_every": 3, "train.checkpoint_every": 3}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"world_size": 2' in (run / "checkpoints" / "3" / "state.json").read_text()
    ref = reference_training(store, 3, [iter(ld) for ld in loaders(store, world=2)], lr=1e-2)
    # all-reduce averages the ranks' gradients in another order than one backward over
    # the summed loss: float32 round-off only
    assert_weights_close(run, 3, ref, atol=2e-6)


@pytest.mark.slow
def test_fsdp2_two_ranks_with_resume_match_reference(tmp_path):
    store = td.write_store(tmp_path / "store.zarr", n=64)
    run = tmp_path / "fsdp"
    for steps in (3, 5):  # 3 steps, then a resume from checkpoint 3 to step 5
        proc = torchrun(HERE / "dist_entry.py", td.tiny_overrides(store, str(run), steps=steps, **{
            "train.strategy": "fsdp", "train.eval_every": 3, "train.checkpoint_every": 3,
            "schedule.total": 5}))
        assert proc.returncode == 0, proc.stderr[-3000:]
    ref = reference_training(store, 5, [iter(ld) for ld in loaders(store, world=2)], lr=1e-2)
    assert_weights_close(run, 5, ref, atol=2e-6)  # measured 1.2e-7


@pytest.mark.slow
def test_stableadamw_rms_is_reduced_across_fsdp2_shards():
    proc = torchrun(HERE / "fsdp_rms_entry.py", [])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
