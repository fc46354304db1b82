"""Token embedder and masked-LM head, named one to one after Hugging Face ModernBERT
(``model.embeddings.tok_embeddings``, ``head.dense/norm``, ``decoder``) so a run exports
to ``ModernBertForMaskedLM`` by renaming prefixes only."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoderkit.core.init import trunc_normal_ as _trunc_normal_  # ModernBERT: cut at 2 std
from encoderkit.domain import HeadOutput


class GenomicEmbedder(nn.Module):
    """Token ids ``inputs["ids"]`` [T] -> raw embeddings [T, d] (the core applies the norm)."""

    def __init__(self, vocab_size: int, hidden_size: int, std: float = 0.02) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab_size, hidden_size)
        _trunc_normal_(self.tok_embeddings.weight, std)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        return self.tok_embeddings(inputs["ids"].long())  # [T, d]


class GenomicMLMHead(nn.Module):
    """ModernBertPredictionHead (dense -> GELU -> norm) + decoder tied to the embedding.

    Loss: cross-entropy at predicted tokens, weighted mean (soft-masked bases weigh
    ``soft_weight``). Logits cover the whole padded table, exactly as HF computes them;
    ``decode`` restricts its argmax to real base / k-mer tokens."""

    def __init__(self, hidden_size: int, vocab_size: int, norm_eps: float, embedder: GenomicEmbedder | None,
                 std: float = 0.02) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size, bias=False)
        self.act = nn.GELU()  # HF ModernBERT's classifier_activation "gelu" (exact)
        self.norm = nn.LayerNorm(hidden_size, eps=norm_eps, bias=False)
        self.decoder = nn.Linear(hidden_size, vocab_size, bias=True)
        _trunc_normal_(self.dense.weight, std)
        nn.init.zeros_(self.decoder.bias)
        if embedder is not None:
            self.decoder.weight = embedder.tok_embeddings.weight  # tied, as HF tie_word_embeddings
        else:
            _trunc_normal_(self.decoder.weight, std)

    def forward(self, hidden: Tensor, targets: dict[str, Tensor] | None = None,
                weights: Tensor | None = None) -> HeadOutput:
        logits = self.decoder(self.norm(self.act(self.dense(hidden))))  # [P, V]
        out = HeadOutput(predictions={"logits": logits})
        if targets is None or "ids" not in targets:
            return out
        target = targets["ids"].long()
        if target.numel() == 0:
            out.loss = logits.sum() * 0.0  # keeps the graph: a batch without targets adds nothing
            # the keys of every other batch (the trainer sums each over the ranks), adding 0
            out.losses = {"mlm": out.loss.detach()}
            out.metrics = {"accuracy": out.loss.detach().float()}
            return out
        ce = F.cross_entropy(logits.float(), target, reduction="none")  # [P]
        if weights is None:
            loss = ce.mean()
        else:
            w = weights.to(ce.dtype)
            loss = (ce * w).sum() / w.sum().clamp_min(torch.finfo(ce.dtype).tiny)
        out.loss = loss
        out.losses = {"mlm": loss.detach()}
        out.metrics = {"accuracy": (logits.argmax(-1) == target).float().mean().detach()}
        return out
