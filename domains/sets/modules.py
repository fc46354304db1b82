"""The sets domain's embedder (element fields -> hidden) and head (hidden -> id, features)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoderkit.core.init import trunc_normal_
from encoderkit.domain import HeadOutput

from .ingest import IGNORE


class SetEmbedder(nn.Module):
    """Sum of the element's parts: item embedding + projected features + which
    features are present (+ with ``offset_bands``, a projection of the Fourier features
    of ``inputs["rel_pos"]``, the element's place relative to its set's centroid and
    radius). Masked elements arrive with id [MASK], features 0 and nothing observed, so
    their content cannot leak; where they are is not a target, so it stays visible
    (in the rotary positions and in ``rel_pos``).

    Why both: rotary positions only enter attention scores as relative offsets between
    pairs, so a layer's output carries no "where am I in this set"; an element at the
    top of a digit and one at its bottom look alike until attention has tallied its
    neighbours. The Fourier features (Tancik et al. 2020) hand that to every element."""

    def __init__(self, vocab_size: int, num_features: int, hidden_size: int,
                 init_std: float = 0.02, offset_dims: int = 0, offset_bands: int = 0) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab_size, hidden_size)
        self.num_features = num_features
        if num_features:
            self.feature_proj = nn.Linear(num_features, hidden_size, bias=False)
            self.observed_proj = nn.Linear(num_features, hidden_size, bias=False)
        self.offset_dims, self.offset_bands = offset_dims, offset_bands
        if offset_dims and offset_bands:
            self.register_buffer("offset_freqs", math.pi * 2.0 ** torch.arange(offset_bands),
                                 persistent=False)
            self.offset_proj = nn.Linear(offset_dims * (2 * offset_bands + 1), hidden_size,
                                         bias=False)
        for p in self.parameters():
            trunc_normal_(p, std=init_std)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        hidden = self.tok_embeddings(inputs["ids"])  # [T, d]
        if self.num_features:
            observed = inputs["observed"].to(hidden.dtype)  # [T, F]
            values = inputs["features"].to(hidden.dtype) * observed  # [T, F]
            hidden = hidden + self.feature_proj(values) + self.observed_proj(observed)
        if self.offset_dims and self.offset_bands:
            rel = inputs["rel_pos"].to(hidden.dtype)  # [T, D]
            angles = (rel[..., None] * self.offset_freqs.to(hidden.dtype)).flatten(1)
            fourier = torch.cat([rel, angles.sin(), angles.cos()], dim=-1)
            hidden = hidden + self.offset_proj(fourier)
        return hidden


class SetHead(nn.Module):
    """ModernBERT-style prediction head (dense, GELU, norm) and one decoder per field:
    item logits over the vocabulary (cross-entropy) and normalised features (MSE on
    the target features only). Loss = ``id_weight * CE + feature_weight * MSE``, each a
    weighted mean over the predicted elements that carry that target."""

    def __init__(self, hidden_size: int, vocab_size: int | None, num_features: int,
                 norm_eps: float = 1e-5, init_std: float = 0.02, id_weight: float = 1.0,
                 feature_weight: float = 1.0, num_special: int = 0,
                 tied: nn.Embedding | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size, bias=False)
        self.norm = nn.LayerNorm(hidden_size, eps=norm_eps, bias=False)
        self.vocab_size = vocab_size
        self.num_features = num_features
        self.num_special = num_special
        self.id_weight, self.feature_weight = id_weight, feature_weight
        self.tied = tied is not None
        if vocab_size:
            if tied is not None:
                # held in a list so the shared weight is not registered twice (safetensors
                # refuses state dicts whose tensors share memory); it lives in the embedder
                self._tied = [tied]
            else:
                self.decoder = nn.Linear(hidden_size, vocab_size, bias=False)
            self.decoder_bias = nn.Parameter(torch.zeros(vocab_size))
        if num_features:
            self.feature_decoder = nn.Linear(hidden_size, num_features)
        for name, p in self.named_parameters():
            if name.endswith("bias") or name == "norm.weight":
                continue
            trunc_normal_(p, std=init_std)
        if num_features:
            nn.init.zeros_(self.feature_decoder.bias)

    def forward(self, hidden: Tensor, targets: dict[str, Tensor] | None = None,
                weights: Tensor | None = None) -> HeadOutput:
        h = self.norm(F.gelu(self.dense(hidden)))  # [P, d]
        predictions: dict[str, Tensor] = {}
        if self.vocab_size:
            weight = self._tied[0].weight if self.tied else self.decoder.weight
            logits = F.linear(h, weight, self.decoder_bias)  # [P, V]
            predictions["ids"] = logits
        if self.num_features:
            predictions["features"] = self.feature_decoder(h)  # [P, F]
        if targets is None:
            return HeadOutput(predictions=predictions)

        w = torch.ones(hidden.shape[0], device=hidden.device) if weights is None else weights.float()
        # starts from the predictions so the loss stays in the graph even for a batch
        # with no target at all (every element missing)
        loss = sum(p.float().sum() for p in predictions.values()) * 0.0
        losses, metrics = {}, {}
        if self.vocab_size:
            t = targets["ids"].long()
            valid = t != IGNORE
            ce = F.cross_entropy(predictions["ids"].float(), t.clamp_min(0), reduction="none")
            wv = w * valid
            id_loss = (ce * wv).sum() / wv.sum().clamp_min(1e-12)
            loss = loss + self.id_weight * id_loss
            losses["ids"] = id_loss.detach()
            # accuracy over real items only: special tokens are never a right answer
            logits = predictions["ids"].detach().clone()
            logits[:, :self.num_special] = float("-inf")
            hit = (logits.argmax(-1) == t) & valid
            metrics["id_accuracy"] = hit.sum().float() / valid.sum().clamp_min(1).float()
            metrics["id_targets"] = valid.sum().float()
        if self.num_features:
            m = targets["feature_mask"].bool()  # [P, F]
            mf = m.float()
            err = (predictions["features"].float() - targets["features"].float()) ** 2 * mf
            per_token = err.sum(-1) / mf.sum(-1).clamp_min(1.0)  # [P]
            wv = w * m.any(-1)
            feat_loss = (per_token * wv).sum() / wv.sum().clamp_min(1e-12)
            loss = loss + self.feature_weight * feat_loss
            losses["features"] = feat_loss.detach()
            metrics["feature_mse"] = (err.sum() / mf.sum().clamp_min(1.0)).detach()
        return HeadOutput(predictions=predictions, loss=loss, losses=losses, metrics=metrics)
