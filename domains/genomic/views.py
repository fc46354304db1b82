"""Contrastive views of a DNA example: a random crop, then the other strand half the time.

Both are what a genomic embedding should not care about: which strand a read came
from (the reverse complement is the same molecule) and where exactly a window starts
(the same region seen through overlapping windows). Crops cut between tokens, so a
k-mer is never split; in k-mer mode the reverse complement re-tokenises the flipped
bases (``Vocabulary.reverse_complement``), which keeps the token count, so a view is
never longer than the example it came from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from encoderkit.domain import Example, slice_example

if TYPE_CHECKING:
    from .domain import GenomicDomain

# A view keeps 50-100% of the tokens: overlapping windows share at least a quarter.
MIN_CROP = 0.5
RC_PROB = 0.5


def random_crop(example: Example, rng: np.random.Generator, min_fraction: float = MIN_CROP) -> Example:
    """A contiguous run of ``ceil(min_fraction * L) .. L`` tokens; positions restart at 0."""
    n = len(example)
    low = max(1, int(np.ceil(min_fraction * n)))
    size = int(rng.integers(low, n + 1)) if n > low else n
    start = int(rng.integers(0, n - size + 1))
    out = slice_example(example, start, start + size, example.window)
    out.positions = out.positions - out.positions[:1]
    return out


def genomic_views(domain: "GenomicDomain", example: Example, rng: np.random.Generator,
                  min_fraction: float = MIN_CROP, rc_prob: float = RC_PROB) -> tuple[Example, Example]:
    """Two independent (crop, maybe reverse-complement) views of ``example``."""
    out = []
    for _ in range(2):
        view = random_crop(example, rng, min_fraction)
        if rng.random() < rc_prob:
            view = domain.reverse_complement(view)
        out.append(view)
    return out[0], out[1]
