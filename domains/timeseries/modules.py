"""Patch embedder and reconstruction head of the time-series domain."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from encoderkit.domain import HeadOutput


def _init_linear(layer: nn.Linear, std: float) -> None:
    # ModernBERT init: truncated normal, cut at 2 std.
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class PatchEmbedder(nn.Module):
    """A patch's normalised values and its observed flags -> one hidden vector.

    The observed flags go in beside the values so that "0 because unobserved/masked"
    and "0 because the value is the channel mean" are different inputs; ``fields`` may
    add the ``baseline`` (linear interpolation of the visible samples).
    """

    def __init__(self, patch: int, hidden_size: int, std: float = 0.02,
                 fields: tuple[str, ...] = ("values", "observed"), channels: int = 0) -> None:
        super().__init__()
        self.patch = patch
        self.fields = tuple(fields)
        self.proj = nn.Linear(len(self.fields) * patch, hidden_size)
        _init_linear(self.proj, std)
        self.channels = channels
        if channels:
            self.channel_embeddings = nn.Embedding(channels, hidden_size)
            nn.init.trunc_normal_(self.channel_embeddings.weight, std=std, a=-2 * std, b=2 * std)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        dtype = self.proj.weight.dtype
        parts = [inputs[k].to(dtype) for k in self.fields]  # each [T, p]
        hidden = self.proj(torch.cat(parts, dim=-1))  # [T, d]
        if self.channels:
            hidden = hidden + self.channel_embeddings(inputs["channel"].long()).to(dtype)
        return hidden


class PatchHead(nn.Module):
    """Linear reconstruction of a predicted patch; MSE on its target samples.

    Targets: ``values`` [P, p] (normalised truth) and ``target_mask`` [P, p] (observed
    samples hidden from the input). A token's loss is the mean squared error over its
    target samples; the batch loss is the weighted mean over predicted tokens.
    """

    def __init__(self, patch: int, hidden_size: int, std: float = 0.02) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, patch)
        _init_linear(self.proj, std)

    def forward(self, hidden: Tensor, targets: dict[str, Tensor] | None = None,
                weights: Tensor | None = None) -> HeadOutput:
        pred = self.proj(hidden).float()  # [P, p]
        out = HeadOutput(predictions={"values": pred})
        if targets is None or "values" not in targets:
            return out
        truth = targets["values"].float()
        m = targets["target_mask"].to(pred.dtype)  # [P, p]
        sq = (pred - truth).square() * m
        n = m.sum(dim=1)  # [P]
        per_token = sq.sum(dim=1) / n.clamp(min=1.0)
        w = (n > 0).to(pred.dtype)
        if weights is not None:
            w = w * weights.to(pred.dtype)
        out.loss = (per_token * w).sum() / w.sum().clamp(min=1e-12)
        with torch.no_grad():
            total = m.sum().clamp(min=1.0)
            out.losses = {"mse": out.loss.detach()}
            out.metrics = {"sample_mse": sq.sum() / total,
                           "sample_mae": ((pred - truth).abs() * m).sum() / total}
        return out
