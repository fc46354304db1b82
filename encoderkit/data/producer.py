"""Record indices -> windows -> masked examples: what the loader's workers run (and its resume
rebuilds). The loader (``loader.py``) orders records, packs the examples and keeps the position.

A record's windows come from ``Domain.featurize_windows``; a domain may return them lazily
(``LazyWindows``, genomic chromosomes), so a window is made only when the loader takes it:
``windows`` then ``window(windows, w, record)``, never a list of a chromosome's examples. A
domain that reads a record's fields in slices (``reads_field_slices``) gets a zarr-backed
store's long records as ``FieldView`` s (``views``), so neither is the record read whole.

A worker sends ``Entry`` s: the examples of one record slot (``(chunk, k)``: record ``k`` of
a chunk of records, or of a window of read units), then ``(slot, None, None)`` to close it
(``slot_entries``), a few at a time (``loader._WorkerShare``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from encoderkit.data.chunked import ChunkPlan
from encoderkit.data.store import RecordStore
from encoderkit.data.store_views import VIEW_TOKENS, reads_field_slices
from encoderkit.domain import ContractError, Domain, Example, LazyWindows, MaskedExample, check_positions

Key = tuple[int, int, int]  # (epoch, record, window number within the record)
# A loader item: one example, or a few that must share a micro-batch (contrastive views).
Item = Union[MaskedExample, list[MaskedExample]]
# (window, its generator, train) -> item; replaces augment + mask (fine-tuning objectives)
Prepare = Callable[[Example, np.random.Generator, bool], Item]
READ_TOKENS = 1 << 22  # stored tokens of consecutive records read at once (a longer record: alone)
Slot = tuple[int, int]  # (chunk of records or window of read units, record number within it)
# what a worker sends: an example of a slot, or (slot, None, None) once the slot has no more
Entry = tuple[Slot, Union[Key, None], Any]


def item_length(item: Item) -> int:
    return sum(len(e) for e in item) if isinstance(item, list) else len(item)


def item_examples(items: Sequence[Item]) -> list[MaskedExample]:
    return [e for it in items for e in (it if isinstance(it, list) else [it])]


def example_rng(seed: int, epoch: int, record: int, window: int) -> np.random.Generator:
    """The generator for one example's augmentation and masking."""
    return np.random.default_rng([int(seed), int(epoch), int(record), int(window)])


def read_records(store: RecordStore, records: np.ndarray, views_above: int | None = None) -> Iterator[dict[str, Any]]:
    """The records ``records`` in order, runs of consecutive ones read together up to
    ``READ_TOKENS`` stored tokens: a chunk of chromosomes is never read at once.
    ``views_above``: a record of more tokens comes as ``FieldView`` s (``RecordStore.read_range``)."""
    records = np.asarray(records, dtype=np.int64)
    if records.size == 0:
        return
    lengths = store.offsets[records + 1] - store.offsets[records]
    i = 0
    while i < records.size:
        j, total = i + 1, int(lengths[i])
        while j < records.size and total + int(lengths[j]) <= READ_TOKENS:
            total += int(lengths[j])
            j += 1
        yield from store.read_many(records[i:j], views_above=views_above)
        i = j


class _Deferred:
    """A training example whose masking waits for its micro-batch (see the loader's doc).

    ``example`` is the window after ``augment`` and ``rng`` the generator augment drew
    from; a domain that keeps ``Domain.augment`` (no augmentation: it draws nothing) leaves
    ``rng`` None, made with the example's seed when it is masked, as masking at once does."""

    __slots__ = ("domain", "example", "rng", "seed", "key", "window", "start")

    def __init__(self, domain: Domain, example: Example, rng: np.random.Generator | None, seed: int,
                 key: Key, window: Example) -> None:
        self.domain, self.example, self.rng, self.seed, self.key = domain, example, rng, seed, key
        self.window, self.start = window.window, window.start

    def __len__(self) -> int:
        return len(self.example)

    def masked(self) -> MaskedExample:
        epoch, record, w = self.key
        rng = self.rng if self.rng is not None else example_rng(self.seed, epoch, record, w)
        masked = self.domain.mask(self.example, rng)
        if len(masked) != len(self.example):  # the packer counted the example's own tokens
            raise ContractError(f"domain {self.domain.name!r}: its masker turned the {len(self.example)} "
                                f"tokens of record {record} (window {w}) into {len(masked)}; a masker keeps "
                                f"the example's tokens (it corrupts inputs and picks the targets)")
        masked.record, masked.window, masked.start = record, self.window, self.start
        return masked


def _masked(item: Item | _Deferred) -> Item:
    return item.masked() if isinstance(item, _Deferred) else item


