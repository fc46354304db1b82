"""`Encoder`: embedding norm -> ModernBERT layers (global / local) -> final norm, on packed tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from encoderkit.core.attention import get_backend
from encoderkit.core.attention.xformers import window_error
from encoderkit.core.config import EncoderConfig
from encoderkit.core.layers import EncoderLayer, LayerContext
from encoderkit.core.rope import Rotary


class Encoder(nn.Module):
    """``Encoder(config)(hidden [T, d], positions [T, D], cu_seqlens [B+1], max_seqlen) -> [T, d]``.

    ``hidden`` are raw embeddings from a domain embedder; the embedding LayerNorm
    is applied here (HF ``embeddings.norm`` maps to ``embedding_norm``).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        if config.backend == "xformers" and config.has_local_layers:
            raise window_error()
        self.config = config
        d, eps = config.hidden_size, config.norm_eps
        self.embedding_norm = nn.LayerNorm(d, eps=eps, bias=False)
        self.embedding_drop = nn.Dropout(config.embedding_dropout)
        self.layers = nn.ModuleList(EncoderLayer(config, i) for i in range(config.num_layers))
        self.final_norm = nn.LayerNorm(d, eps=eps, bias=False)
        # Axial tables are shared by all layers of a kind (computed once per forward).
        self.rotary = nn.ModuleDict()
        if config.rope_mode == "axial" and config.rope_axes > 0:
            for kind in ("global", "local"):
                self.rotary[kind] = Rotary(config.head_dim, config.axis_split(),
                                           config.axis_thetas(kind))
        self.gradient_checkpointing = False

    def forward(self, hidden: Tensor, positions: Tensor, cu_seqlens: Tensor,
                max_seqlen: int, cu_seqlens_host: Tensor | None = None) -> Tensor:
        """``cu_seqlens_host``: an optional CPU copy of ``cu_seqlens``; attention plans read
        it instead of copying ``cu_seqlens`` back from the device (no host sync)."""
        backend = get_backend(self.config.backend, hidden.device)
        kinds = {layer.attn.kind for layer in self.layers}
        ctx = LayerContext(
            positions=positions,
            rotary={k: self.rotary[k](positions) if k in self.rotary else None for k in kinds},
            backend=backend,
            plan=backend.plan(cu_seqlens, max_seqlen, cu_seqlens_host),
        )
        if hasattr(ctx.plan, "prepare"):  # per-batch masks built eagerly, outside compiled code
            ctx.plan.prepare({layer.attn.window for layer in self.layers})
        x = self.embedding_drop(self.embedding_norm(hidden))
        for layer in self.layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, ctx, use_reentrant=False)
            else:
                x = layer(x, ctx)
        return self.final_norm(x)

    # backends whose attention traces into a graph with shape-only guards (block masks are
    # tensors); the others keep a Python per-batch plan, so only the dense parts compile
    WHOLE_LAYER_COMPILE = ("flex",)

    def compile(self, *args, **kwargs) -> None:  # noqa: D401 - nn.Module.compile signature
        """``torch.compile`` per layer (plan building and the norms around stay eager).

        ``flex`` on CUDA: each whole layer, attention included, one graph. Otherwise: the
        dense parts before and after attention (``EncoderLayer.compile_parts``), so a new
        batch's lengths never trigger a recompile.
        """
        device = next(self.parameters()).device
        # CPU inductor's flex kernel is not usable here (lowering errors / wrong numbers on
        # torch 2.13 CPU) and CPU flex is a forward-only check path: whole layers on CUDA only.
        whole = device.type == "cuda" and \
            get_backend(self.config.backend, device).name in self.WHOLE_LAYER_COMPILE
        for layer in self.layers:
            if whole:
                layer.compile(*args, **kwargs)
            else:
                layer.compile_parts(**kwargs)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
