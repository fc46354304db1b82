"""Patch embedder and reconstruction head of the time-series domain."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoderkit.core.init import trunc_normal_
from encoderkit.domain import HeadOutput


def _init_linear(layer: nn.Linear, std: float) -> None:
    trunc_normal_(layer.weight, std)  # ModernBERT init: truncated normal, cut at 2 std
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class PatchEmbedder(nn.Module):
    """A patch's normalised values and its observed flags -> one hidden vector.

    The observed flags go in beside the values so that "0 because unobserved/masked"
    and "0 because the value is the channel mean" are different inputs; ``fields`` may
    add the ``baseline`` (linear interpolation of the visible samples).
    """

    def __init__(self, patch: int, hidden_size: int, std: float = 0.02,
                 fields: tuple[str, ...] = ("values", "observed"), channels: int = 0,
                 window_stats: bool = False) -> None:
        super().__init__()
        self.patch = patch
        self.fields = tuple(fields)
        self.proj = nn.Linear(len(self.fields) * patch, hidden_size)
        _init_linear(self.proj, std)
        self.channels = channels
        if channels:
            self.channel_embeddings = nn.Embedding(channels, hidden_size)
            trunc_normal_(self.channel_embeddings.weight, std)
        self.window_stats = window_stats
        if window_stats:
            self.stats_center = RunningCenter(max(channels, 1), 1)
            self.stats_proj = nn.Linear(2, hidden_size, bias=False)
            _init_linear(self.stats_proj, std)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        dtype = self.proj.weight.dtype
        parts = [inputs[k].to(dtype) for k in self.fields]  # each [T, p]
        hidden = self.proj(torch.cat(parts, dim=-1))  # [T, d]
        if self.channels:
            hidden = hidden + self.channel_embeddings(inputs["channel"].long()).to(dtype)
        if self.window_stats:
            group = inputs["channel"].long() if self.channels else None
            stats = inputs["stats"].float()  # [T, 2]: asinh(mean / scale), log scale
            log_scale = self.stats_center(stats[:, 1:], group)  # its units' offset removed
            hidden = hidden + self.stats_proj(torch.cat([stats[:, :1], log_scale], -1).to(dtype))
        return hidden


class PatchHead(nn.Module):
    """Linear reconstruction of a predicted patch; MSE on its target samples (with
    ``loss_delta``, squared error up to that many units and linear beyond: 2 x Huber, equal
    to the MSE inside the band, so the two read alike).

    Targets: ``values`` [P, p] (normalised truth) and ``target_mask`` [P, p] (observed
    samples hidden from the input). A token's loss is the mean squared error over its
    target samples; the batch loss is the weighted mean over predicted tokens.
    """

    def __init__(self, patch: int, hidden_size: int, std: float = 0.02,
                 loss_delta: float | None = None) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, patch)
        self.loss_delta = loss_delta
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
        if self.loss_delta:
            # A window's few visible samples can have a small spread, and a hidden sample
            # then normalises to tens of units: its squared error would outweigh the batch.
            err = F.huber_loss(pred, truth, reduction="none", delta=float(self.loss_delta)) * 2 * m
        else:
            err = sq
        n = m.sum(dim=1)  # [P]
        per_token = err.sum(dim=1) / n.clamp(min=1.0)
        w = (n > 0).to(pred.dtype)
        if weights is not None:
            w = w * weights.to(pred.dtype)
        out.loss = (per_token * w).sum() / w.sum().clamp(min=1e-12)
        with torch.no_grad():
            total = m.sum().clamp(min=1.0)
            out.losses = {"huber" if self.loss_delta else "mse": out.loss.detach()}
            out.metrics = {"sample_mse": sq.sum() / total,
                           "sample_mae": ((pred - truth).abs() * m).sum() / total}
        return out


class RunningCenter(nn.Module):
    """Subtracts each feature's running mean per group (float64 sums over every training
    token seen so far, in the state dict like BatchNorm's running statistics; frozen in
    eval mode). Centres a feature whose offset depends on the data's units (the log of a
    scale) without rescaling it: dividing by the running spread would blow a near-constant
    feature (a z-normalised series' window scale, ~1 give or take a masked sample) up into
    a strong, and leaky, signal."""

    def __init__(self, groups: int, features: int) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(groups, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(groups, features, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: Tensor, group: Tensor) -> None:
        n_b = torch.zeros_like(self.count).index_add_(0, group, torch.ones_like(x[:, 0]))
        sum_b = torch.zeros_like(self.mean).index_add_(0, group, x)
        n = self.count + n_b
        self.mean += (sum_b - n_b[:, None] * self.mean) / n.clamp(min=1.0)[:, None]
        self.count.copy_(n)

    def forward(self, x: Tensor, group: Tensor | None = None) -> Tensor:
        x = x.double()
        if group is None:
            group = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        if self.training and x.shape[0]:
            self.update(x, group)
        return (x - self.mean[group]).float()
