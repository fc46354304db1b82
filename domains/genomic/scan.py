"""One record's sequence read block by block (ingest, and infill of a file): its characters
counted (a protein is told by its composition), the first one that is not an IUPAC code
found, its runs of N and of other non-ACGT bases found and, where asked, its base codes and
soft flags kept (two bytes a base). Nothing here holds a record's text whole, so a chromosome
costs what its codes cost, not the ~40 bytes a base of Python strings and whole-record
temporaries."""

from __future__ import annotations

from array import array

import numpy as np

from .tokens import BYTE_TO_CODE, INVALID, IS_LOWER, N_CODE

SLICE = 1 << 18  # characters encoded at a time (numpy temporaries of a few times this)


class Runs:
    """[start, end) runs of True in a boolean sequence given block by block; a run that
    reaches the end of a block stays open until a later block (or ``close``) ends it."""

    def __init__(self) -> None:
        self._starts, self._ends = array("q"), array("q")
        self._open = -1  # start of the run still open at the last block's end; -1: none

    def add(self, mask: np.ndarray, offset: int) -> None:
        """The block ``mask`` whose first element is element ``offset`` of the sequence."""
        n = mask.shape[0]
        if n == 0 or (self._open < 0 and not mask.any()):
            return
        padded = np.zeros(n + 2, dtype=bool)
        padded[1:-1] = mask
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        starts, ends = edges[0::2] + offset, edges[1::2] + offset
        if self._open >= 0:
            if mask[0]:  # the open run goes on into this block
                starts[0] = self._open
            else:
                self._starts.append(self._open)
                self._ends.append(offset)
            self._open = -1
        if mask[-1]:  # the last run may go on into the next block
            self._open = int(starts[-1])
            starts, ends = starts[:-1], ends[:-1]
        self._starts.extend(starts.tolist())
        self._ends.extend(ends.tolist())

    def close(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Every run (starts, ends: int64 arrays), the sequence being ``length`` long."""
        if self._open >= 0:
            self._starts.append(self._open)
            self._ends.append(length)
            self._open = -1
        return (np.frombuffer(self._starts, dtype=np.int64) if self._starts else np.zeros(0, np.int64),
                np.frombuffer(self._ends, dtype=np.int64) if self._ends else np.zeros(0, np.int64))


class RecordScan:
    """A record's sequence lines given block by block (``io.iter_record_blocks``).

    ``invalid="n"`` reads a character that is not an IUPAC code as N (not soft-masked), as
    ``io.encode_record`` does; either way the first one is kept in ``first_bad`` (position,
    index of its sequence line, 1-based column, the character) for the caller's error.
    ``keep``: base codes and soft flags kept (``codes`` / ``soft``); ``breaks``: runs of
    non-ACGT bases found, where k-mer tokens restart."""

    def __init__(self, invalid: str = "error", keep: bool = False, breaks: bool = False) -> None:
        self.invalid = invalid
        self.length = 0  # characters so far
        self.lines = 0  # sequence lines begun so far
        self.first_width = 0  # characters of the first sequence line (so far, while it goes on)
        self._open = 0  # characters of the last line begun (it may go on in the next block)
        self.counts = np.zeros(256, dtype=np.int64)  # of each byte (non-ASCII characters as '?')
        self.first_bad: tuple[int, int, int, str] | None = None
        self.n_bad = 0
        self.n_runs = Runs()
        self.breaks = Runs() if breaks else None
        self._codes = bytearray() if keep else None
        self._soft = bytearray() if keep else None

    def add(self, lines: list[str], joined: bool = False) -> bytes:
        """The block's lines (``joined``: the first goes on the last line of the block before,
        as a line longer than a block is read); returns their characters (ASCII, a byte each)."""
        if not lines:
            return b""
        first = self.lines - 1 if joined and self.lines else self.lines  # the line lines[0] is on
        text = "".join(lines)
        data = text.encode("ascii", "replace")  # one byte a character, as encode_bases reads it
        view = memoryview(data)
        for at in range(0, len(data), SLICE):  # a block a slice at a time
            self._add(np.frombuffer(view[at:at + SLICE], dtype=np.uint8), lines, text, at, first,
                      self._open if first < self.lines else 0)
        if first == 0:
            self.first_width += len(lines[0])
        self._open = len(lines[-1]) + (self._open if len(lines) == 1 and first < self.lines else 0)
        self.lines = first + len(lines)
        return data

    def _add(self, raw: np.ndarray, lines: list[str], text: str, at: int, first: int, before: int) -> None:
        """Characters ``at`` onwards of the block ``text`` (its ``lines`` joined; the first is
        line ``first`` of the record, ``before`` characters of it in earlier blocks)."""
        self.counts += np.bincount(raw, minlength=256)
        codes = BYTE_TO_CODE[raw]
        bad = codes == INVALID
        soft = IS_LOWER[raw] if self._soft is not None else None
        if bad.any():
            if self.first_bad is None:
                i = at + int(np.flatnonzero(bad)[0])  # in the block
                ends = np.cumsum([len(s) for s in lines])
                li = int(np.searchsorted(ends, i, side="right"))
                col = i - (int(ends[li - 1]) if li else -before) + 1
                self.first_bad = (self.length + i - at, first + li, col, text[i])
            self.n_bad += int(bad.sum())
            if self.invalid == "n":
                codes[bad] = N_CODE
                if soft is not None:
                    soft &= ~bad
        self.n_runs.add(codes == N_CODE, self.length)
        if self.breaks is not None:
            self.breaks.add(codes >= 4, self.length)
        if self._codes is not None:
            self._codes += codes.data
            self._soft += soft.view(np.uint8).data
        self.length += raw.shape[0]

    def codes(self) -> np.ndarray:
        return np.frombuffer(self._codes, dtype=np.uint8)

    def soft(self) -> np.ndarray:
        return np.frombuffer(self._soft, dtype=bool)
