"""Cell embedder and prediction head of the tabular domain.

Numeric encoding: piecewise-linear encoding (PLE) over quantile bins (Gorishniy,
Rubachev & Babenko 2022, "On Embeddings for Numerical Features in Tabular Deep
Learning"). Chosen over periodic features because (1) the quantile edges are the
same bins the head classifies into, so input and output share one
discretisation computed once at ingest; (2) quantile bins adapt to skewed and
heavy-tailed columns with no frequency scale to tune (periodic features need a
sigma per dataset); (3) the encoding is exact for low-cardinality integral
columns (each distinct value gets its own edge). Each numeric cell becomes
``[ple_1 .. ple_B, clip(z, -5, 5)]`` (the raw normalised value lets values
outside the training range still move the embedding), projected by a
PER-COLUMN linear map; the per-column map is an ``embedding_bag`` with
per-sample weights, so no ``[T, B, d]`` intermediate exists.

Token embedding = column identity + (value embedding if observed else the
column's learned "missing" embedding). A cell hidden for training uses the same
missing embedding, so training sees exactly what infill sees.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoderkit.core.init import trunc_normal_  # ModernBERT init: truncated normal, cut at 2 std
from encoderkit.domain import HeadOutput

from domains.tabular.layout import TableLayout


class TabularEmbedder(nn.Module):
    """inputs {column, cat, num, observed} [T] -> raw embeddings [T, d]."""

    def __init__(self, layout: TableLayout, hidden_size: int, init_std: float = 0.02) -> None:
        super().__init__()
        c, b, d = layout.num_columns, layout.num_bins, hidden_size
        self.num_features = b + 1
        self.column = nn.Embedding(c, d)
        self.missing = nn.Embedding(c, d)
        self.category = nn.Embedding(layout.num_cat_rows, d)
        self.numeric = nn.EmbeddingBag(c * self.num_features, d, mode="sum")
        self.register_buffer("is_numeric", torch.from_numpy(layout.is_numeric), persistent=False)
        self.register_buffer("cat_offset", torch.from_numpy(layout.cat_offset), persistent=False)
        lo = torch.from_numpy(layout.edges[:, :-1].copy())
        width = torch.from_numpy(np.maximum(np.diff(layout.edges, axis=1), 1e-6).astype(np.float32))
        self.register_buffer("bin_low", lo, persistent=False)  # [C, B]
        self.register_buffer("bin_width", width, persistent=False)  # [C, B]
        self.cat_pad_row = layout.cat_pad_row
        for emb in (self.column, self.missing, self.category, self.numeric):
            trunc_normal_(emb.weight, init_std)

    def ple(self, column: Tensor, num: Tensor) -> Tensor:
        """[T] columns, [T] normalised values -> [T, B + 1] features."""
        x = num.float()[:, None]
        ple = ((x - self.bin_low[column]) / self.bin_width[column]).clamp(0.0, 1.0)  # [T, B]
        return torch.cat([ple, x.clamp(-5.0, 5.0)], dim=1)

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        column = inputs["column"].long()  # [T]
        observed = inputs["observed"].bool()  # [T]
        is_num = self.is_numeric[column]  # [T]
        f = self.num_features
        bag = column[:, None] * f + torch.arange(f, device=column.device)  # [T, F]
        weights = self.ple(column, inputs["num"]) * is_num[:, None]  # categorical cells add nothing
        num_emb = self.numeric(bag, per_sample_weights=weights)  # [T, d]
        cat_row = torch.where(is_num, torch.full_like(column, self.cat_pad_row),
                              self.cat_offset[column] + inputs["cat"].long())
        value = torch.where(is_num[:, None], num_emb, self.category(cat_row))  # [T, d]
        value = torch.where(observed[:, None], value, self.missing(column))
        return self.column(column) + value


# the losses and metrics a cell kind adds to the head's output
KIND_KEYS = {"cat": (("cat_ce",), ("cat_accuracy",)),
             "num": (("bin_ce", "num_mse"), ("bin_accuracy", "num_rmse"))}


class TabularHead(nn.Module):
    """Hidden at predicted cells -> categorical logits (tied to the category
    embedding), quantile-bin logits and a regression value; balanced loss.

    The outputs do not depend on the cell's column, so inference (no targets)
    needs no column input: ``decode`` selects the column's slice.
    ``predictions``: ``cat_logits`` [P, R] over the flat category table,
    ``bin_logits`` [P, B], ``value`` [P] (normalised).
    """

    def __init__(self, layout: TableLayout, hidden_size: int, embedder: TabularEmbedder,
                 cat_weight: float = 1.0, num_weight: float = 1.0, reg_weight: float = 1.0,
                 init_std: float = 0.02, norm_eps: float = 1e-5) -> None:
        super().__init__()
        d = hidden_size
        self.dense = nn.Linear(d, d, bias=False)
        self.norm = nn.LayerNorm(d, eps=norm_eps, bias=False)
        self.embedder = [embedder]  # a list: tie without registering the embedder twice
        self.cat_bias = nn.Parameter(torch.zeros(layout.num_cat_rows))
        self.bins = nn.Linear(d, layout.num_bins)
        self.value = nn.Linear(d, 1)
        trunc_normal_(self.dense.weight, init_std)
        trunc_normal_(self.bins.weight, init_std)
        trunc_normal_(self.value.weight, init_std)
        nn.init.zeros_(self.bins.bias)
        nn.init.zeros_(self.value.bias)
        self.register_buffer("is_numeric", torch.from_numpy(layout.is_numeric), persistent=False)
        self.register_buffer("cat_index", torch.from_numpy(layout.cat_index), persistent=False)
        self.register_buffer("cat_valid", torch.from_numpy(layout.cat_valid), persistent=False)
        self.register_buffer("bin_valid", torch.from_numpy(layout.bin_valid), persistent=False)
        self.register_buffer("edges", torch.from_numpy(layout.edges), persistent=False)
        self.cat_weight, self.num_weight, self.reg_weight = cat_weight, num_weight, reg_weight
        # which cell kinds the table has: the keys of losses / metrics (the same on every batch)
        self.kinds = tuple(k for k, has in (("cat", (~layout.is_numeric).any()),
                                            ("num", layout.is_numeric.any())) if has)

    def forward(self, hidden: Tensor, targets: Mapping[str, Tensor] | None = None,
                weights: Tensor | None = None) -> HeadOutput:
        h = self.norm(F.gelu(self.dense(hidden)))  # [P, d]
        table = self.embedder[0].category.weight  # [R, d]
        preds = {"cat_logits": h @ table.t() + self.cat_bias,  # [P, R]
                 "bin_logits": self.bins(h),  # [P, B]
                 "value": self.value(h).squeeze(-1)}  # [P]
        if targets is None:
            return HeadOutput(preds)
        column = targets["column"].long()
        w = torch.ones_like(preds["value"]) if weights is None else weights.float()
        is_num = self.is_numeric[column]
        neg = torch.finfo(h.dtype).min
        # Every output enters the loss, weighted 0 where the batch has no such cell: a batch
        # without categorical (or numeric) targets still gives cat_bias (bins, value) a
        # gradient, of zero. DDP requires one for every parameter on every rank at every step
        # (an all-number table stopped at step 2 on "did not receive grad"). The value and the
        # other gradients are unchanged: x + 0.0 == x.
        anchor = sum(p.float().sum() for p in preds.values()) * 0.0
        losses, metrics = {}, {}
        parts, total_w = [], 0.0

        cm = ~is_num
        if cm.any():
            logits = preds["cat_logits"][cm].float().gather(1, self.cat_index[column[cm]])  # [Pc, K]
            logits = logits.masked_fill(~self.cat_valid[column[cm]], neg)
            tgt = targets["cat"].long()[cm] - 1  # code k >= 1 -> class k - 1
            ce = F.cross_entropy(logits, tgt, reduction="none")
            wc = w[cm]
            losses["cat_ce"] = (ce * wc).sum() / wc.sum().clamp_min(1e-12)
            metrics["cat_accuracy"] = (logits.argmax(1) == tgt).float().mean().detach()
            parts.append(self.cat_weight * losses["cat_ce"])
            total_w += self.cat_weight
        if is_num.any():
            col = column[is_num]
            wn = w[is_num]
            denom = wn.sum().clamp_min(1e-12)
            logits = preds["bin_logits"][is_num].float().masked_fill(~self.bin_valid[col], neg)
            tgt = targets["bin"].long()[is_num]
            losses["bin_ce"] = (F.cross_entropy(logits, tgt, reduction="none") * wn).sum() / denom
            err = preds["value"][is_num].float() - targets["num"].float()[is_num]
            losses["num_mse"] = (err.square() * wn).sum() / denom
            metrics["bin_accuracy"] = (logits.argmax(1) == tgt).float().mean().detach()
            metrics["num_rmse"] = err.detach().square().mean().sqrt()
            parts.append(self.num_weight * (losses["bin_ce"] + self.reg_weight * losses["num_mse"]))
            total_w += self.num_weight
        loss = (anchor + sum(parts) / total_w) if parts else anchor
        # The same keys on every batch of a table, 0 where the batch has no such cell: the
        # trainer sums each key over the ranks, and a rank without one desynchronised that
        # collective (gloo "collective mismatch", or a hang). The step's weighted sum of a key
        # gets from a 0 what it got from an absent key: nothing.
        none = anchor.detach()
        for kind in self.kinds:
            loss_keys, metric_keys = KIND_KEYS[kind]
            losses.update({k: losses.get(k, none) for k in loss_keys})
            metrics.update({k: metrics.get(k, none) for k in metric_keys})
        return HeadOutput(preds, loss=loss, losses={k: v.detach() for k, v in losses.items()},
                          metrics=metrics)
