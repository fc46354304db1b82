"""Task heads on the core's output, pooling, and the losses of each task.

The default sequence head has exactly the structure of transformers'
``ModernBertForSequenceClassification`` (``head.dense`` -> GELU -> ``head.norm`` ->
``drop`` -> ``classifier``) and the token head that of ``ModernBertForTokenClassification``,
so a fine-tuned token-id model exports to Hugging Face with the same logits.
``head=linear`` is ``drop`` -> ``classifier``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoderkit.batch import PackedBatch
from encoderkit.core.init import trunc_normal_


class PredictionHead(nn.Module):
    """ModernBERT's ``ModernBertPredictionHead``: dense (no bias) -> GELU -> LayerNorm (no bias)."""

    def __init__(self, hidden: int, norm_eps: float, std: float, inputs: int | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(inputs or hidden, hidden, bias=False)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(hidden, eps=norm_eps, bias=False)
        trunc_normal_(self.dense.weight, std)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.act(self.dense(x)))


def projection_head(kind: str, hidden: int, norm_eps: float, std: float) -> nn.Module:
    """SimCLR's projection g (Chen et al. 2020): the contrastive loss compares g(pooled), and
    the embedding a user probes is the pooled state before g. The invariances the loss asks
    for (crop, strand, corruption) can then live in g, instead of being trained out of the
    embedding; SimCLR measured a linear probe 10+ points better before a nonlinear g than
    after it. ``mlp``: PredictionHead -> linear; ``linear``; ``none``: the loss on the pooled state."""
    if kind == "none":
        return nn.Identity()
    out = nn.Linear(hidden, hidden)
    trunc_normal_(out.weight, std)
    nn.init.zeros_(out.bias)
    return out if kind == "linear" else nn.Sequential(PredictionHead(hidden, norm_eps, std), out)


# under the square root of the spread: a finite gradient for a sequence of one token
SPREAD_EPS = 1e-6


def pool(hidden: Tensor, batch: PackedBatch, mode: str, cls_position: int | None = None) -> Tensor:
    """Per sequence: the mean of its tokens' states ``[B, d]``, its [CLS] element's, or
    (``mean_std``) the mean and the population standard deviation side by side ``[B, 2d]``.

    Why the spread: mean-pooled states of a pretrained encoder vary little between records
    (most of each vector is shared), and how much the tokens differ within a record is
    information the mean throws away (benchmarks/RESULTS.md, "Pooling: the spread of the
    token states beside their mean")."""
    if mode == "cls":
        idx = batch.cu_seqlens[:-1].long() + int(cls_position or 0)
        return hidden.index_select(0, idx)
    lengths = batch.seq_lengths().to(hidden.dtype).clamp_min(1)[:, None]
    seq = batch.sequence_ids()

    def seq_mean(x: Tensor) -> Tensor:
        sums = torch.zeros(batch.num_sequences, x.shape[-1], device=x.device, dtype=x.dtype)
        return sums.index_add_(0, seq, x) / lengths

    mean = seq_mean(hidden)
    if mode != "mean_std":
        return mean
    # the spread around each sequence's own mean (not E[x^2] - mean^2, which cancels badly
    # when the shared part of the states is large)
    centred = hidden - mean.index_select(0, seq)
    return torch.cat([mean, torch.sqrt(seq_mean(centred * centred) + SPREAD_EPS)], dim=-1)


# ---------------------------------------------------------------------------
# losses: each is the mean over the units the objective counts (labelled sequences
# or labelled tokens), with 0 (and a gradient path) when the batch has none


def _zero(x: Tensor) -> Tensor:
    return x.sum() * 0.0


def classification_loss(logits: Tensor, y: Tensor, mask: Tensor,
                        class_weights: Tensor | None = None) -> Tensor:
    """Cross-entropy, each labelled unit weighted by its class weight, averaged over units."""
    if not bool(mask.any()):
        return _zero(logits)
    lg, t = logits[mask].float(), y[mask].long()
    losses = F.cross_entropy(lg, t, reduction="none")
    if class_weights is not None:
        losses = losses * class_weights.to(losses.device)[t]
    return losses.mean()


def multilabel_loss(logits: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Binary cross-entropy per label, averaged over each record's labels, then records."""
    if not bool(mask.any()):
        return _zero(logits)
    return F.binary_cross_entropy_with_logits(logits[mask].float(), y[mask].float(),
                                              reduction="none").mean(-1).mean()


def regression_loss(pred: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """MSE on standardised targets; a missing target (NaN) of a labelled record is skipped."""
    if not bool(mask.any()):
        return _zero(pred)
    p, t = pred[mask].float(), y[mask].float()
    ok = ~torch.isnan(t)
    err = torch.where(ok, p - torch.nan_to_num(t), torch.zeros_like(p)) ** 2
    per_unit = err.sum(-1) / ok.sum(-1).clamp_min(1)
    return per_unit.mean()


def info_nce(a: Tensor, b: Tensor, logit_scale: Tensor, groups: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE with in-batch negatives (CLIP / Nomic Embed): row i of ``a`` and
    row i of ``b`` are positives, every other row of the other side a negative.
    ``logit_scale`` = 1 / temperature. The negatives are the micro-batch's other records
    (the loader packs both views of a window into the same micro-batch); ranks do not
    exchange embeddings, so under DDP each rank contrasts its own micro-batch.

    ``groups`` [N]: which window of which record each pair is (``view_groups``). Another
    copy of the same window (a batch larger than a small store, where the loader cycles
    through it) is not a negative: pushing a window away from itself is the opposite of
    what the loss is for. Such rows are left out of the softmax. (A record's other windows
    stay negatives: a genome stored as one record has nothing else to contrast with.)"""
    a = F.normalize(a.float(), dim=-1)
    b = F.normalize(b.float(), dim=-1)
    logits = logit_scale * a @ b.T
    target = torch.arange(len(a), device=a.device)
    if groups is not None:
        same = groups[:, None] == groups[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def view_groups(batch: PackedBatch) -> Tensor | None:
    """One id per view pair of a contrastive micro-batch: (record, window) of its first
    view, or None where the batch carries no provenance."""
    if batch.record is None:
        return None
    rec = batch.record[0::2].long()
    win = torch.zeros_like(rec) if batch.window is None else batch.window[0::2].long()
    return rec * (1 << 32) + win  # windows of a record < 2^32: no host sync for a max


def supervised_contrastive(z: Tensor, y: Tensor, logit_scale: Tensor) -> Tensor:
    """SupCon (Khosla et al. 2020, L_out): for each anchor, the mean over its same-label
    positives of -log softmax over all other rows; anchors without a positive are skipped."""
    z = F.normalize(z.float(), dim=-1)
    n = len(z)
    sim = logit_scale * z @ z.T
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~self_mask
    count = pos.sum(1)
    has = count > 0
    if not bool(has.any()):
        # logit_scale keeps a (zero) gradient too: DDP needs one for every parameter on
        # every rank, and a rank's micro-batch may hold no two records of one label
        return _zero(z) * logit_scale
    per_anchor = -(log_prob.masked_fill(~pos, 0.0)).sum(1)[has] / count[has]
    return per_anchor.mean()