class _Producer:
    """Turns record indices into masked examples; runs in the workers (and at resume)."""

    def __init__(self, store: RecordStore, domain: Domain, indices: np.ndarray, *, max_seqlen: int,
                 seed: int, rank: int, world_size: int, train: bool, shuffle: bool,
                 chunk_records: int, prepare: Prepare | None = None, defer: bool = False) -> None:
        self.store, self.domain, self.indices = store, domain, indices
        self.max_seqlen, self.seed, self.rank, self.world_size = max_seqlen, seed, rank, world_size
        self.train, self.shuffle, self.chunk_records = train, shuffle, chunk_records
        self.prepare = prepare
        # mask when the micro-batch is collated (main process only: workers mask in parallel)
        self.defer = defer and train and prepare is None
        # Domain.augment returns the example and draws nothing: its generator can wait too
        self._augments = type(domain).augment is not Domain.augment or "augment" in getattr(domain, "__dict__", {})
        self.shard_size = len(range(rank, len(indices), world_size))
        self.chunks_per_epoch = math.ceil(self.shard_size / chunk_records)
        self._order_epoch, self._order = -1, np.empty(0, np.int64)
        self.plan: ChunkPlan | None = None  # set by PackedLoader in chunk-aware mode
        # long records of a zarr-backed store as views, for a domain that slices them
        self.views = VIEW_TOKENS if reads_field_slices(domain) else None

    def shard(self, epoch: int) -> np.ndarray:
        if epoch != self._order_epoch:
            if self.shuffle:
                perm = np.random.default_rng([self.seed, epoch, 0x5EED]).permutation(len(self.indices))
                order = self.indices[perm]
            else:
                order = self.indices
            self._order, self._order_epoch = order[self.rank::self.world_size], epoch
        return self._order

    def chunk_records_of(self, g: int) -> tuple[int, np.ndarray]:
        """Chunk ``g``'s epoch and record indices (record mode)."""
        epoch, j = divmod(g, self.chunks_per_epoch)
        return epoch, self.shard(epoch)[j * self.chunk_records:(j + 1) * self.chunk_records]

    def unit(self, position: int) -> tuple[int, dict[int, dict[str, Any]]]:
        """Read unit at this rank's global unit ``position`` (chunk-aware mode): its epoch and
        ``{record: raw record}`` (a long one as views, for a domain that slices them)."""
        plan = self.plan
        assert plan is not None
        epoch, u = plan.unit_at(position)
        a, b = int(plan.starts[u]), int(plan.stops[u])
        keep = plan.unit_records(u) - a
        # one slice per array: each chunk decompressed once; ids are not needed for training
        records = self.store.read_range(a, b, ids=False, views_above=self.views)
        return epoch, {a + j: records[j] for j in keep.tolist()}

    def chunk_entries(self, g: int, skip: int = 0, first: int = 0) -> Iterator[Entry]:
        """The entries of chunk ``g``'s records from number ``skip`` on (of record ``skip``,
        its windows from ``first`` on: a resume inside the chunk), made as they are sent."""
        epoch, records = self.chunk_records_of(g)
        todo = records[skip:]
        for k, (r, record) in enumerate(zip(todo.tolist(), read_records(self.store, todo, self.views)), start=skip):
            yield from self.slot_entries((g, k), epoch, r, record, first if k == skip else 0)

    def window_entries(self, window: int, worker: int, workers: int, skip: int = 0,
                       first: int = 0) -> Iterator[Entry]:
        """Chunk-aware mode: the entries of the records of window ``window`` (records ``skip``
        on, as ``chunk_entries``) that lie in the read units at positions ``p`` with
        ``p % workers == worker``, in the window's visiting order. Those units are read first
        (raw records; a long one as views)."""
        plan = self.plan
        assert plan is not None
        a, b = plan.window_span(window)
        held: dict[int, dict[str, Any]] = {}
        for p in range(a, b):
            if p % workers == worker:
                held.update(self.unit(p)[1])
        epoch = window // plan.windows_per_epoch
        records = plan.window_records(window).tolist()
        for k in range(skip, len(records)):
            if records[k] in held:
                yield from self.slot_entries((window, k), epoch, records[k], held.pop(records[k]),
                                             first if k == skip else 0)

    def slot_entries(self, slot: Slot, epoch: int, r: int, record: dict[str, Any], first: int) -> Iterator[Entry]:
        """Record ``r``'s examples from window ``first`` on, made one at a time, then the slot's close."""
        windows = self.windows(r, record)
        for w in range(first, len(windows)):
            window = self.window(windows, w, r)
            if len(window):
                yield slot, (epoch, r, w), self.finish(window, epoch, r, w)
        yield slot, None, None

    def windows(self, rec_index: int, record: dict[str, Any]) -> Sequence[Example]:
        """The record's windows (``Domain.featurize_windows``): a list is checked at once, a
        ``LazyWindows`` window by window as ``window`` makes them."""
        windows = self.domain.featurize_windows(record, self.max_seqlen, rec_index)
        if not isinstance(windows, LazyWindows):
            for win in windows:
                self._check(win, rec_index, lazy=False)
        return windows

    def window(self, windows: Sequence[Example], w: int, rec_index: int) -> Example:
        win = windows[w]
        if isinstance(windows, LazyWindows):
            self._check(win, rec_index, lazy=True)
        return win

    def _check(self, win: Example, rec_index: int, lazy: bool) -> None:
        if lazy:  # the default hook checked the whole example's positions
            check_positions(self.domain, win.positions)
        if len(win) > self.max_seqlen:
            raise ValueError(f"domain {self.domain.name!r} made a window of {len(win)} tokens from record "
                             f"{rec_index}, longer than max_seqlen={self.max_seqlen}")

    def finish(self, window: Example, epoch: int, rec_index: int, w: int) -> Item | _Deferred:
        if self.prepare is not None:  # a fine-tuning objective's own example (labels, views)
            return self.prepare(window, example_rng(self.seed, epoch, rec_index, w), self.train)
        if self.defer:  # augment now (it may change the length the packer needs), mask later
            if not self._augments:
                return _Deferred(self.domain, window, None, self.seed, (epoch, rec_index, w), window)
            rng = example_rng(self.seed, epoch, rec_index, w)
            return _Deferred(self.domain, self.domain.augment(window, rng), rng, self.seed,
                             (epoch, rec_index, w), window)
        if self.train:
            rng = example_rng(self.seed, epoch, rec_index, w)
            masked = self.domain.mask(self.domain.augment(window, rng), rng)
        else:
            masked = self.domain.unmasked(window)
        masked.record, masked.window, masked.start = rec_index, window.window, window.start
        return masked

    def rebuild(self, keys: Sequence[Key]) -> dict[Key, MaskedExample]:
        """Recompute the examples named by ``keys`` (resume): only their windows are made."""
        by_record: dict[tuple[int, int], list[int]] = {}
        for e, r, w in keys:
            by_record.setdefault((e, r), []).append(w)
        out: dict[Key, MaskedExample] = {}
        pairs = list(by_record)
        for (e, r), record in zip(pairs, read_records(self.store, np.array([r for _, r in pairs], np.int64),
                                                      self.views)):
            windows = self.windows(r, record)
            for w in by_record[(e, r)]:
                out[(e, r, w)] = self.finish(self.window(windows, w, r), e, r, w)
        return out


