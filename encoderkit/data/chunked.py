"""Chunk-aware shuffled reading order for zarr-backed (larger than memory) stores.

Reading a zarr-backed store record by record decompresses a whole token chunk per
record (~1 ms). Instead the records are grouped into *read units*: contiguous
record ranges whose tokens start in the same run of ``G`` token chunks. A unit is
read with one slice per array, so each chunk is decompressed once per epoch (plus
the chunk a record straddling the unit's end reaches into: at most ``1/G`` extra).

Order of an epoch, a pure function of (seed, epoch, rank, world_size), never of the
number of DataLoader workers:

1. the units are permuted (``default_rng([seed, epoch, 0xC0DE])``) and rank ``r``
   takes ``units[r::world_size]`` (ranks read disjoint units);
2. a rank's units are cut into *windows* of ``K`` consecutive units, where ``K``
   units fit ``buffer_mb`` of decompressed tokens;
3. the records of one window are permuted (``default_rng([seed, epoch, rank, w,
   0x5F])``) and visited in that order.

Shuffle quality: two records adjacent in the stream come from the same unit with
probability about ``1/K``, so ``buffer_mb`` trades memory for mixing; ``K = 1``
(a buffer of one unit) only shuffles within a unit. Records never move between
windows, so the first records of an epoch come from its first ``K`` units (as in
WebDataset's shard + buffer shuffle). Exact resume needs the window number and the
count of records already taken from it.
"""

from __future__ import annotations

import math

import numpy as np

from encoderkit.data.store import RecordStore

DEFAULT_BUFFER_MB = 128.0
# Bytes (uncompressed, all token fields) a read unit aims at: large enough that the
# straddling chunk costs little, small enough that a buffer holds many units.
UNIT_TARGET_BYTES = 4 << 20
MIN_UNITS_PER_BUFFER = 8


class ChunkPlan:
    """Read units of ``store`` restricted to ``indices``, and the per-epoch order over them."""

    def __init__(self, store: RecordStore, indices: np.ndarray, *, buffer_mb: float, seed: int,
                 rank: int, world_size: int, shuffle: bool) -> None:
        if not buffer_mb > 0:
            raise ValueError(f"The 'buffer_mb' parameter must be a number > 0. Got {buffer_mb!r}.")
        self.seed, self.rank, self.world_size, self.shuffle = int(seed), int(rank), int(world_size), bool(shuffle)
        offsets = store.offsets
        n = len(store)
        token_bytes = max(store.token_bytes, 1)
        chunk = max(store.token_chunks.values()) if store.token_chunks else 1  # tokens per chunk
        buffer_bytes = float(buffer_mb) * 2**20
        unit_bytes = min(UNIT_TARGET_BYTES, buffer_bytes / MIN_UNITS_PER_BUFFER)
        self.chunks_per_unit = max(1, int(unit_bytes // (chunk * token_bytes)))
        self.unit_tokens = self.chunks_per_unit * chunk
        self.units_per_window = max(1, int(buffer_bytes // (self.unit_tokens * token_bytes)))
        self.buffer_mb = float(buffer_mb)

        selected = np.zeros(n, dtype=bool)
        selected[indices] = True
        # unit of a record = the run of chunks its first token lies in
        unit_of = offsets[:-1] // self.unit_tokens
        bounds = np.flatnonzero(np.diff(unit_of)) + 1 if n else np.empty(0, np.int64)
        starts = np.concatenate([[0], bounds]).astype(np.int64) if n else np.empty(0, np.int64)
        stops = np.concatenate([bounds, [n]]).astype(np.int64) if n else np.empty(0, np.int64)
        counts = np.add.reduceat(selected, starts) if n else np.empty(0, np.int64)
        keep = counts > 0  # units without a selected record are never read
        self.starts, self.stops = starts[keep], stops[keep]
        self._selected = selected
        self.num_units = int(self.starts.size)
        self.units_per_rank = len(range(self.rank, self.num_units, self.world_size))
        self.windows_per_epoch = math.ceil(self.units_per_rank / self.units_per_window)
        self._epoch, self._units = -1, np.empty(0, np.int64)

    def units(self, epoch: int) -> np.ndarray:
        """This rank's unit numbers in ``epoch``, in reading order."""
        if epoch != self._epoch:
            order = np.arange(self.num_units)
            if self.shuffle:
                order = np.random.default_rng([self.seed, epoch, 0xC0DE]).permutation(self.num_units)
            self._epoch, self._units = epoch, order[self.rank::self.world_size]
        return self._units

    def unit_records(self, unit: int) -> np.ndarray:
        """The selected records of ``unit`` in store order."""
        a, b = int(self.starts[unit]), int(self.stops[unit])
        return a + np.flatnonzero(self._selected[a:b])

    def window_span(self, window: int) -> tuple[int, int]:
        """Global unit positions ``[first, stop)`` of global window number ``window``."""
        epoch, w = divmod(window, self.windows_per_epoch)
        base = epoch * self.units_per_rank
        return base + w * self.units_per_window, base + min((w + 1) * self.units_per_window, self.units_per_rank)

    def unit_at(self, position: int) -> tuple[int, int]:
        """(epoch, unit number) at global unit position ``position`` of this rank."""
        epoch, j = divmod(position, self.units_per_rank)
        return epoch, int(self.units(epoch)[j])

    def window_records(self, window: int) -> np.ndarray:
        """The records of global window ``window`` in visiting order."""
        epoch, w = divmod(window, self.windows_per_epoch)
        first, stop = self.window_span(window)
        recs = [self.unit_records(self.unit_at(p)[1]) for p in range(first, stop)]
        out = np.concatenate(recs) if recs else np.empty(0, np.int64)
        if self.shuffle:
            out = out[np.random.default_rng([self.seed, epoch, self.rank, w, 0x5F]).permutation(out.size)]
        return out

    def epoch_order(self, epoch: int) -> np.ndarray:
        base = epoch * self.windows_per_epoch
        parts = [self.window_records(base + w) for w in range(self.windows_per_epoch)]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)
