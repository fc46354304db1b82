"""ModernBERT initialisation: truncated normal with the cutoff at 2 standard deviations."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.overrides import handle_torch_function, has_torch_function_unary


@torch.no_grad()
def trunc_normal_(tensor: Tensor, std: float) -> Tensor:
    """Fill ``tensor`` in place from N(0, std^2) truncated to [-2 std, 2 std].

    A torch function (as ``nn.init.normal_`` is, and torch 2.13's ``nn.init.trunc_normal_`` is
    not), so that a function mode sees the whole fill: a build whose weights a checkpoint then
    replaces skips it (``modeling.random_init_skipped``)."""
    if has_torch_function_unary(tensor):
        return handle_torch_function(trunc_normal_, (tensor,), tensor, std)
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


def out_std(initializer_range: float, num_layers: int) -> float:
    """Std of the residual-branch output projections: scaled down with depth."""
    return initializer_range / math.sqrt(2.0 * num_layers)
