"""CUDA: the encoder under bf16 autocast, on every attention backend that trains on
CUDA, against the float32 CPU ``sdpa`` encoder with the same weights and inputs.

Tolerance, as a norm-relative error ||got - ref|| / ||ref||: 2e-3 for the output and
the input gradient (the residual stream dominates both), 3e-2 for each parameter
gradient. bf16 autocast on CPU measured 3e-5, 4e-5 and at most 6e-3 on the same case;
the margin is for attention itself running in bf16 (varlen, flash) on the GPU.

A backend missing here is skipped by pytest; ``make gpu-check`` (benchmarks/gpu_check.py)
turns the skip of a backend that should be available on that GPU into a failure.
"""

from __future__ import annotations

import pytest
import torch

from encoderkit.core import Encoder, EncoderConfig
from encoderkit.core.attention import BACKENDS

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

LENGTHS = [30, 40, 7, 9, 70, 100, 1, 213]  # a single token, one longer than the window


def _batch(lengths, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    pos = torch.cat([torch.arange(n) for n in lengths])[:, None].int()
    return torch.randn(sum(lengths), d, generator=g), pos, cu


def _fwd_bwd(enc, x, pos, cu, bf16: bool):
    device = next(enc.parameters()).device
    x = x.detach().to(device).clone().requires_grad_(True)  # a fresh leaf per call
    pos, cu = pos.to(device), cu.to(device)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(5)).to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        y = enc(x, pos, cu, max(LENGTHS), cu.cpu())
    (y.float() * w).sum().backward()
    grads = [p.grad.float().cpu() for p in enc.parameters()]
    enc.zero_grad(set_to_none=True)
    return y.detach().float().cpu(), x.grad.float().cpu(), grads


def _rel(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-30))


@pytest.mark.parametrize("name", ["sdpa", "varlen", "flash", "flex", "xformers"])
def test_bf16_autocast_encoder_on_cuda_matches_cpu_fp32_sdpa(name):
    cuda = torch.device("cuda")
    if not BACKENDS[name].is_available(cuda):
        pytest.skip(f"{name} not available on this GPU / install")
    extra = {"global_every": 1} if not BACKENDS[name].supports_window else {}
    torch.manual_seed(0)
    ref_enc = Encoder(EncoderConfig.preset("tiny", backend="sdpa", **extra))
    enc = Encoder(EncoderConfig.preset("tiny", backend=name, **extra)).to(cuda)
    enc.load_state_dict(ref_enc.state_dict())
    x, pos, cu = _batch(LENGTHS, ref_enc.config.hidden_size)
    ref = _fwd_bwd(ref_enc, x, pos, cu, bf16=False)
    got = _fwd_bwd(enc, x, pos, cu, bf16=True)
    assert _rel(got[0], ref[0]) < 2e-3, _rel(got[0], ref[0])
    assert _rel(got[1], ref[1]) < 2e-3, _rel(got[1], ref[1])
    errors = [_rel(g, r) for g, r in zip(got[2], ref[2], strict=True) if r.abs().max() > 0]
    assert max(errors) < 3e-2, errors
