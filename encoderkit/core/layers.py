"""ModernBERT blocks on packed tokens: fused-QKV attention, GeGLU MLP, pre-norm layer.

Module and parameter names match Hugging Face ModernBERT one to one
(``attn_norm``, ``attn.Wqkv``, ``attn.Wo``, ``mlp_norm``, ``mlp.Wi``, ``mlp.Wo``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from encoderkit.core.attention import AttentionBackend
from encoderkit.core.config import EncoderConfig
from encoderkit.core.init import out_std, trunc_normal_
from encoderkit.core.rope import Rotary, RotaryTables, apply_rotary


@dataclass
class LayerContext:
    """What every layer of one forward shares: positions, rotary tables, attention plan."""

    positions: Tensor  # [T, D]
    rotary: dict[str, RotaryTables | None]  # "global"/"local" tables (axial mode)
    backend: AttentionBackend
    plan: Any


class Attention(nn.Module):
    def __init__(self, config: EncoderConfig, layer: int) -> None:
        super().__init__()
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        self.kind = "global" if config.is_global(layer) else "local"
        self.window = None if self.kind == "global" else config.local_window
        self.dropout = config.attention_dropout
        d = config.hidden_size
        self.Wqkv = nn.Linear(d, 3 * d, bias=False)
        self.Wo = nn.Linear(d, d, bias=False)
        self.out_drop = nn.Dropout(config.attention_dropout) if config.attention_dropout > 0 \
            else nn.Identity()
        # RoPE-Mixed learns its frequencies per layer; axial tables live in the Encoder.
        self.rope = None
        if config.rope_mode == "mixed":
            self.rope = Rotary(config.head_dim, config.axis_split(), config.axis_thetas(self.kind),
                               "mixed", config.num_heads)

    def forward(self, x: Tensor, ctx: LayerContext) -> Tensor:
        q, k, v = self.project(x, ctx.positions, ctx.rotary.get(self.kind))
        return self.output(self.attend(q, k, v, ctx))

    def project(self, x: Tensor, positions: Tensor, tables: RotaryTables | None
                ) -> tuple[Tensor, Tensor, Tensor]:
        """Fused QKV projection, then q and k rotated in one pass: ``[T, H, Dh]`` each."""
        T = x.shape[0]
        qkv = self.Wqkv(x).view(T, 3, self.num_heads, self.head_dim)  # [T, 3, H, Dh]
        if self.rope is not None:
            tables = self.rope(positions)
        if tables is not None:
            q, k = apply_rotary(qkv[:, :2], tables).unbind(1)  # q and k in one pass
        else:
            q, k = qkv[:, 0], qkv[:, 1]
        return q, k, qkv[:, 2]

    def attend(self, q: Tensor, k: Tensor, v: Tensor, ctx: LayerContext) -> Tensor:
        return ctx.backend.attend(q, k, v, ctx.plan, self.window,
                                  self.dropout if self.training else 0.0)  # [T, H, Dh]

    def output(self, o: Tensor) -> Tensor:
        return self.out_drop(self.Wo(o.reshape(o.shape[0], -1)))


class MLP(nn.Module):
    """GeGLU: ``Wo(gelu(input) * gate)`` with ``input, gate = Wi(x).chunk(2)``."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.Wi = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.drop = nn.Dropout(config.mlp_dropout)
        self.Wo = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        input, gate = self.Wi(x).chunk(2, dim=-1)
        return self.Wo(self.drop(F.gelu(input) * gate))


class EncoderLayer(nn.Module):
    def __init__(self, config: EncoderConfig, layer: int) -> None:
        super().__init__()
        d, eps = config.hidden_size, config.norm_eps
        # The embedding norm already normalised layer 0's input.
        self.attn_norm = nn.Identity() if layer == 0 else nn.LayerNorm(d, eps=eps, bias=False)
        self.attn = Attention(config, layer)
        self.mlp_norm = nn.LayerNorm(d, eps=eps, bias=False)
        self.mlp = MLP(config)
        self.reset_parameters(config)

    def reset_parameters(self, config: EncoderConfig) -> None:
        std_in, std_out = config.initializer_range, out_std(config.initializer_range,
                                                            config.num_layers)
        trunc_normal_(self.attn.Wqkv.weight, std_in)
        trunc_normal_(self.attn.Wo.weight, std_out)
        trunc_normal_(self.mlp.Wi.weight, std_in)
        trunc_normal_(self.mlp.Wo.weight, std_out)
        for norm in (self.attn_norm, self.mlp_norm):
            if isinstance(norm, nn.LayerNorm):
                nn.init.ones_(norm.weight)

    def forward(self, x: Tensor, ctx: LayerContext) -> Tensor:
        if self.compiled_parts:
            # Attention runs eagerly between the two compiled dense parts (see compile_parts).
            q, k, v = self._pre(x, ctx.positions, ctx.rotary.get(self.attn.kind))
            return self._post(x, self.attn.attend(q, k, v, ctx))
        x = x + self.attn(self.attn_norm(x), ctx)
        return x + self.mlp(self.mlp_norm(x))

    # The layer cut around the attention call: everything but attention is dense, shape-only
    # work that torch.compile captures in one graph each (no graph break), whatever the batch.
    compiled_parts = False

    def pre_attention(self, x: Tensor, positions: Tensor, tables: RotaryTables | None
                      ) -> tuple[Tensor, Tensor, Tensor]:
        return self.attn.project(self.attn_norm(x), positions, tables)

    def post_attention(self, x: Tensor, o: Tensor) -> Tensor:
        x = x + self.attn.output(o)
        return x + self.mlp(self.mlp_norm(x))

    def compile_parts(self, **kwargs: Any) -> None:
        """``torch.compile`` the dense parts around attention, attention itself stays eager.

        For backends whose per-batch plan is Python structure (``sdpa``'s units and
        groups), compiling the whole layer would specialise on every batch's lengths and
        recompile; the two dense parts only see ``T`` (dynamic after the first change).
        """
        import torch

        self._pre = torch.compile(self.pre_attention, **kwargs)
        self._post = torch.compile(self.post_attention, **kwargs)
        self.compiled_parts = True