PIECE_ENTRIES = 1024  # entries a worker sends at most at once (short records: a chunk's, as before)


class WorkerShare(IterableDataset):
    """What DataLoader worker ``worker`` of ``workers`` makes, from the loader's position
    (``start``: chunk, or window in chunk-aware mode; of it, records ``skip`` on and of record
    ``skip`` windows ``first`` on) to ``end``: record mode, chunks ``start + worker``, ``+
    workers``, ... (``chunk_entries``); chunk-aware, every window's records in the units it
    owns (``window_entries``). Sent in pieces of at most ``piece_tokens`` tokens (at least one
    example) or ``PIECE_ENTRIES`` entries. Each worker has a DataLoader of its own, read only
    when the main process needs its next slot, so a worker waits (``prefetch_factor`` pieces
    made) while another's chromosome is packed, and nothing piles up in between."""

    def __init__(self, producer: _Producer, worker: int, workers: int, start: int, end: int | None,
                 skip: int, first: int, piece_tokens: int) -> None:
        self.producer, self.worker, self.workers, self.start, self.end = producer, worker, workers, start, end
        self.skip, self.first, self.piece_tokens = skip, first, int(piece_tokens)

    def entries(self) -> Iterator[Entry]:
        producer, worker, workers = self.producer, self.worker, self.workers
        chunks = producer.plan is None
        u = self.start + worker if chunks else self.start
        while self.end is None or u < self.end:
            resume = (self.skip, self.first) if u == self.start else (0, 0)
            if chunks:
                yield from producer.chunk_entries(u, *resume)
            else:
                yield from producer.window_entries(u, worker, workers, *resume)
            u += workers if chunks else 1

    def __iter__(self) -> Iterator[list[Entry]]:
        if get_worker_info() is not None:  # a forked worker: a URL store needs its own connections
            self.producer.store = self.producer.store.reopen()
        piece: list[Entry] = []
        tokens = 0
        for entry in self.entries():
            piece.append(entry)
            tokens += item_length(entry[2]) if entry[1] is not None else 0
            if tokens >= self.piece_tokens or len(piece) >= PIECE_ENTRIES:
                yield piece
                piece, tokens = [], 0
        if piece:
            yield piece


class Inbox:
    """The main process's end of one worker's pieces: ``slot(s)`` yields slot ``s``'s
    ``(key, item)`` s, in order; what a piece holds of later slots waits here for them."""

    def __init__(self, pieces: Iterator[list[Entry]]) -> None:
        self.pieces, self.entries = pieces, deque()

    def slot(self, slot: Slot) -> Iterator[tuple[Key, Any]]:
        while True:
            while not self.entries:
                piece = next(self.pieces, None)
                if piece is None:
                    raise RuntimeError(f"a loader worker stopped before record slot {slot}")
                self.entries.extend(piece)
            got, key, item = self.entries.popleft()
            if got != slot:  # the order guarantee everything rests on
                raise RuntimeError(f"loader received an example of record slot {got}, expected {slot}")
            if key is None:
                return
            yield key, item
