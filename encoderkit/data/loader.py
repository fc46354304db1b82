"""Streaming loader: shuffled, sharded records -> featurise -> windows -> mask -> packed batches.

The batch stream is a deterministic function of (seed, rank, world_size, epoch,
position), whatever the number of workers:

* epoch ``e`` visits ``indices[permutation(seed, e)]``; rank ``r`` takes
  ``order[r::world_size]`` (ranks are disjoint and together cover the epoch);
* a rank's records are cut into chunks of ``chunk_records``; chunk ``g``
  (numbered across epochs) is featurised and masked by worker ``g % num_workers``
  (counted from the first chunk iterated) and the main process consumes chunks strictly
  in order;
* every example draws its randomness from ``default_rng([seed, epoch, record,
  window])``, so its mask does not depend on which worker made it;
* the main process packs examples with ``BestFitPacker`` (also deterministic).

Exact resume therefore needs only the position (the next chunk, its records taken, and of
the next record its windows taken) and the identities ``(epoch, record, window)`` of the
examples still waiting in the packer; ``load_state_dict`` recomputes those few examples and
continues.

Long records (a chromosome of 10^5 windows): examples enter the packer one at a time and
each micro-batch leaves as soon as it is full, so the packer holds ``buffer_size``
micro-batches, never a record's windows, and the state lists as few keys. A record's
windows are made one at a time too (``Domain.featurize_windows`` may cut them before
featurizing: genomic), so memory follows a window, not the record: a worker sends its
examples a micro-batch of tokens at a time (``WorkerShare``) through a DataLoader of its
own, read only when the main process needs that worker's next record, so it waits, a few
pieces ahead, while another worker's chromosome is packed. A zarr-backed store gives a
domain that slices records (``reads_field_slices``: genomic) its long records as views
(``store_views.FieldView``), so their raw tokens are read a window at a time as well.

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
Then a worker reads the read units at positions ``p`` with ``p % num_workers`` its own
and sends their records' examples in the window's order; a chunk number above means a
window of units, and the state also holds how many records of that window were taken.

Modes: training (``train=True``: shuffled, augment + mask, ``epochs=None`` loops
forever); validation (``train=True`` with a fixed seed and ``epochs=1``: the same
masked batches every time, so losses compare across steps; a finished finite
loader starts over when iterated again); embedding (``train=False``: record
order, ``domain.unmasked``; or ``iter_examples`` for unpacked examples).
"""

from __future__ import annotations

import hashlib
from collections import deque
from typing import Any, Generator, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from encoderkit.batch import PackedBatch
from encoderkit.data.chunked import DEFAULT_BUFFER_MB, ChunkPlan
from encoderkit.data.collate import collate
from encoderkit.data.packing import BestFitPacker
# the producer's names stay importable from here
from encoderkit.data.producer import (Inbox, Item, Key, Prepare, WorkerShare, _Deferred, _masked,  # noqa: F401
                                      _Producer, example_rng, item_examples, item_length, read_records)
from encoderkit.data.store import AUTO_IN_MEMORY_BYTES, RecordStore, StorePath
from encoderkit.domain import Domain, MaskedExample
from encoderkit.errors import DataError

STATE_VERSION = 1


