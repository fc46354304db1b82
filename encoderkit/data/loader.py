"""Streaming loader: shuffled, sharded records -> featurise -> windows -> mask -> packed batches.

The batch stream is a deterministic function of (seed, rank, world_size, epoch,
position), whatever the number of workers:

* epoch ``e`` visits ``indices[permutation(seed, e)]``; rank ``r`` takes
  ``order[r::world_size]`` (ranks are disjoint and together cover the epoch);
* a rank's records are cut into chunks of ``chunk_records``; chunk ``g``
  (numbered across epochs) is featurised and masked by worker ``g % num_workers``
  and the main process consumes chunks strictly in order;
* every example draws its randomness from ``default_rng([seed, epoch, record,
  window])``, so its mask does not depend on which worker made it;
* the main process packs examples with ``BestFitPacker`` (also deterministic).

Exact resume therefore needs only the next chunk number and the identities
``(epoch, record, window)`` of the examples still waiting in the packer;
``load_state_dict`` recomputes those few examples and continues.

Masking waits for the batch (``num_workers=0``, pretraining): the packer needs only each
example's length, and it holds ``buffer_size`` micro-batches of examples before the first
leaves (3-token table rows under 8192 tokens: ~44k rows ahead of step 1), so a training
example is masked when its micro-batch is collated, from the same generator
(``_Deferred``): the batches are those of masking at once, and examples the run never
takes are never masked. A masker keeps the tokens of the example it masks (it corrupts
inputs and picks targets); one that changes their number is refused.

Larger-than-memory stores (zarr-backed, see ``chunked.py``): with ``read="chunks"``
(the default for a zarr-backed, shuffled loader over most of the store) the order is
chunk-aware: read units of whole token chunks are shuffled, then records within a
window of units that fits ``buffer_mb``; a unit is read with one slice per array.
Then the unit of worker work is one read unit, a chunk number above means a window
of units, and the state also holds how many records of that window were taken.

Modes: training (``train=True``: shuffled, augment + mask, ``epochs=None`` loops
forever); validation (``train=True`` with a fixed seed and ``epochs=1``: the same
masked batches every time, so losses compare across steps; a finished finite
loader starts over when iterated again); embedding (``train=False``: record
order, ``domain.unmasked``; or ``iter_examples`` for unpacked examples).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from encoderkit.batch import PackedBatch
from encoderkit.data.chunked import DEFAULT_BUFFER_MB, ChunkPlan
from encoderkit.data.collate import collate
from encoderkit.data.packing import BestFitPacker
from encoderkit.data.store import AUTO_IN_MEMORY_BYTES, RecordStore, StorePath
from encoderkit.domain import ContractError, Domain, Example, MaskedExample, check_positions
from encoderkit.errors import DataError

STATE_VERSION = 1
Key = tuple[int, int, int]  # (epoch, record, window number within the record)
# A loader item: one example, or a few that must share a micro-batch (contrastive views).
Item = Union[MaskedExample, list[MaskedExample]]
# (window, its generator, train) -> item; replaces augment + mask (fine-tuning objectives)
Prepare = Callable[[Example, np.random.Generator, bool], Item]


def item_length(item: Item) -> int:
    return sum(len(e) for e in item) if isinstance(item, list) else len(item)


def item_examples(items: Sequence[Item]) -> list[MaskedExample]:
    return [e for it in items for e in (it if isinstance(it, list) else [it])]


def _identity(x: Any) -> Any:
    return x


def example_rng(seed: int, epoch: int, record: int, window: int) -> np.random.Generator:
    """The generator for one example's augmentation and masking."""
    return np.random.default_rng([int(seed), int(epoch), int(record), int(window)])


