"""Online best-fit packing of sequences into micro-batches under a token budget.

Keeps up to ``num_open`` micro-batches ("bins") open. Each incoming sequence
goes into the open bin it fits most tightly (least room left after adding it);
if none has room, a new bin opens. A bin leaves as soon as it is exactly full,
or, when more than ``num_open`` are open, the fullest one leaves. The output is
a pure function of the input order, which is what exact resume relies on.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class BestFitPacker(Generic[T]):
    def __init__(self, max_tokens: int, num_open: int = 16) -> None:
        if int(max_tokens) <= 0:
            raise ValueError(f"The 'max_tokens' parameter must be a positive int. Got {max_tokens!r}.")
        if int(num_open) < 1:
            raise ValueError(f"The 'buffer_size' (open micro-batches) parameter must be an int >= 1. "
                             f"Got {num_open!r}.")
        self.max_tokens = int(max_tokens)
        self.num_open = int(num_open)
        self.bins: list[list[T]] = []
        self.used: list[int] = []

    def add(self, item: T, length: int) -> list[list[T]]:
        """Add one sequence; return the bins that are complete now (usually none or one)."""
        length = int(length)
        if length > self.max_tokens:
            raise ValueError(f"a sequence of {length} tokens exceeds max_tokens={self.max_tokens}")
        best, best_room = -1, self.max_tokens + 1
        for b, used in enumerate(self.used):
            room = self.max_tokens - used - length
            if 0 <= room < best_room:
                best, best_room = b, room
                if room == 0:
                    break
        if best < 0:
            self.bins.append([item])
            self.used.append(length)
            best = len(self.bins) - 1
        else:
            self.bins[best].append(item)
            self.used[best] += length
        out: list[list[T]] = []
        if self.used[best] == self.max_tokens:
            out.append(self._pop(best))
        elif len(self.bins) > self.num_open:
            fullest = max(range(len(self.used)), key=self.used.__getitem__)
            out.append(self._pop(fullest))
        return out

    def flush(self) -> list[list[T]]:
        """All open bins, fullest first (end of a finite stream)."""
        order = sorted(range(len(self.bins)), key=lambda b: -self.used[b])
        out = [self.bins[b] for b in order]
        self.bins, self.used = [], []
        return out

    def _pop(self, b: int) -> list[T]:
        self.used.pop(b)
        return self.bins.pop(b)

    def restore(self, bins: list[list[T]], used: list[int]) -> None:
        self.bins = [list(b) for b in bins]
        self.used = [int(u) for u in used]
