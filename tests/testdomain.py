"""A tiny token domain for the training tests, registered in-process (not a library domain).

Records are sequences of ids with a learnable structure (an arithmetic progression
modulo the vocabulary, stride 0 or 1, a start drawn from a skewed distribution), so
a masked id is predictable from its neighbours (and, less well, from the unigram
frequencies) and the loss of a working trainer goes down within a few dozen steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from encoderkit.core.init import trunc_normal_
from encoderkit.data.masking import choose_random, corrupt_ids
from encoderkit.domain import Domain, Example, HeadOutput, MaskedExample
from encoderkit.registry import register_domain

VOCAB = 24  # ids 0..1 special (0 pad-free placeholder, 1 mask), 2..23 data
MASK_ID = 1
NAME = "traintest"


def make_records(n: int, seed: int = 0, low: int = 8, high: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(low, high))
        start = min(int(rng.geometric(0.3)) - 1, VOCAB - 3)
        stride = int(rng.integers(0, 2))
        out.append((2 + (start + stride * np.arange(length)) % (VOCAB - 2)).astype(np.int16))
    return out


def write_store(path: Any, n: int = 64, seed: int = 0, **kw: Any) -> str:
    from encoderkit.data.store import StoreWriter

    with StoreWriter(path, NAME) as w:
        for i, ids in enumerate(make_records(n, seed, **kw)):
            w.append({"ids": ids}, id=f"r{i}")
        w.finalize({"vocab": VOCAB}, {"files": []})
    return str(path)


class _Embedder(nn.Module):
    def __init__(self, hidden: int, std: float) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, hidden)
        trunc_normal_(self.tok.weight, std)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        return self.tok(inputs["ids"])  # [T, d]


class _Head(nn.Module):
    def __init__(self, hidden: int, std: float) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, VOCAB)
        trunc_normal_(self.proj.weight, std)
        nn.init.zeros_(self.proj.bias)

    def forward(self, hidden: Tensor, targets: dict[str, Tensor] | None,
                weights: Tensor | None) -> HeadOutput:
        logits = self.proj(hidden).float()  # [P, V]
        if targets is None:
            return HeadOutput(predictions={"ids": logits})
        y = targets["ids"].long()
        loss = F.cross_entropy(logits, y) if len(y) else logits.sum() * 0.0
        acc = (logits.argmax(-1) == y).float().mean() if len(y) else torch.zeros(())
        return HeadOutput(predictions={"ids": logits}, loss=loss,
                          losses={"ids": loss.detach()}, metrics={"accuracy": acc})


@register_domain
class TrainTestDomain(Domain):
    name = NAME
    rope_axes = 1

    def featurize(self, record: dict[str, Any]) -> Example:
        ids = np.asarray(record["ids"], dtype=np.int64)
        return Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None])

    @property
    def maskers(self):
        rate = float(self.options.get("rate", 0.3))

        def random(example: Example, rng: np.random.Generator) -> MaskedExample:
            ids = example.fields["ids"]
            predict = choose_random(np.ones(len(ids), dtype=bool), rate, rng)
            corrupted = corrupt_ids(ids, predict, MASK_ID, 2, VOCAB, rng)
            return MaskedExample(inputs={"ids": corrupted}, positions=example.positions,
                                 targets={"ids": ids[predict]}, predict=predict,
                                 record=example.record, window=example.window, start=example.start)

        return {"random": random}

    def embedder(self, config: Any) -> nn.Module:
        return _Embedder(config.hidden_size, config.initializer_range)

    def head(self, config: Any, embedder: nn.Module | None = None) -> nn.Module:
        return _Head(config.hidden_size, config.initializer_range)


def tiny_overrides(store: str, run_dir: str, steps: int = 6, **extra: Any) -> list[str]:
    """Overrides for a seconds-long CPU run on this domain."""
    base = {
        "domain.name": NAME, "data.store": store, "run.dir": run_dir, "model": "tiny",
        "model.hidden_size": 32, "model.num_layers": 2, "model.num_heads": 2,
        "model.intermediate_size": 64, "model.local_window": 16, "model.backend": "sdpa",
        "data.max_tokens": 128, "data.max_seqlen": 64, "data.val_fraction": 0.2,
        "train.steps": steps, "train.log_every": 1, "train.eval_every": 3,
        "train.checkpoint_every": 3, "train.progress": False, "run.device": "cpu",
        "optim.lr": 1e-2,
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def train_losses(run: Path) -> list[float]:
    """The per-step training losses a run logged to its metrics.jsonl."""
    rows = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


@register_domain
class CropViewsDomain(TrainTestDomain):
    """``traintest`` with views: two random crops of at least half the window."""

    name = "traintest-views"

    def views(self, example: Example, rng: np.random.Generator) -> tuple[Example, Example]:
        from encoderkit.domain import slice_example

        n = len(example)
        out = []
        for _ in range(2):
            k = int(rng.integers(max(1, n // 2), n + 1))
            s = int(rng.integers(0, n - k + 1))
            out.append(slice_example(example, s, s + k, example.window))
        return out[0], out[1]
