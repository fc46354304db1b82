"""N-D rotary position embedding (rotate-half convention, cos/sin in float32).

Positions are ``[T, D]``. The head dimension holds ``head_dim / 2`` frequency
pairs (dim ``p`` rotates with dim ``p + head_dim / 2``, as in Hugging Face's
``rotate_half``). The pairs are split among the D axes, each axis with its own
frequency ladder ``theta_a ** (-2i / (2 n_a))`` over its ``n_a`` pairs; with
D = 1 this is exactly ModernBERT's rotary. ``mode="mixed"`` makes the
frequencies a learnable ``[H, head_dim / 2, D]`` matrix initialised from the
axial one, so each pair can rotate by a learned combination of all axes
(RoPE-Mixed, Heo et al. 2024). D = 0: no rotation at all.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

# (cos, sin), each [T, head_dim] (axial) or [T, H, head_dim] (mixed), float32.
RotaryTables = tuple[Tensor, Tensor]


def axial_frequencies(split: Sequence[int], thetas: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Per-pair inverse frequency ``[P]`` (float32) and the axis each pair follows ``[P]``."""
    inv, axis = [], []
    for a, (n, theta) in enumerate(zip(split, thetas)):
        dim = 2 * n
        # Same expression as HF ModernBertRotaryEmbedding, so D = 1 matches it bit for bit.
        inv.append(1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim)))
        axis.append(torch.full((n,), a, dtype=torch.long))
    if not inv:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.cat(inv), torch.cat(axis)


class Rotary(nn.Module):
    """Maps positions ``[T, D]`` to cos/sin tables; ``None`` when D = 0."""

    def __init__(self, head_dim: int, split: Sequence[int], thetas: Sequence[float],
                 mode: str = "axial", num_heads: int = 1) -> None:
        super().__init__()
        if sum(split) * 2 != head_dim and len(split) > 0:
            raise ValueError(f"rope split {tuple(split)} must sum to head_dim / 2 = {head_dim // 2}")
        self.head_dim = head_dim
        self.axes = len(split)
        self.mode = mode
        inv_freq, axis = axial_frequencies(split, thetas)
        # Fixed tables are recomputed from the config, never stored in checkpoints.
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("pair_axis", axis, persistent=False)
        if mode == "mixed":
            init = torch.zeros(num_heads, head_dim // 2, self.axes)  # [H, P, D]
            init[:, torch.arange(head_dim // 2), axis] = inv_freq
            self.freqs = nn.Parameter(init)
        elif mode != "axial":
            raise ValueError(f"rope mode must be 'axial' or 'mixed', got {mode!r}")

    def forward(self, positions: Tensor) -> RotaryTables | None:
        if self.axes == 0:
            return None
        pos = positions.float()  # [T, D]
        if self.mode == "axial":
            angle = pos[:, self.pair_axis] * self.inv_freq  # [T, P]
        else:
            angle = torch.einsum("td,hpd->thp", pos, self.freqs.float())  # [T, H, P]
        cos, sin = angle.cos(), angle.sin()
        return torch.cat((cos, cos), -1), torch.cat((sin, sin), -1)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, axes={self.axes}, mode={self.mode!r}"


def rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: Tensor, tables: RotaryTables) -> Tensor:
    """Rotate ``x`` ``[T, ..., H, head_dim]`` in float32; returns ``x``'s dtype.

    Axial tables ``[T, Dh]`` broadcast over every middle axis; mixed tables
    ``[T, H, Dh]`` over all but the head axis.
    """
    cos, sin = tables
    extra = x.dim() - cos.dim()
    shape = (cos.shape[0],) + (1,) * extra + tuple(cos.shape[1:])
    cos, sin = cos.view(shape), sin.view(shape)
    xf = x.float()
    return (xf * cos + rotate_half(xf) * sin).to(x.dtype)
