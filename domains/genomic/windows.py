"""Which windows a record's Ns are filled in, found without tokenising the record whole:
where each token starts (``TokenMap``), the infill windows over its tokens and which window
owns each token (``Windows``), and the windows that own Ns, in order (``fill_jobs``). The
streamed file infill (``infill_stream``) reads only these windows of a chromosome; the
in-memory ``infill.base_probabilities`` is the reference it must agree with."""

from __future__ import annotations

from typing import Iterator

import numpy as np

RUNS_AT_ONCE = 1 << 14  # runs of N turned into window parts at a time


class TokenMap:
    """First base of every token of a record, from its runs of non-ACGT bases: k-mer tokens
    are cut from each maximal ACGT run (``Vocabulary.tokenize``), so a run of R bases holds
    R // k k-mers then R % k single bases, and every other base is one token. A record in
    one segment that is not ACGT maps token i to base i (nucleotide tokens)."""

    def __init__(self, base: np.ndarray, length: np.ndarray, acgt: np.ndarray, k: int, total: int) -> None:
        self.base, self.len, self.acgt, self.k = base, length, acgt, k
        self.total = total  # bases
        counts = np.where(acgt, length // k + length % k, length)
        self.tok = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64) if counts.size \
            else np.zeros(0, np.int64)
        self.tokens = int(counts.sum())

    @classmethod
    def identity(cls, total: int) -> TokenMap:
        return cls(np.zeros(1, np.int64), np.array([total], np.int64), np.zeros(1, bool), 1, total)

    @classmethod
    def from_breaks(cls, starts: np.ndarray, ends: np.ndarray, total: int, k: int) -> TokenMap:
        """From the [start, end) runs of non-ACGT bases of a record ``total`` bases long."""
        m = starts.shape[0]
        lo, hi = np.empty(2 * m + 1, np.int64), np.empty(2 * m + 1, np.int64)
        lo[0::2], hi[0::2] = np.concatenate(([0], ends)), np.concatenate((starts, [total]))  # ACGT runs
        lo[1::2], hi[1::2] = starts, ends
        acgt = np.zeros(2 * m + 1, dtype=bool)
        acgt[0::2] = True
        keep = hi > lo
        return cls(lo[keep], (hi - lo)[keep], acgt[keep], k, total)

    def reversed(self) -> TokenMap:
        """The map of the reverse-complement strand (same runs, in the other order)."""
        return TokenMap((self.total - self.base - self.len)[::-1].copy(), self.len[::-1].copy(),
                        self.acgt[::-1].copy(), self.k, self.total)

    def base_of(self, tokens: np.ndarray) -> np.ndarray:
        """First base of each token; ``self.tokens`` (one past the last) maps to the length."""
        t = np.asarray(tokens, dtype=np.int64)
        if not self.tok.size:  # no bases
            return np.full(t.shape, self.total, dtype=np.int64)
        i = np.maximum(np.searchsorted(self.tok, t, side="right") - 1, 0)
        off, k = t - self.tok[i], self.k
        kmers = np.where(self.acgt[i], self.len[i] // k, 0)
        within = np.where(off < kmers, off * k, kmers * k + (off - kmers))
        return np.where(t >= self.tokens, self.total, self.base[i] + within)

    def token_of(self, bases: np.ndarray) -> np.ndarray:
        """Token of each base that is not in an ACGT run (an N: always a token of its own)."""
        b = np.asarray(bases, dtype=np.int64)
        i = np.searchsorted(self.base, b, side="right") - 1
        return self.tok[i] + (b - self.base[i])


class Windows:
    """``window_bounds(n, size, size // 4)`` over a record's ``n`` tokens, computed one
    window at a time (a chromosome has 10^5 of them), and the owner of each token: the window
    where it sits most centrally (the first of equals), as ``base_probabilities`` chooses it."""

    def __init__(self, n: int, size: int) -> None:
        self.n, self.size = n, size
        self.step = size - size // 4
        self.grid = 0 if n <= size else -(-(n - size) // self.step)  # windows at multiples of step
        self.count = self.grid + 1  # and one ending at n

    def start(self, w: np.ndarray | int) -> np.ndarray:
        w = np.asarray(w, dtype=np.int64)
        return np.where(w < self.grid, w * self.step, max(self.n - self.size, 0))

    def bounds(self, w: int) -> tuple[int, int]:
        s = int(self.start(w))
        return s, min(s + self.size, self.n)

    def owned_end(self, w: np.ndarray) -> np.ndarray:
        """One past the last token window ``w`` owns: tokens nearer the centre of ``w + 1``
        than of ``w`` (ties stay with ``w``) belong to the next window."""
        w = np.asarray(w, dtype=np.int64)
        nxt = np.minimum(w + 1, self.count - 1)
        end = (self.start(w) + self.start(nxt) + self.size - 1) // 2 + 1
        return np.where(w >= self.count - 1, self.n, end)

    def owner(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.int64)
        if self.grid == 0:
            return np.zeros(t.shape, dtype=np.int64)
        # boundaries between grid windows w and w + 1 (w <= grid - 2) at or below t
        passed = np.clip((2 * t - self.step - self.size) // (2 * self.step) + 1, 0, self.grid - 1)
        return passed + (t >= self.owned_end(self.grid - 1))


def fill_jobs(run_start: np.ndarray, run_end: np.ndarray, windows: Windows,
              descending: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """(window, its hidden tokens ascending) for every window that owns a token of the
    [start, end) token runs (ascending, disjoint), windows in ascending order or, with
    ``descending``, in descending order (the other strand's windows read along this one)."""
    order = range(0, run_start.shape[0], RUNS_AT_ONCE)
    pending_w, pending = -1, []
    for c in (reversed(order) if descending else order):
        a, b = run_start[c:c + RUNS_AT_ONCE], run_end[c:c + RUNS_AT_ONCE]
        first, last = windows.owner(a), windows.owner(b - 1)
        per_run = last - first + 1
        w = np.repeat(first, per_run) + (np.arange(per_run.sum()) - np.repeat(np.cumsum(per_run) - per_run, per_run))
        lo = np.maximum(np.repeat(a, per_run), np.where(w > 0, windows.owned_end(w - 1), 0))
        hi = np.minimum(np.repeat(b, per_run), windows.owned_end(w))
        parts = range(w.shape[0])
        for p in (reversed(parts) if descending else parts):
            if w[p] != pending_w:
                if pending:
                    yield pending_w, _tokens(pending, descending)
                pending_w, pending = int(w[p]), []
            pending.append((int(lo[p]), int(hi[p])))
    if pending:
        yield pending_w, _tokens(pending, descending)


def count_jobs(run_start: np.ndarray, run_end: np.ndarray, windows: Windows) -> int:
    """How many jobs ``fill_jobs`` yields: windows owning a token of the runs (a window that
    owns the end of one run and the start of the next counts once)."""
    if not run_start.shape[0]:
        return 0
    first, last = windows.owner(run_start), windows.owner(run_end - 1)
    return int((last - first + 1).sum() - (first[1:] == last[:-1]).sum())


def _tokens(parts: list[tuple[int, int]], descending: bool) -> np.ndarray:
    ordered = parts[::-1] if descending else parts
    return np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in ordered])
