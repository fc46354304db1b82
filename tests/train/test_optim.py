"""StableAdamW against a float64 reference of the published formula and torch-optimi."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from encoderkit.train.optim import StableAdamW, param_groups


def reference_stableadamw(theta, grads, lr, betas, eps, wd, max_lr):
    """Float64 numpy StableAdamW, written from the formula (Wortsman et al. 2023)."""
    theta = [t.astype(np.float64).copy() for t in theta]
    m = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    history, rms_seen = [], []
    for step, gs in enumerate(grads, start=1):
        b1 = betas[0] * (1 - betas[0] ** (step - 1)) / (1 - betas[0] ** step)
        b2 = betas[1] * (1 - betas[1] ** (step - 1)) / (1 - betas[1] ** step)
        lr_t = lr[step - 1]
        for i, g in enumerate(gs):
            g = g.astype(np.float64)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            rms = math.sqrt(np.mean(g * g / np.maximum(v[i], eps * eps)))
            rms_seen.append((step - 1, i, rms))
            step_lr = lr_t / max(1.0, rms)
            theta[i] = theta[i] * (1 - step_lr / max_lr * wd[i])
            theta[i] = theta[i] - step_lr * m[i] / (np.sqrt(v[i]) + eps)
        history.append([t.copy() for t in theta])
    return history, rms_seen


def make_grads(rng, shapes, steps, spike_at):
    grads = []
    for s in range(steps):
        gs = [rng.normal(size=shape) * 0.1 for shape in shapes]
        if s == spike_at:  # a gradient spike: RMS >> 1 so the update is clipped
            gs[0] = gs[0] * 1e3
        grads.append(gs)
    return grads


@pytest.mark.parametrize("foreach", [True, False])
def test_stableadamw_matches_float64_reference_with_clipping(foreach):
    rng = np.random.default_rng(0)
    shapes = [(8, 6), (6,), (3, 4, 2)]
    steps, spike = 7, 4
    theta0 = [rng.normal(size=s) for s in shapes]
    grads = make_grads(rng, shapes, steps, spike)
    lrs = [1e-2 * (0.5 + 0.1 * s) for s in range(steps)]  # a changing scheduled lr
    wd = [0.1, 0.0, 0.1]
    params = [torch.tensor(t, dtype=torch.float64, requires_grad=True) for t in theta0]
    opt = StableAdamW([{"params": [params[0], params[2]], "weight_decay": 0.1},
                       {"params": [params[1]], "weight_decay": 0.0}],
                      lr=2e-2, betas=(0.9, 0.98), eps=1e-6, foreach=foreach)
    ref, rms_seen = reference_stableadamw(theta0, grads, lrs, (0.9, 0.98), 1e-6, wd, max_lr=2e-2)
    # the test covers clipping only if the spike step's RMS exceeds 1
    assert max(r for s, i, r in rms_seen if s == spike) > 1.5
    for s in range(steps):
        for g in opt.param_groups:
            g["lr"] = lrs[s]
        for p, g in zip(params, grads[s]):
            p.grad = torch.tensor(g)
        opt.step()
        for p, r in zip(params, ref[s]):
            np.testing.assert_allclose(p.detach().numpy(), r, rtol=1e-10, atol=1e-12)


def test_stableadamw_spike_is_clipped():
    """With a spike at step 2 the step is lr / RMS, far smaller than an unclipped Adam step."""
    p = torch.zeros(100, dtype=torch.float64, requires_grad=True)
    opt = StableAdamW([p], lr=1.0, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    p.grad = torch.full((100,), 1e-3, dtype=torch.float64)
    opt.step()
    before = p.detach().clone()
    p.grad = torch.full((100,), 1e3, dtype=torch.float64)
    opt.step()
    # independent hand computation for step 2
    b1 = 0.9 * (1 - 0.9) / (1 - 0.9**2)
    b2 = 0.98 * (1 - 0.98) / (1 - 0.98**2)
    m = b1 * 1e-3 + (1 - b1) * 1e3
    v = b2 * 1e-6 + (1 - b2) * 1e6
    rms = math.sqrt(1e6 / v)
    assert rms > 1
    expected = before - (1.0 / rms) * m / (math.sqrt(v) + 1e-8)
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-12)


def test_stableadamw_matches_torch_optimi():
    optimi = pytest.importorskip("optimi")
    torch.manual_seed(0)
    model_a = nn.Sequential(nn.Linear(5, 7), nn.LayerNorm(7), nn.Linear(7, 3))
    model_b = nn.Sequential(nn.Linear(5, 7), nn.LayerNorm(7), nn.Linear(7, 3))
    model_b.load_state_dict(model_a.state_dict())
    ours = StableAdamW(param_groups(model_a, 1e-3), lr=1e-2, betas=(0.9, 0.98), eps=1e-6)
    theirs = optimi.StableAdamW(param_groups(model_b, 1e-3), lr=1e-2, betas=(0.9, 0.98), eps=1e-6,
                                decouple_lr=True, max_lr=1e-2, foreach=False, triton=False,
                                kahan_sum=False)
    x = torch.randn(16, 5)
    for step in range(6):
        scale = 1e3 if step == 3 else 1.0  # one spike to exercise the clip
        for model, opt in ((model_a, ours), (model_b, theirs)):
            for g in opt.param_groups:
                g["lr"] = 1e-2 * (1 - step / 10)
            opt.zero_grad()
            (model(x).pow(2).mean() * scale).backward()
            opt.step()
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_param_groups_no_decay_for_norms_and_biases():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4, bias=False))
    groups = param_groups(model, 1e-5)
    decay = {id(p) for p in groups[0]["params"]}
    no_decay = {id(p) for p in groups[1]["params"]}
    assert decay == {id(model[0].weight)}
    assert no_decay == {id(model[0].bias), id(model[1].weight)}
    assert groups[1]["weight_decay"] == 0.0 and groups[0]["weight_decay"] == 1e-5


def test_stableadamw_rejects_bad_betas():
    with pytest.raises(ValueError, match="betas\\[1\\]"):
        StableAdamW([torch.zeros(2, requires_grad=True)], betas=(0.9, 1.0))
