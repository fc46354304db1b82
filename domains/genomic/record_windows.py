"""A genomic record's training / embedding windows, cut before it is tokenised
(``GenomicDomain.featurize_windows``): a chromosome costs one window's tokens at a time, not
the ~30 bytes a base of tokenising it whole.

Tokens are fixed groups of bases, so a window of tokens is a range of bases: nucleotide
token i is base i; a k-mer record's token starts follow from its runs of non-ACGT bases
(``windows.TokenMap``: k-mers are cut from the start of each ACGT run). A window's bases,
tokenised alone, give exactly the record's tokens of that window: it starts at a token start
(a run's start, a k-mer boundary inside it, or a single base), so its k-mer phase is the
record's, and it ends at a token start, so the run it cuts holds the same whole k-mers and
single bases. Soft-mask bits belong to each token's own bases. The reference is
``GenomicDomain.windows(featurize(record))`` (tests/test_genomic_long_s51g.py)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from encoderkit.domain import Example, LazyWindows, Record, window_starts

from .scan import Runs
from .windows import TokenMap

BLOCK = 1 << 22  # bases scanned at a time for runs of non-ACGT bases (a few MB of temporaries)


def token_map(codes: Any, k: int) -> TokenMap:
    """Where the k-mer tokens of a record's base ``codes`` start, scanned a block at a time."""
    total = len(codes)
    runs = Runs()
    for a in range(0, total, BLOCK):
        runs.add(np.asarray(codes[a:a + BLOCK]) >= 4, a)
    return TokenMap.from_breaks(*runs.close(total), total, k)


def count_tokens(domain: Any, record: Record) -> int:
    """Tokens ``domain.featurize(record)`` would make, counted without tokenising."""
    codes = record["ids"]
    return len(codes) if domain.vocab.tokens == "nucleotide" else token_map(codes, domain.vocab.k).tokens


def featurize_windows(domain: Any, record: Record, max_seqlen: int, index: int) -> Sequence[Example]:
    """``domain.windows(domain.featurize(record), max_seqlen)`` of ``record`` numbered
    ``index``: a record of one window is featurized whole, as before; a longer one gives a
    ``LazyWindows`` whose window w tokenises only its own bases."""
    codes = record["ids"]
    soft = record["soft"] if "soft" in record else None
    tmap = None if domain.vocab.tokens == "nucleotide" else token_map(codes, domain.vocab.k)
    n = len(codes) if tmap is None else tmap.tokens
    size = min(domain.options["window"] or max_seqlen, max_seqlen)
    if n <= size:
        example = domain.featurize(record)
        example.record, example.window, example.start = index, 0, 0
        return [example]
    starts = window_starts(n, size, min(domain.options["window_overlap"], size - 1))
    bounds = np.stack([starts, starts + size], axis=1)

    def make(w: int) -> Example:
        s, e = int(bounds[w, 0]), int(bounds[w, 1])
        b0, b1 = (s, e) if tmap is None else (int(b) for b in tmap.base_of(np.array([s, e])))
        part: Record = {"ids": np.asarray(codes[b0:b1], dtype=np.uint8)}
        if soft is not None:
            part["soft"] = np.asarray(soft[b0:b1], dtype=bool)
        example = domain.featurize(part)
        if len(example) != e - s:  # the base range does not hold the window's tokens: a bug here
            raise RuntimeError(f"genomic window {w} of record {index}: bases [{b0}, {b1}) gave "
                               f"{len(example)} tokens, not the window's {e - s}")
        example.positions = example.positions - example.positions[:1]  # as windows() restarts them
        example.record, example.window, example.start = index, w, s
        return example
    return LazyWindows(bounds, make)
