"""Every attention backend against a float64 dense masked-softmax reference."""

from __future__ import annotations

import math

import pytest
import torch

from encoderkit.core.attention import BACKENDS, attend, available_backends, get_backend
from encoderkit.core.rope import Rotary, apply_rotary

CUDA = torch.device("cuda") if torch.cuda.is_available() else None


def _backend_params():
    """CPU-checkable backends run here; the others need CUDA (gpu marker) or their package."""
    params = []
    for name in BACKENDS:
        if BACKENDS[name].is_available(torch.device("cpu")):
            params.append(pytest.param(name, "cpu", id=f"{name}-cpu"))
        else:
            ok = CUDA is not None and BACKENDS[name].is_available(CUDA)
            params.append(pytest.param(name, "cuda", id=f"{name}-cuda", marks=[
                pytest.mark.gpu, pytest.mark.skipif(not ok, reason=f"{name} needs CUDA + package")]))
    return params


def packed(lengths, heads, head_dim, seed, device="cpu", dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    T = sum(lengths)
    q, k, v = (torch.randn(T, heads, head_dim, generator=g).to(device, dtype) for _ in range(3))
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=device)
    return q, k, v, cu


def reference(q, k, v, cu, window):
    """Dense float64 softmax over all T tokens with a same-sequence (+ band) mask."""
    q, k, v = (x.double().cpu() for x in (q, k, v))
    lengths = (cu[1:] - cu[:-1]).long().cpu()
    doc = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    pos = torch.arange(q.shape[0]) - cu.long().cpu()[doc]
    allowed = doc[:, None] == doc[None, :]
    if window is not None:
        allowed &= (pos[:, None] - pos[None, :]).abs() <= window // 2
    scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(q.shape[-1])
    p = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
    return torch.einsum("hts,shd->thd", p, v)


# Lengths 1 .. a few hundred, in an order where equal lengths are and are not adjacent.
LENGTHS = [1, 213, 7, 40, 40, 33, 1, 130, 130, 17]


@pytest.mark.parametrize("name,device", _backend_params())
@pytest.mark.parametrize("window", [None, 24])
@pytest.mark.parametrize("head_dim", [32, 64])
def test_backend_matches_float64_reference(name, device, window, head_dim):
    if window is not None and not BACKENDS[name].supports_window:
        pytest.skip(f"{name} has no local window")
    half = device == "cuda" and name in ("varlen", "flash")
    q, k, v, cu = packed(LENGTHS, 2, head_dim, seed=head_dim + (window or 0), device=device)
    out = attend(q, k, v, cu, max(LENGTHS), window, backend=name)
    assert out.shape == q.shape and out.dtype == q.dtype
    tol = 2e-2 if half else 2e-5
    torch.testing.assert_close(out.double().cpu(), reference(q, k, v, cu, window), atol=tol, rtol=tol)


def _reference_rotary(x, positions, split, theta):
    """Rotate-half N-D rotary in float64, pair by pair (independent of encoderkit.core.rope)."""
    x = x.double().clone()
    P = x.shape[-1] // 2
    out = x.clone()
    p = 0
    for axis, n in enumerate(split):
        for i in range(n):
            freq = theta ** (-(2 * i) / (2 * n))
            ang = positions[:, axis].double() * freq  # [T]
            c, s = ang.cos()[:, None], ang.sin()[:, None]
            a, b = x[:, :, p], x[:, :, p + P]
            out[:, :, p], out[:, :, p + P] = a * c - b * s, b * c + a * s
            p += 1
    return out


@pytest.mark.parametrize("axes", [0, 1, 2, 3])
def test_sdpa_with_nd_rotary_matches_reference(axes):
    head_dim, theta = 32, 1000.0
    split = [head_dim // 2 // axes + (1 if a < (head_dim // 2) % axes else 0) for a in range(axes)]
    lengths = [50, 3, 81]
    q, k, v, cu = packed(lengths, 2, head_dim, seed=axes)
    g = torch.Generator().manual_seed(10 + axes)
    positions = torch.randint(0, 40, (sum(lengths), axes), generator=g).int()
    rot = Rotary(head_dim, split, [theta] * axes)
    tables = rot(positions)
    qr, kr = (apply_rotary(x, tables) if tables is not None else x for x in (q, k))
    out = attend(qr, kr, v, cu, max(lengths), 16, backend="sdpa")
    ref = reference(_reference_rotary(q, positions, split, theta),
                    _reference_rotary(k, positions, split, theta), v, cu, 16)
    torch.testing.assert_close(out.double(), ref, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("window", [None, 16])
def test_sdpa_gradients_match_reference(window):
    """sdpa is the CPU training backend: its backward must be right too (padded groups included)."""
    q, k, v, cu = packed(LENGTHS, 2, 32, seed=3)
    qkv = [x.double().requires_grad_() for x in (q, k, v)]
    w = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    (attend(*qkv, cu, max(LENGTHS), window, backend="sdpa") * w).sum().backward()
    ref = [x.double().requires_grad_() for x in (q, k, v)]
    (reference(*ref, cu, window) * w).sum().backward()
    for a, b in zip(qkv, ref):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-9, rtol=1e-7)


def test_sdpa_many_short_sequences_in_groups_match_reference():
    """Hundreds of short sequences of mixed lengths in no order (contrastive views): padded
    into groups and unpadded by one gather each way; values and gradients as the reference."""
    lengths = torch.randint(1, 21, (300,), generator=torch.Generator().manual_seed(5)).tolist()
    q, k, v, cu = packed(lengths, 2, 16, seed=6)
    qkv = [x.double().requires_grad_() for x in (q, k, v)]
    w = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    out = attend(*qkv, cu, max(lengths), None, backend="sdpa")
    (out * w).sum().backward()
    ref = [x.double().requires_grad_() for x in (q, k, v)]
    expected = reference(*ref, cu, None)
    (expected * w).sum().backward()
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=1e-8)
    for a, b in zip(qkv, ref):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("L,i", [(40, 20), (150, 64), (150, 149)])  # dense; blocked (edges)
def test_window_gradient_is_zero_beyond_half_window(L, i):
    """d out[i] / d k[j], v[j] is exactly zero for |i - j| > window // 2, non-zero within."""
    window = 16
    q, k, v, cu = packed([5, L, 9], 2, 32, seed=7)
    k.requires_grad_(), v.requires_grad_()
    out = attend(q, k, v, cu, L, window, backend="sdpa")
    out[5 + i].sum().backward()
    for grad in (k.grad, v.grad):
        per_token = grad[5:5 + L].abs().sum((1, 2))  # [L]
        dist = (torch.arange(L) - i).abs()
        assert torch.all(per_token[dist > window // 2] == 0)
        assert torch.all(per_token[dist <= window // 2] > 0)
        assert torch.all(grad[:5] == 0) and torch.all(grad[5 + L:] == 0)  # other sequences


def test_auto_is_sdpa_on_cpu_and_unknown_backend_is_refused():
    assert "sdpa" in available_backends("cpu")
    assert get_backend("auto", "cpu").name == "sdpa"
    with pytest.raises(ValueError, match="'backend'"):
        get_backend("nope", "cpu")


def test_unavailable_backend_error_names_the_alternatives():
    missing = [n for n in BACKENDS if n not in available_backends("cpu")]
    if not missing:
        pytest.skip("every backend is available on CPU here")
    with pytest.raises(ValueError, match="not available"):
        get_backend(missing[0], "cpu")