def _identity(x: Any) -> Any:
    return x


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
    the window's raw records, read by the main process or, with workers, each worker its units).
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
        # the position: chunk (chunk-aware mode: window of read units) ``_next_chunk``, whose first
        # ``_skip`` records are taken, and of its next record the first ``_window`` windows
        self._next_chunk, self._skip, self._window = 0, 0, 0
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
        """JSON-serialisable position: the next chunk, record and window, and the examples
        waiting in the packer (at most ``buffer_size`` micro-batches of them plus the one or
        two that just left it: a long record's windows are taken one at a time)."""
        if self._live is not None:
            packer, pending = self._live
            open_bins = [[list(k) for k, _ in b] for b in packer.bins]
            pending_bins = [[list(k) for k, _ in b] for b in pending]
        else:
            open_bins = [[list(k) for k in b] for b in self._saved_open]
            pending_bins = [[list(k) for k in b] for b in self._saved_pending]
        return {"version": STATE_VERSION, "fingerprint": self._fingerprint, "next_chunk": self._next_chunk,
                "skip": self._skip, "window": self._window, "open": open_bins, "pending": pending_bins,
                "stats": dict(self._stats)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at a saved position; a state written before ``window`` existed (every
        record's windows taken at once) reads as window 0."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"loader state version {state.get('version')!r} is not supported "
                             f"(this encoderkit writes {STATE_VERSION})")
        if state.get("fingerprint") != self._fingerprint:
            raise ValueError("loader state was saved by a loader with different records or settings "
                             "(indices, max_tokens, max_seqlen, seed, rank, world_size, train, shuffle, "
                             "buffer_size, chunk_records, read, buffer_mb or domain); resuming it would not "
                             "reproduce the run")
        window = state.get("window", 0)
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise ValueError(f"loader state entry 'window' is {window!r}, not a whole number >= 0")
        self._reset()
        self._next_chunk = int(state["next_chunk"])
        self._skip, self._window = int(state.get("skip", 0)), window
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
    def _inboxes(self, end: int | None) -> list[Inbox]:
        """One DataLoader of one worker per ``num_workers``, each making its ``WorkerShare`` from
        the present position: the main process reads a worker only when it needs its next slot."""
        at = (self._next_chunk, end, self._skip, self._window)
        # a generator of the loader's own: a DataLoader draws its workers' base seed from the
        # global torch generator otherwise, one draw per worker per pass, which moved the
        # training's dropout stream with num_workers and made a resume differ (the workers
        # draw nothing from torch: every example's randomness is ``example_rng``'s)
        return [Inbox(iter(DataLoader(WorkerShare(self._producer, i, self.num_workers, *at, self.max_tokens),
                                      batch_size=None, num_workers=1, collate_fn=_identity,
                                      prefetch_factor=self.prefetch_factor, persistent_workers=False,
                                      generator=torch.Generator().manual_seed(i))))
                for i in range(self.num_workers)]

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
            elif self.num_workers == 0:
                yield from self._iter_records(packer, pending, end)
            else:
                yield from self._iter_chunks(packer, pending, end)
            pending.extend(packer.flush())  # a finite loader's end
            while pending:
                yield self._collate(pending.popleft())
        finally:
            # keep the position if the consumer stops early (state_dict after a break)
            self._saved_open = [[k for k, _ in b] for b in packer.bins]
            self._saved_pending = [[k for k, _ in b] for b in pending]
            self._live = None

    def _take(self, packer: BestFitPacker, pending: deque, key: Key, item: Item | _Deferred,
              at: tuple[int, int, int]) -> Iterator[PackedBatch]:
        """One example into the packer, the position moved past it (``at``), and each batch
        that leaves yielded at once: a record of 10^5 windows never waits whole in ``pending``."""
        self._next_chunk, self._skip, self._window = at
        pending.extend(packer.add((key, item), item_length(item)))
        while pending:
            yield self._collate(pending.popleft())

    def _record(self, packer: BestFitPacker, pending: deque, epoch: int, r: int, record: dict[str, Any],
                chunk: int, k: int, last: bool, first: int) -> Generator[PackedBatch, None, bool]:
        """Record ``r`` (number ``k`` of chunk / window ``chunk``; ``last``: its last record)
        featurized here, its windows from ``first`` on made and packed one at a time, so that
        memory holds a window of a chromosome, not the chromosome. Returns whether it gave one."""
        producer = self._producer
        windows = producer.windows(r, record)
        n, gave = len(windows), False
        for w in range(first, n):
            window = producer.window(windows, w, r)
            at = (chunk, k, w + 1) if w + 1 < n else (chunk + 1, 0, 0) if last else (chunk, k + 1, 0)
            if not len(window):
                self._next_chunk, self._skip, self._window = at
                continue
            gave = True
            yield from self._take(packer, pending, (epoch, r, w), producer.finish(window, epoch, r, w), at)
        return gave

    def _iter_records(self, packer: BestFitPacker, pending: deque, end: int | None) -> Iterator[PackedBatch]:
        """Record mode, examples made in this process, record by record."""
        g, skip, first = self._next_chunk, self._skip, self._window
        barren = 0  # chunks in a row that gave no example
        while end is None or g < end:
            epoch, records = self._producer.chunk_records_of(g)
            gave, seen = skip > 0 or first > 0, set()
            todo = records[skip:].tolist()
            read = read_records(self.store, records[skip:], self._producer.views)
            for k, (r, record) in enumerate(zip(todo, read), start=skip):
                start = first if k == skip else 0
                if (yield from self._record(packer, pending, epoch, r, record, g, k, k + 1 == len(records), start)):
                    gave = True
                    if start == 0 and r not in seen:  # records that gave an example (a resumed one: counted)
                        self._stats["records"] += 1
                        seen.add(r)
            g, skip, first = g + 1, 0, 0
            self._next_chunk, self._skip, self._window = g, 0, 0
            barren = 0 if gave else barren + 1
            if barren >= self.chunks_per_epoch:
                self._no_tokens()

    def _iter_chunks(self, packer: BestFitPacker, pending: deque, end: int | None) -> Iterator[PackedBatch]:
        """Record mode, examples made by DataLoader workers: chunk ``g`` by worker ``g % W``
        (counted from the first chunk), its records' examples sent as they are made and packed
        one at a time, so a worker holds a few windows of a chromosome, never all of them. A
        resume inside a chunk makes only what it has not taken (``chunk_entries``)."""
        start, skip, first, workers = self._next_chunk, self._skip, self._window, self.num_workers
        inboxes = self._inboxes(end)
        g, barren = start, 0  # chunks in a row that gave no example
        while end is None or g < end:
            _, records = self._producer.chunk_records_of(g)
            inbox, gave, seen = inboxes[(g - start) % workers], skip > 0 or first > 0, set()
            for k in range(skip, len(records)):
                for key, example in inbox.slot((g, k)):
                    gave = True
                    if (k != skip or first == 0) and key[1] not in seen:  # a resumed record was counted
                        self._stats["records"] += 1
                        seen.add(key[1])
                    yield from self._take(packer, pending, key, example, (g, k, key[2] + 1))
            g, skip, first = g + 1, 0, 0
            self._next_chunk, self._skip, self._window = g, 0, 0
            barren = 0 if gave else barren + 1
            if barren >= self.chunks_per_epoch:
                self._no_tokens()

    def _iter_units(self, packer: BestFitPacker, pending: deque, end: int | None) -> Iterator[PackedBatch]:
        """Chunk-aware mode: windows of read units, records of a window in shuffled order.
        Without workers the window's units are read here (raw records, featurised as they are
        taken); with workers, read unit position ``p`` belongs to worker ``p % W``, which reads
        its units of a window and sends their records' examples in the window's order."""
        plan, producer, workers = self._plan, self._producer, self.num_workers
        assert plan is not None
        window, skip, first = self._next_chunk, self._skip, self._window
        inboxes = self._inboxes(end) if workers else []
        barren = 0  # records in a row that gave no example
        while end is None or window < end:
            a, b = plan.window_span(window)
            epoch = window // plan.windows_per_epoch
            buffer: dict[int, Any] = {}  # without workers: the window's raw records
            for p in range(a, b):
                if workers:  # the worker that reads each record's unit
                    buffer.update(dict.fromkeys(plan.unit_records(plan.unit_at(p)[1]).tolist(), p % workers))
                else:
                    buffer.update(producer.unit(p)[1])
            records = plan.window_records(window).tolist()
            for k in range(skip, len(records)):
                r, begin = records[k], first if k == skip else 0
                item = buffer.pop(r)
                last = k + 1 == len(records)
                if begin == 0:
                    self._stats["records"] += 1
                if not workers:
                    gave = yield from self._record(packer, pending, epoch, r, item, window, k, last, begin)
                else:
                    gave = False
                    for key, example in inboxes[item].slot((window, k)):
                        gave = True
                        yield from self._take(packer, pending, key, example, (window, k, key[2] + 1))
                self._next_chunk, self._skip, self._window = (window + 1, 0, 0) if last else (window, k + 1, 0)
                barren = 0 if gave or begin > 0 else barren + 1
                if barren >= self._rank_records:
                    self._no_tokens()
            window, skip, first = window + 1, 0, 0
            self._next_chunk, self._skip, self._window = window, 0, 0

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
    for rec_index, record in zip(idx.tolist(), read_records(store, idx, producer.views)):
        windows = producer.windows(rec_index, record)
        for w in range(len(windows)):  # made one at a time (a chromosome's are never all held)
            window = producer.window(windows, w, rec_index)
            if len(window):
                yield producer.finish(window, epoch, rec_index, w)
