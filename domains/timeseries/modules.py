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
            nn.init.trunc_normal_(self.channel_embeddings.weight, std=std, a=-2 * std, b=2 * std)
        self.window_stats = window_stats
        if window_stats:
            self.stats_norm = RunningStandardizer(max(channels, 1), 2)
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
            stats = self.stats_norm(inputs["stats"], group)  # [T, 2], float32
            hidden = hidden + self.stats_proj(stats.to(dtype))
        return hidden


class RunningStandardizer(nn.Module):
    """Standardises features with their running mean and variance per group (float64
    Welford sums over every training token seen so far, in the state dict like
    BatchNorm's running statistics; frozen in eval mode). Gives raw-unit inputs such
    as a window's mean a scale that suits the store, whatever its units, without a
    pass over the data at ingest. Outputs are clipped to +-``clip``."""

    def __init__(self, groups: int, features: int, clip: float = 10.0) -> None:
        super().__init__()
        self.clip = clip
        self.register_buffer("count", torch.zeros(groups, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(groups, features, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(groups, features, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: Tensor, group: Tensor) -> None:
        """Chan et al.'s parallel update of (count, mean, m2) with a batch ``x`` [T, F]."""
        n_b = torch.zeros_like(self.count).index_add_(0, group, torch.ones_like(x[:, 0]))
        sum_b = torch.zeros_like(self.mean).index_add_(0, group, x)
        mean_b = sum_b / n_b.clamp(min=1.0)[:, None]
        m2_b = torch.zeros_like(self.m2).index_add_(0, group, (x - mean_b[group]) ** 2)
        n = self.count + n_b
        delta = mean_b - self.mean
        share = torch.where(n > 0, n_b / n.clamp(min=1.0), torch.zeros_like(n))[:, None]
        self.mean += delta * share
        self.m2 += m2_b + delta ** 2 * (self.count * share[:, 0])[:, None]
        self.count.copy_(n)

    def forward(self, x: Tensor, group: Tensor | None = None) -> Tensor:
        x = x.double()
        if group is None:
            group = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        if self.training and x.shape[0]:
            self.update(x, group)
        var = self.m2 / self.count.clamp(min=1.0)[:, None]
        # a floor relative to the feature's own size: a constant feature (z-normalised
        # series have window means ~1e-9) stays ~0 instead of turning noise into signal
        floor = 1e-6 * (self.mean ** 2 + var) + 1e-12
        z = (x - self.mean[group]) / (var + floor).sqrt()[group]
        return z.clamp(-self.clip, self.clip).float()


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
