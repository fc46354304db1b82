"""CUDA: the optimizer's multi-tensor (foreach) path and a whole bf16 training run,
each against the float32 CPU reference.

* StableAdamW ``foreach=True`` on CUDA vs the per-tensor loop on CPU, same gradients
  (a spike included, so the RMS clip acts): parameters within rtol 1e-5, atol 1e-6
  (the same two paths on CPU differ by 1.2e-7 after 6 steps).
* ``pretrain`` on CUDA (bf16 autocast, attention backend ``auto``, foreach optimizer)
  vs on CPU (fp32, sdpa), same config otherwise: per-step training losses within
  1e-2 relative. The same loop under CPU bf16 autocast drifted at most 3e-4 in 6
  steps; the margin is for bf16 attention kernels.

``make gpu-check`` runs these (see benchmarks/gpu_check.py).
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

import testdomain as td
from encoderkit.train import pretrain
from encoderkit.train.optim import StableAdamW

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_foreach_stableadamw_on_cuda_matches_cpu_loop():
    rng = np.random.default_rng(0)
    shapes = [(64, 48), (48,), (7, 5, 3), (1,)]
    init = [torch.from_numpy(rng.normal(size=s)).float() for s in shapes]
    runs = {}
    for device, foreach in (("cpu", False), ("cuda", True)):
        params = [t.clone().to(device).requires_grad_(True) for t in init]
        opt = StableAdamW([{"params": params[:2], "weight_decay": 0.1},
                           {"params": params[2:], "weight_decay": 0.0}],
                          lr=2e-2, betas=(0.9, 0.98), eps=1e-6, foreach=foreach)
        g_rng = np.random.default_rng(1)
        for step in range(6):
            for g in opt.param_groups:
                g["lr"] = 2e-2 * (1 - step / 10)
            for i, p in enumerate(params):
                grad = g_rng.normal(size=shapes[i]) * (1e3 if step == 3 and i == 0 else 0.1)
                p.grad = torch.from_numpy(grad).float().to(device)
            opt.step()
        runs[device] = [p.detach().cpu() for p in params]
    for got, ref in zip(runs["cuda"], runs["cpu"], strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)



def test_bf16_training_on_cuda_matches_cpu_fp32(tmp_path):
    store = td.write_store(tmp_path / "store.zarr", n=64)
    common = {"train.eval_every": 0, "train.checkpoint_every": 6}
    cpu = pretrain(td.tiny_overrides(store, str(tmp_path / "cpu"), steps=6, **common))
    gpu = pretrain(td.tiny_overrides(store, str(tmp_path / "gpu"), steps=6, **{
        **common, "run.device": "cuda", "run.precision": "bf16", "model.backend": "auto"}))
    got, ref = td.train_losses(gpu), td.train_losses(cpu)
    assert len(got) == len(ref) == 6
    torch.testing.assert_close(torch.tensor(got), torch.tensor(ref), rtol=1e-2, atol=0)
