"""``train.steps=auto``: a training budget derived from the size of the training split.

The rule, kept simple on purpose so a user can predict it:

    steps = clamp(ceil(auto_epochs x train_tokens / tokens_per_step), auto_min_steps, auto_max_steps)

``train_tokens`` counts the model's tokens in the training split (what the loader packs),
``tokens_per_step`` is the global batch (``train.tokens_per_step``, or ``data.max_tokens``
x ranks). An epoch-based target scales the work with the data, which a fixed step count
does not: 1000 steps are 3000 passes over a 3,000-token table but a fraction of one over a
genome. The floor keeps a tiny table from stopping before the warmup and decay have room to
act; the ceiling bounds the cost on a large store, where one would set steps by hand anyway.

Stores count stored tokens (a series stores samples, its model tokens are patches; a genome
may be read as k-mers), so the model-token count is estimated domain-free: ``featurize``
runs on up to ``SAMPLE`` training records spread over the split, and their ratio of model
tokens to stored tokens scales the split's stored total.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

AUTO = "auto"
SAMPLE = 256  # records featurized to estimate model tokens per stored token


def train_tokens(store: Any, domain: Any, indices: np.ndarray) -> int:
    """Model tokens in the records ``indices`` of ``store`` (estimated from a sample)."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return 0
    stored = store.lengths[indices]
    pick = indices[np.unique(np.linspace(0, indices.size - 1, min(SAMPLE, indices.size)).astype(np.int64))]
    sample_stored = int(store.lengths[pick].sum())
    if sample_stored == 0:
        return 0
    sample_model = sum(len(domain.featurize(rec)) for rec in store.read_many(pick))
    return int(round(int(stored.sum()) * sample_model / sample_stored))


def auto_steps(tokens: int, tokens_per_step: int, epochs: float, min_steps: int, max_steps: int) -> int:
    """The rule of the module docstring."""
    steps = math.ceil(epochs * tokens / max(1, tokens_per_step))
    return int(min(max(steps, min_steps), max_steps))


def resolve_steps(cfg: Any, store: Any, domain: Any, indices: np.ndarray, tokens_per_step: int) -> int:
    """``cfg.train.steps`` as an int: unchanged when given, else by the rule above."""
    t = cfg.train
    if t.steps != AUTO:
        return int(t.steps)
    return auto_steps(train_tokens(store, domain, indices), tokens_per_step, float(t.auto_epochs),
                      int(t.auto_min_steps), int(t.auto_max_steps))
