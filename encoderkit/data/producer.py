"""Record indices -> windows -> masked examples: what the loader's workers run (and its resume
rebuilds). The loader (``loader.py``) orders records, packs the examples and keeps the position.

A record's windows come from ``Domain.featurize_windows``; a domain may return them lazily
(``LazyWindows``, genomic chromosomes), so a window is made only when the loader takes it:
``windows`` then ``window(windows, w, record)``, never a list of a chromosome's examples.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np

from encoderkit.data.chunked import ChunkPlan
from encoderkit.data.store import RecordStore
from encoderkit.domain import ContractError, Domain, Example, LazyWindows, MaskedExample, check_positions

Key = tuple[int, int, int]  # (epoch, record, window number within the record)
# A loader item: one example, or a few that must share a micro-batch (contrastive views).
Item = Union[MaskedExample, list[MaskedExample]]
# (window, its generator, train) -> item; replaces augment + mask (fine-tuning objectives)
Prepare = Callable[[Example, np.random.Generator, bool], Item]
READ_TOKENS = 1 << 22  # stored tokens of consecutive records read at once (a longer record: alone)


def item_length(item: Item) -> int:
    return sum(len(e) for e in item) if isinstance(item, list) else len(item)


def item_examples(items: Sequence[Item]) -> list[MaskedExample]:
    return [e for it in items for e in (it if isinstance(it, list) else [it])]


def example_rng(seed: int, epoch: int, record: int, window: int) -> np.random.Generator:
    """The generator for one example's augmentation and masking."""
    return np.random.default_rng([int(seed), int(epoch), int(record), int(window)])


def read_records(store: RecordStore, records: np.ndarray) -> Iterator[dict[str, Any]]:
    """The records ``records`` in order, runs of consecutive ones read together up to
    ``READ_TOKENS`` stored tokens: a chunk of chromosomes is never read at once."""
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
        yield from store.read_many(records[i:j])
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

    def chunk(self, g: int) -> list[tuple[Key, MaskedExample]]:
        epoch, records = self.chunk_records_of(g)
        out: list[tuple[Key, MaskedExample]] = []
        for rec_index, record in zip(records.tolist(), self.store.read_many(records)):
            out += self.record_examples(epoch, rec_index, record)
        return out

    def record_examples(self, epoch: int, rec_index: int, record: dict[str, Any]) -> list[tuple[Key, MaskedExample]]:
        """Every example of a record at once (workers send them to the main process)."""
        windows = self.windows(rec_index, record)
        out = []
        for w in range(len(windows)):
            window = self.window(windows, w, rec_index)
            if len(window):
                out.append(((epoch, rec_index, w), self.finish(window, epoch, rec_index, w)))
        return out

    def unit(self, position: int, featurize: bool) -> tuple[int, dict[int, Any]]:
        """Read unit at this rank's global unit ``position`` (chunk-aware mode): its epoch and
        ``{record: examples}`` (``featurize``, in workers) or ``{record: raw record}``."""
        plan = self.plan
        assert plan is not None
        epoch, u = plan.unit_at(position)
        a, b = int(plan.starts[u]), int(plan.stops[u])
        keep = plan.unit_records(u) - a
        # one slice per array: each chunk decompressed once; ids are not needed for training
        records = self.store.read_range(a, b, ids=False)
        out = {}
        for j in keep.tolist():
            out[a + j] = self.record_examples(epoch, a + j, records[j]) if featurize else records[j]
        return epoch, out

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
        for (e, r), record in zip(pairs, read_records(self.store, np.array([r for _, r in pairs], np.int64))):
            windows = self.windows(r, record)
            for w in by_record[(e, r)]:
                out[(e, r, w)] = self.finish(self.window(windows, w, r), e, r, w)
        return out
