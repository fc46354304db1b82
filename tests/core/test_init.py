"""trunc_normal_: truncated at 2 std, with the truncated-normal standard deviation."""

from __future__ import annotations

import math

import torch

from encoderkit.core import trunc_normal_


def test_trunc_normal_is_cut_at_two_std():
    torch.manual_seed(0)
    w = trunc_normal_(torch.empty(200_000), 0.05)
    assert w.abs().max() <= 0.1 + 1e-7
    assert w.abs().max() > 0.099  # the cut is at 2 std, not tighter
    # Var of N(0, 1) truncated to [-2, 2]: 1 - 2 * 2 * phi(2) / (2 Phi(2) - 1).
    phi = math.exp(-2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(2 / math.sqrt(2)))
    expected = 0.05 * math.sqrt(1 - 4 * phi / (2 * Phi - 1))
    assert abs(w.std().item() - expected) / expected < 0.01
    assert abs(w.mean().item()) < 1e-3
