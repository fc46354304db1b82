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

``data.max_tokens=auto`` (fine-tuning): a batch sized by the labelled training split,

    sequences = min(AUTO_BATCH_SEQUENCES, ceil(n / AUTO_MIN_BATCHES))
    max_tokens = max(ceil(sequences x mean sequence tokens / ranks), longest sequence)

with ``n`` the training sequences (records, or their windows when longer than
``data.max_seqlen``). BERT-style fine-tuning takes 16-32 records a step whatever the set;
a fixed token batch holds a small split several times over (the packer cycles epochs to
fill it: ArrowHead's 29 training series ~9 times in 8,192 tokens), so every step was a
full-batch step and the step floor became hundreds of epochs. A split
of fewer than ``AUTO_BATCH_SEQUENCES x AUTO_MIN_BATCHES`` sequences gets smaller batches,
so an epoch is always at least ``AUTO_MIN_BATCHES`` updates. The batch never drops below
the longest sequence, which has to fit one micro-batch; ``data.max_seqlen`` is lowered to
the resolved value when it is larger (no training sequence is that long). With
``train.steps=auto`` the step rule above then counts epochs of this batch; with
``train.tokens_per_step`` given, the resolved value is the micro-batch that accumulates to it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from encoderkit.data.producer import read_records
from encoderkit.data.store_views import VIEW_TOKENS, reads_field_slices
from encoderkit.domain import window_lengths

AUTO = "auto"
SAMPLE = 256  # records featurized to estimate model tokens per stored token
LONGEST = 8  # the longest stored records, featurized too: the longest sequence is among them
AUTO_BATCH_SEQUENCES = 32  # sequences a step once the split is large (BERT fine-tuning: 16-32)
AUTO_MIN_BATCHES = 8  # updates an epoch at least: a batch is at most 1/8 of a small split


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
    views = VIEW_TOKENS if reads_field_slices(domain) else None  # a chromosome: read by the slice
    sample_model = sum(domain.count_tokens(rec) for rec in read_records(store, pick, views))  # none tokenised whole
    return int(round(int(stored.sum()) * sample_model / sample_stored))


def auto_steps(tokens: int, tokens_per_step: int, epochs: float, min_steps: int, max_steps: int) -> int:
    """The rule of the module docstring."""
    steps = math.ceil(epochs * tokens / max(1, tokens_per_step))
    return int(min(max(steps, min_steps), max_steps))


def auto_steps_line(steps: int, tokens: int, tokens_per_step: int, epochs: float,
                    min_steps: int, max_steps: int) -> str:
    """The one line that says what ``train.steps=auto`` resolved to, by which numbers of the
    rule, and the keys that change it: said before step 1, as a budget of hours (20,000
    steps on a laptop) should not be a surprise found in the progress bar."""
    raw = math.ceil(epochs * tokens / max(1, tokens_per_step))
    bound = (f", capped at train.auto_max_steps={max_steps}" if raw > max_steps
             else f", raised to train.auto_min_steps={min_steps}" if raw < min_steps else "")
    return (f"train.steps=auto resolved to {steps} steps: ceil({epochs:g} epochs (train.auto_epochs) x {tokens} "
            f"training tokens / {tokens_per_step} tokens a step) = {raw}{bound}; "
            f"set train.steps=N or train.auto_max_steps=N to change it")


def resolve_steps(cfg: Any, store: Any, domain: Any, indices: np.ndarray, tokens_per_step: int,
                  announce: bool = False) -> int:
    """``cfg.train.steps`` as an int: unchanged when given, else by the rule above.
    ``announce`` (the main rank): say the resolved budget on stderr (``auto_steps_line``)."""
    t = cfg.train
    if t.steps != AUTO:
        return int(t.steps)
    tokens = train_tokens(store, domain, indices)
    epochs, lo, hi = float(t.auto_epochs), int(t.auto_min_steps), int(t.auto_max_steps)
    steps = auto_steps(tokens, tokens_per_step, epochs, lo, hi)
    if announce:
        print(auto_steps_line(steps, tokens, tokens_per_step, epochs, lo, hi), file=sys.stderr, flush=True)
    return steps


@dataclass(frozen=True)
class SplitSize:
    """What the model sees of a training split in one epoch (estimated from a sample)."""

    records: int
    sequences: int  # windows of at most max_seqlen tokens (one per record when shorter)
    tokens: int  # model tokens of those sequences
    longest: int  # the longest sequence seen (sample and the longest stored records)


def split_size(store: Any, domain: Any, indices: np.ndarray, max_seqlen: int) -> SplitSize:
    """Sequences and model tokens of the records ``indices`` when cut at ``max_seqlen``.

    Every record is featurized when the split has at most ``SAMPLE`` records; otherwise a
    spread sample scales to the split (as ``train_tokens``), and the ``LONGEST`` records by
    stored length are featurized as well, so the longest sequence is not missed.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return SplitSize(0, 0, 0, 0)
    stored = store.lengths[indices]
    pick = indices[np.unique(np.linspace(0, indices.size - 1, min(SAMPLE, indices.size)).astype(np.int64))]
    longest_stored = indices[np.argsort(-stored, kind="stable")[:LONGEST]]
    seqs = toks = longest = 0
    views = VIEW_TOKENS if reads_field_slices(domain) else None  # a chromosome: read by the slice
    # window lengths without the windows where the domain cuts them lazily (a chromosome)
    for rec in read_records(store, pick, views):  # a few at a time: a genome is not read at once
        lengths = window_lengths(domain.featurize_windows(rec, int(max_seqlen)))
        seqs += len(lengths)
        toks += int(lengths.sum())
        longest = max([longest, *lengths.tolist()])
    for rec in read_records(store, np.setdiff1d(longest_stored, pick), views):
        longest = max([longest, *window_lengths(domain.featurize_windows(rec, int(max_seqlen))).tolist()])
    # sequences scale with the record count, tokens with the stored length (as train_tokens)
    stored_scale = int(stored.sum()) / max(1, int(store.lengths[pick].sum()))
    return SplitSize(records=int(indices.size), sequences=int(round(seqs * indices.size / pick.size)),
                     tokens=int(round(toks * stored_scale)), longest=int(longest))


def auto_max_tokens(size: SplitSize, world_size: int = 1) -> int:
    """``data.max_tokens=auto``: the rule of the module docstring, per rank."""
    if size.sequences == 0:
        return max(1, size.longest)
    sequences = min(AUTO_BATCH_SEQUENCES, math.ceil(size.sequences / AUTO_MIN_BATCHES))
    per_rank = math.ceil(sequences * size.tokens / size.sequences / max(1, world_size))
    return int(max(per_rank, size.longest, 1))


def resolve_max_tokens(cfg: Any, store: Any, domain: Any, indices: np.ndarray,
                       world_size: int = 1, announce: bool = False) -> tuple[int, int]:
    """``(data.max_tokens, data.max_seqlen)`` as ints: unchanged when max_tokens is given,
    else by the rule above (max_seqlen lowered to max_tokens when it is larger).
    ``announce`` (the main rank): say the resolved batch on stderr (``auto_max_tokens_line``)."""
    d = cfg.data
    if d.max_tokens != AUTO:
        return int(d.max_tokens), int(d.max_seqlen)
    size = split_size(store, domain, indices, int(d.max_seqlen))
    max_tokens = auto_max_tokens(size, world_size)
    max_seqlen = min(int(d.max_seqlen), max_tokens)
    if announce:
        print(auto_max_tokens_line(size, max_tokens, world_size, max_seqlen, int(d.max_seqlen)),
              file=sys.stderr, flush=True)
    return max_tokens, max_seqlen


def auto_max_tokens_line(size: SplitSize, max_tokens: int, world_size: int, max_seqlen: int,
                         asked_seqlen: int) -> str:
    """The one line that says what ``data.max_tokens=auto`` resolved to, by which numbers of
    the rule, and the key that changes it, as ``auto_steps_line`` says ``train.steps=auto``:
    with a numeric ``train.steps`` the batch was said nowhere (the steps line names it only
    as tokens a step). ``asked_seqlen``: ``data.max_seqlen`` before it was lowered."""
    lowered = f"; data.max_seqlen lowered from {asked_seqlen} to {max_seqlen}" if max_seqlen < asked_seqlen else ""
    if size.sequences == 0:
        return (f"data.max_tokens=auto resolved to {max_tokens} tokens a micro-batch (no training sequence "
                f"counted){lowered}; set data.max_tokens=N to change it")
    sequences = min(AUTO_BATCH_SEQUENCES, math.ceil(size.sequences / AUTO_MIN_BATCHES))
    per_rank = math.ceil(sequences * size.tokens / size.sequences / max(1, world_size))
    ranks = f" / {world_size} ranks" if world_size > 1 else ""
    floor = f", raised to the longest sequence ({size.longest} tokens)" if max_tokens > per_rank else ""
    return (f"data.max_tokens=auto resolved to {max_tokens} tokens a micro-batch: ceil({sequences} sequences "
            f"(min({AUTO_BATCH_SEQUENCES}, ceil({size.sequences} training sequences / {AUTO_MIN_BATCHES}))) x "
            f"{size.tokens / size.sequences:.1f} tokens a sequence on average{ranks}) = {per_rank}{floor}"
            f"{lowered}; set data.max_tokens=N to change it")