class _Deferred:
    """A training example whose masking waits for its micro-batch (see the module doc).

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

    def chunk(self, g: int) -> list[tuple[Key, MaskedExample]]:
        epoch, j = divmod(g, self.chunks_per_epoch)
        records = self.shard(epoch)[j * self.chunk_records:(j + 1) * self.chunk_records]
        out: list[tuple[Key, MaskedExample]] = []
        for rec_index, record in zip(records.tolist(), self.store.read_many(records)):
            out += self.record_examples(epoch, rec_index, record)
        return out

    def record_examples(self, epoch: int, rec_index: int, record: dict[str, Any]) -> list[tuple[Key, MaskedExample]]:
        return [((epoch, rec_index, w), self.finish(window, epoch, rec_index, w))
                for w, window in enumerate(self.windows(rec_index, record)) if len(window)]

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

    def windows(self, rec_index: int, record: dict[str, Any]) -> list[Example]:
        example = self.domain.featurize(record)
        check_positions(self.domain, example.positions)  # [L, rope_axes], or refused
        example.record, example.window, example.start = rec_index, 0, 0
        windows = self.domain.windows(example, self.max_seqlen)
        for win in windows:
            if len(win) > self.max_seqlen:
                raise ValueError(f"domain {self.domain.name!r} made a window of {len(win)} tokens from record "
                                 f"{rec_index}, longer than max_seqlen={self.max_seqlen}")
        return windows

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
        """Recompute the examples named by ``keys`` (resume)."""
        by_record: dict[tuple[int, int], list[int]] = {}
        for e, r, w in keys:
            by_record.setdefault((e, r), []).append(w)
        out: dict[Key, MaskedExample] = {}
        pairs = list(by_record)
        for (e, r), record in zip(pairs, self.store.read_many([r for _, r in pairs])):
            windows = self.windows(r, record)
            for w in by_record[(e, r)]:
                out[(e, r, w)] = self.finish(windows[w], e, r, w)
        return out


class _ChunkStream(IterableDataset):
    """Yields ``(g, work item g)`` for g = start, start + W, ... in worker ``W``'s share: a chunk of
    records (record mode) or a read unit (chunk-aware mode, featurised in workers)."""

    def __init__(self, producer: _Producer, start: int, end: int | None, units: bool = False) -> None:
        self.producer, self.start, self.end, self.units = producer, start, end, units

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        info = get_worker_info()
        step, g = (info.num_workers, self.start + info.id) if info is not None else (1, self.start)
        if info is not None:  # a forked worker: a URL store needs its own connections
            self.producer.store = self.producer.store.reopen()
        while self.end is None or g < self.end:
            yield g, (self.producer.unit(g, featurize=info is not None) if self.units else self.producer.chunk(g))
            g += step


class PackedLoader:
    """Iterable of ``PackedBatch`` under ``max_tokens`` per micro-batch and ``max_seqlen`` per sequence.

    ``store``: a ``RecordStore`` or a location (opened with ``in_memory="auto"``).
    ``indices``: the records to draw from (e.g. ``store.split("train")``); default all.
    ``buffer_size``: micro-batches filled at once by the best-fit packer (more: fuller batches).
    ``chunk_records``: records per unit of worker work (also the resume granularity).
    ``in_memory``: "auto" loads a store below 2 GB into numpy once (``RecordStore.to_memory``).
    ``read``: "chunks" (chunk-aware shuffled reading, see ``chunked.py``), "records" (record by
    record) or "auto": chunks for a zarr-backed store when shuffling over at least half of it.
    ``buffer_mb``: decompressed tokens held for the chunk-aware shuffle (more: records of more
    read units mixed, neighbours from one unit with probability ~1/units; also the memory held:
    raw records with ``num_workers=0``, their featurised examples with workers).
    """

    def __init__(self, store: RecordStore | StorePath, domain: Domain, *,
                 indices: Sequence[int] | np.ndarray | None = None, max_tokens: int, max_seqlen: int,
                 seed: int = 0, rank: int = 0, world_size: int = 1, num_workers: int = 0,
                 train: bool = True, shuffle: bool | None = None, buffer_size: int = 16,
                 epochs: int | None = None, chunk_records: int = 32, prefetch_factor: int = 4,
                 pin_memory: bool = False, in_memory: bool | str = "auto", read: str = "auto",
                 buffer_mb: float = DEFAULT_BUFFER_MB, prepare: Prepare | None = None) -> None:
        if not isinstance(store, RecordStore):
            store = RecordStore(store, expect_domain=domain.name or None)
        # zarr reads cost ~0.1-1 ms per call, slices of loaded arrays ~µs: load small stores
        if in_memory is True or (in_memory == "auto" and store.nbytes < AUTO_IN_MEMORY_BYTES):
            store = store.to_memory()
        self.store, self.domain = store, domain
        n = len(store)
        idx = np.arange(n, dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"The 'indices' parameter must hold record indices in [0, {n}); "
                             f"got values in [{idx.min()}, {idx.max()}]")
        for name, value, low in (("max_tokens", max_tokens, 1), ("max_seqlen", max_seqlen, 1),
                                 ("world_size", world_size, 1), ("num_workers", num_workers, 0),
                                 ("chunk_records", chunk_records, 1), ("buffer_size", buffer_size, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"The {name!r} parameter of PackedLoader must be an int >= {low}. Got {value!r}.")
        if max_seqlen > max_tokens:
            raise ValueError(f"max_seqlen ({max_seqlen}) must be <= max_tokens ({max_tokens}): "
                             f"a full-length sequence has to fit one micro-batch")
        if not 0 <= rank < world_size:
            raise ValueError(f"The 'rank' parameter must be in [0, {world_size}). Got {rank!r}.")
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise ValueError(f"The 'epochs' parameter must be None (forever) or an int >= 1. Got {epochs!r}.")
        if len(range(rank, idx.size, world_size)) == 0:
            raise ValueError(f"rank {rank} of {world_size} gets no records: only {idx.size} records to share")
        self.max_tokens, self.max_seqlen = int(max_tokens), int(max_seqlen)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.num_workers, self.train, self.epochs = int(num_workers), bool(train), epochs
        self.shuffle = self.train if shuffle is None else bool(shuffle)
        self.buffer_size, self.chunk_records = int(buffer_size), int(chunk_records)
        self.prefetch_factor, self.pin_memory = int(prefetch_factor), bool(pin_memory)
        self.indices = idx
        self._rank_records = len(range(rank, idx.size, world_size))
        self._producer = _Producer(store, domain, idx, max_seqlen=self.max_seqlen, seed=self.seed,
                                   rank=self.rank, world_size=self.world_size, train=self.train,
                                   shuffle=self.shuffle, chunk_records=self.chunk_records,
                                   prepare=prepare, defer=self.num_workers == 0)
        self._plan: ChunkPlan | None = self._choose_read(read, buffer_mb)
        self._producer.plan = self._plan
        self.read, self.buffer_mb = ("chunks" if self._plan is not None else "records"), float(buffer_mb)
        self._fingerprint = self._make_fingerprint()
        self._reset()

    def _choose_read(self, read: str, buffer_mb: float) -> ChunkPlan | None:
        """The chunk-aware plan, or None to read record by record."""
        if read not in ("auto", "chunks", "records"):
            raise ValueError(f"The 'read' parameter must be 'auto', 'chunks' or 'records'. Got {read!r}.")
        if isinstance(buffer_mb, bool) or not isinstance(buffer_mb, (int, float)) or not buffer_mb > 0:
            raise ValueError(f"The 'buffer_mb' parameter must be a number > 0. Got {buffer_mb!r}.")
        idx = self.indices
        if read == "records":
            return None
        unique = np.unique(idx).size == idx.size
        if read == "auto" and not (not self.store.in_memory and self.shuffle and unique
                                   and idx.size >= 0.5 * len(self.store)):
            return None
        if not unique:
            raise ValueError("read='chunks' needs distinct indices (each record is read once per epoch)")
        plan = ChunkPlan(self.store, idx, buffer_mb=buffer_mb, seed=self.seed, rank=self.rank,
                         world_size=self.world_size, shuffle=self.shuffle)
        if plan.num_units < self.world_size:  # every rank needs at least one read unit
            if read == "auto":
                return None
            raise ValueError(f"the records form {plan.num_units} read unit(s), fewer than world_size="
                             f"{self.world_size}: use read='records' or a smaller buffer_mb")
        return plan

    # ---- state ----
    def _reset(self) -> None:
        self._next_chunk = 0
        self._skip = 0  # chunk-aware mode: records of window ``_next_chunk`` already taken
        self._saved_open: list[list[Key]] = []
        self._saved_pending: list[list[Key]] = []
        self._live: tuple[BestFitPacker, deque] | None = None
        self._stats = {"batches": 0, "sequences": 0, "tokens": 0, "predicted": 0, "records": 0}

    def _make_fingerprint(self) -> str:
        h = hashlib.sha256(np.ascontiguousarray(self.indices).tobytes())
        h.update(repr((self.max_tokens, self.max_seqlen, self.seed, self.rank, self.world_size, self.train,
                       self.shuffle, self.buffer_size, self.chunk_records, self.domain.name)).encode())
        if self.read == "chunks":  # (record mode keeps the fingerprints of earlier versions)
            h.update(repr(("chunks", self.buffer_mb)).encode())
        return h.hexdigest()[:16]

    @property
    def chunks_per_epoch(self) -> int:
        """Units of resume granularity per epoch: record chunks, or windows in chunk-aware mode."""
        return self._plan.windows_per_epoch if self._plan is not None else self._producer.chunks_per_epoch

    def order(self, epoch: int) -> np.ndarray:
        """The record indices this rank visits in ``epoch``, in order."""
        if self._plan is not None:
            return self._plan.epoch_order(int(epoch))
        return self._producer.shard(int(epoch)).copy()

    @property
    def epoch(self) -> int:
        """The epoch of the next chunk to read."""
        return self._next_chunk // self.chunks_per_epoch

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable position: the next chunk, and the examples waiting in the packer."""
        if self._live is not None:
            packer, pending = self._live
            open_bins = [[list(k) for k, _ in b] for b in packer.bins]
            pending_bins = [[list(k) for k, _ in b] for b in pending]
        else:
            open_bins = [[list(k) for k in b] for b in self._saved_open]
            pending_bins = [[list(k) for k in b] for b in self._saved_pending]
        return {"version": STATE_VERSION, "fingerprint": self._fingerprint, "next_chunk": self._next_chunk,
                "skip": self._skip, "open": open_bins, "pending": pending_bins, "stats": dict(self._stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"loader state version {state.get('version')!r} is not supported "
                             f"(this encoderkit writes {STATE_VERSION})")
        if state.get("fingerprint") != self._fingerprint:
            raise ValueError("loader state was saved by a loader with different records or settings "
                             "(indices, max_tokens, max_seqlen, seed, rank, world_size, train, shuffle, "
                             "buffer_size, chunk_records, read, buffer_mb or domain); resuming it would not "
                             "reproduce the run")
        self._reset()
        self._next_chunk = int(state["next_chunk"])
        self._skip = int(state.get("skip", 0))
        self._saved_open = [[tuple(int(x) for x in k) for k in b] for b in state["open"]]
        self._saved_pending = [[tuple(int(x) for x in k) for k in b] for b in state["pending"]]
        self._stats.update({k: int(v) for k, v in state.get("stats", {}).items()})

    def stats(self) -> dict[str, float]:
        """Counts so far; ``fill`` = real tokens / (batches * max_tokens), the packing efficiency."""
        s: dict[str, float] = dict(self._stats)
        s["fill"] = s["tokens"] / (s["batches"] * self.max_tokens) if s["batches"] else 0.0
        s["epoch"] = self.epoch
        return s

    # ---- iteration ----
    def _chunks(self, start: int, end: int | None) -> Iterator[tuple[int, list[tuple[Key, MaskedExample]]]]:
        dataset = _ChunkStream(self._producer, start, end)
        if self.num_workers == 0:
            return iter(dataset)
        return iter(DataLoader(dataset, batch_size=None, num_workers=self.num_workers, collate_fn=_identity,
                               prefetch_factor=self.prefetch_factor, persistent_workers=False))

    def __iter__(self) -> Iterator[PackedBatch]:
        end = None if self.epochs is None else self.epochs * self.chunks_per_epoch
        if end is not None and self._next_chunk >= end and not self._saved_open and not self._saved_pending:
            self._reset()  # a finished finite loader starts over (validation / evaluation passes)
        packer: BestFitPacker[tuple[Key, MaskedExample]] = BestFitPacker(self.max_tokens, self.buffer_size)
        pending: deque[list[tuple[Key, MaskedExample]]] = deque()
        if self._saved_open or self._saved_pending:
            keys = [k for b in self._saved_open + self._saved_pending for k in b]
            made = self._producer.rebuild(keys)
            packer.restore([[(k, made[k]) for k in b] for b in self._saved_open],
                           [sum(item_length(made[k]) for k in b) for b in self._saved_open])
            pending.extend([[(k, made[k]) for k in b] for b in self._saved_pending])
            self._saved_open, self._saved_pending = [], []
        self._live = (packer, pending)
        try:
            if self._plan is not None:
                yield from self._iter_units(packer, pending, end)
                return
            chunks = self._chunks(self._next_chunk, end)
            barren = 0  # chunks in a row that gave no example
            while True:
                while pending:
                    yield self._collate(pending.popleft())
                item = next(chunks, None)
                if item is None:
                    pending.extend(packer.flush())
                    if not pending:
                        break
                    continue
                g, examples = item
                if g != self._next_chunk:  # the order guarantee everything rests on
                    raise RuntimeError(f"loader received chunk {g}, expected {self._next_chunk}")
                self._next_chunk += 1
                self._stats["records"] += len({k[1] for k, _ in examples})
                barren = 0 if examples else barren + 1
                if barren >= self.chunks_per_epoch:
                    self._no_tokens()
                for key, example in examples:
                    pending.extend(packer.add((key, example), item_length(example)))
        finally:
            # keep the position if the consumer stops early (state_dict after a break)
            self._saved_open = [[k for k, _ in b] for b in packer.bins]
            self._saved_pending = [[k for k, _ in b] for b in pending]
            self._live = None

    def _iter_units(self, packer: BestFitPacker, pending: deque, end: int | None) -> Iterator[PackedBatch]:
        """Chunk-aware mode: windows of read units, records of a window in shuffled order."""
        plan = self._plan
        assert plan is not None
        window, skip = self._next_chunk, self._skip
        first = plan.window_span(window)[0]
        stop = None if end is None else (end // plan.windows_per_epoch) * plan.units_per_rank
        dataset = _ChunkStream(self._producer, first, stop, units=True)
        units = iter(dataset) if self.num_workers == 0 else iter(DataLoader(
            dataset, batch_size=None, num_workers=self.num_workers, collate_fn=_identity,
            prefetch_factor=self.prefetch_factor, persistent_workers=False))
        lazy = self.num_workers == 0  # raw records in the buffer, featurised as they are taken
        barren = 0  # records in a row that gave no example
        while end is None or window < end:
            a, b = plan.window_span(window)
            buffer: dict[int, Any] = {}
            for expected in range(a, b):
                p, (epoch, payload) = next(units)
                if p != expected:  # the order guarantee everything rests on
                    raise RuntimeError(f"loader received read unit {p}, expected {expected}")
                buffer.update(payload)
            records = plan.window_records(window).tolist()
            for k in range(skip, len(records)):
                r = records[k]
                item = buffer.pop(r)
                examples = self._producer.record_examples(epoch, r, item) if lazy else item
                self._next_chunk, self._skip = (window + 1, 0) if k + 1 == len(records) else (window, k + 1)
                self._stats["records"] += 1
                barren = 0 if examples else barren + 1
                if barren >= self._rank_records:
                    self._no_tokens()
                for key, example in examples:
                    pending.extend(packer.add((key, example), len(example)))
                while pending:
                    yield self._collate(pending.popleft())
            window, skip = window + 1, 0
            self._next_chunk, self._skip = window, 0
        pending.extend(packer.flush())
        while pending:
            yield self._collate(pending.popleft())

    def _no_tokens(self) -> None:
        """A whole epoch gave no example: every record featurises to zero tokens (a table
        whose one column is the fine-tuning label, say). Iterating on would never yield."""
        raise DataError(f"none of the {self._rank_records} record(s) this loader reads "
                        f"holds anything to train on: every one featurises to zero tokens for the "
                        f"{self.domain.name or 'given'} domain")

    def _collate(self, items: list[tuple[Key, Item | _Deferred]]) -> PackedBatch:
        batch = collate(item_examples([_masked(e) for _, e in items]))
        n = batch.num_tokens
        self._stats["batches"] += 1
        self._stats["sequences"] += len(items)
        self._stats["tokens"] += n
        self._stats["predicted"] += int(batch.predict.sum())
        batch.meta["fill"] = n / self.max_tokens
        batch.meta["epoch"] = float(items[0][0][0])
        if self.pin_memory and torch.cuda.is_available():
            batch = batch.pin_memory()
        return batch


def iter_examples(store: RecordStore | StorePath, domain: Domain, *, indices: Sequence[int] | None = None,
                  max_seqlen: int, train: bool = False, seed: int = 0, epoch: int = 0) -> Iterator[MaskedExample]:
    """Examples in record order, unpacked: ``domain.unmasked`` windows (``train=False``, for
    embedding) or masked with the loader's per-example seeding (``train=True``)."""
    if not isinstance(store, RecordStore):
        store = RecordStore(store, in_memory="auto", expect_domain=domain.name or None)
    idx = np.arange(len(store), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
    producer = _Producer(store, domain, idx, max_seqlen=int(max_seqlen), seed=seed, rank=0, world_size=1,
                         train=train, shuffle=False, chunk_records=64)
    for start in range(0, idx.size, 64):
        records = idx[start:start + 64]
        for rec_index, record in zip(records.tolist(), store.read_many(records)):
            for w, window in enumerate(producer.windows(rec_index, record)):
                if len(window):
                    yield producer.finish(window, epoch, rec_index, w)
