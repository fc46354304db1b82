"""Chunk-aware shuffled reading of zarr-backed stores (encoderkit/data/chunked.py)."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pytest
import zarr
from scipy import stats

from encoderkit.data.loader import PackedLoader
from encoderkit.data.store import RecordStore, StoreWriter

from .synthetic_domain import SyntheticDomain, random_records
from .test_loader import batches_equal, expected_windows, seen_windows

MAX_TOKENS, MAX_SEQLEN = 256, 64
# 1024-token chunks (the writer's minimum), 18 bytes per token: a 0.5 MB buffer makes read
# units of 3 chunks and holds 9 of them
BUFFER_MB = 0.5


def write_small_chunks(path, records) -> None:
    with StoreWriter(path, "synthetic", chunk_bytes=2048) as w:
        for i, r in enumerate(records):
            w.append(r, {"length": len(r["ids"])}, id=f"rec{i}")
        w.finalize({"vocab": 32}, {"files": []})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    records = random_records(700, rng, low=1, high=200)
    records.append(random_records(1, rng, low=5000, high=5001)[0])  # spans several chunks
    ms = zarr.storage.MemoryStore()
    write_small_chunks(ms, records)
    store = RecordStore(ms, in_memory=False)
    assert set(store.token_chunks.values()) == {1024}
    return store, records, SyntheticDomain(store.schema, rate=0.3)


def make(store, domain, **kw):
    args = dict(max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, seed=7, buffer_mb=BUFFER_MB, chunk_records=8,
                buffer_size=4)
    args.update(kw)
    return PackedLoader(store, domain, **args)


def test_auto_reads_chunks_for_a_zarr_backed_shuffled_loader(data):
    store, _, domain = data
    assert make(store, domain, in_memory=False).read == "chunks"
    assert make(store, domain, in_memory=True).read == "records"
    assert make(store, domain, in_memory=False, train=False).read == "records"  # embedding: record order
    # a validation split is a few scattered records: reading whole chunks for them would read everything
    assert make(store, domain, in_memory=False, indices=store.split("validation", 0.05)).read == "records"
    loader = make(store, domain, in_memory=False)
    plan = loader._plan
    assert plan.chunks_per_unit == 3 and plan.units_per_window == 9
    # units are contiguous record ranges aligned to runs of chunks, together all records
    assert plan.starts[0] == 0 and plan.stops[-1] == len(store)
    assert np.array_equal(plan.starts[1:], plan.stops[:-1])
    first_token = store.offsets[plan.starts]
    assert np.array_equal(first_token // plan.unit_tokens, np.unique(store.offsets[:-1] // plan.unit_tokens))


@pytest.mark.parametrize("world_size", [1, 3])
def test_every_record_once_per_epoch_disjoint_ranks(data, world_size):
    store, records, domain = data
    subset = store.split("train", 0.2)
    orders = []
    for rank in range(world_size):
        loader = make(store, domain, in_memory=False, read="chunks", indices=subset, rank=rank,
                      world_size=world_size, epochs=1)
        orders.append(loader.order(0))
        batches = list(loader)
        # the batches hold exactly the windows of this rank's records, each once
        mine = Counter({k: v for k, v in expected_windows(records).items() if k[0] in set(orders[-1].tolist())})
        assert seen_windows(batches) == mine
        assert loader.stats()["fill"] > 0.9
    allrec = np.concatenate(orders)
    assert np.array_equal(np.sort(allrec), np.sort(subset))  # disjoint, and together the epoch
    # ranks read disjoint read units
    units = [set(make(store, domain, in_memory=False, indices=subset, rank=r, world_size=world_size)
                 ._plan.units(0).tolist()) for r in range(world_size)]
    assert sum(len(u) for u in units) == len(set().union(*units))


def test_epochs_differ_and_order_is_seeded(data):
    store, _, domain = data
    a, b = make(store, domain, in_memory=False), make(store, domain, in_memory=False)
    assert np.array_equal(a.order(0), b.order(0))
    assert not np.array_equal(a.order(0), a.order(1))
    assert np.array_equal(np.sort(a.order(0)), np.sort(a.order(1)))
    assert not np.array_equal(a.order(0), make(store, domain, in_memory=False, seed=8).order(0))


def test_neighbours_are_decorrelated_when_the_buffer_holds_several_units(data):
    store, _, domain = data
    wide = make(store, domain, in_memory=False)._plan
    order = np.concatenate([wide.epoch_order(e) for e in range(4)])
    unit_of = np.searchsorted(wide.stops, order, side="right")
    same = np.mean(unit_of[1:] == unit_of[:-1])
    # with K units of similar size mixed uniformly, a neighbour shares the unit w.p. ~1/K
    assert wide.units_per_window == 9 and same < 2.0 / wide.units_per_window
    rho = stats.spearmanr(order[:-1], order[1:]).statistic
    assert abs(rho) < 0.15
    # the control: a one-unit buffer keeps neighbours within a unit, and their indices correlated
    narrow = make(store, domain, in_memory=False, buffer_mb=0.02)._plan
    assert narrow.units_per_window == 1
    order = np.concatenate([narrow.epoch_order(e) for e in range(4)])
    unit_of = np.searchsorted(narrow.stops, order, side="right")
    # neighbours change unit only at window (= unit) boundaries
    assert np.sum(unit_of[1:] != unit_of[:-1]) == 4 * narrow.windows_per_epoch - 1


def test_same_batches_for_any_number_of_workers_and_disjoint_worker_reads(data, tmp_path):
    store, _, domain = data
    log = tmp_path / "reads.txt"
    read_range = store.read_range

    def logged(start, stop, **kw):  # runs in the forked workers too
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {start} {stop}\n")
        return read_range(start, stop, **kw)

    store.read_range = logged
    try:
        serial = make(store, domain, in_memory=False, epochs=1)
        expected = list(serial)
        log.unlink()
        parallel = make(store, domain, in_memory=False, epochs=1, num_workers=2)
        got = list(parallel)
    finally:
        del store.read_range
    assert len(got) == len(expected) > 10
    for x, y in zip(got, expected):
        batches_equal(x, y)
    reads = [tuple(map(int, line.split())) for line in log.read_text().splitlines()]
    by_pid: dict[int, set] = {}
    for pid, a, b in reads:
        by_pid.setdefault(pid, set()).update(range(a, b))
    assert len(by_pid) == 2 and os.getpid() not in by_pid
    sets = list(by_pid.values())
    assert not sets[0] & sets[1] and len(sets[0] | sets[1]) == len(store)
    assert len(reads) == serial._plan.num_units  # each unit read once


@pytest.mark.parametrize("stop_after", [5, 40])  # inside the first window / a later one
def test_resume_mid_epoch_gives_the_same_remaining_batches(data, stop_after):
    store, _, domain = data
    reference = make(store, domain, in_memory=False)
    it = iter(reference)
    total = 3 * len(list(make(store, domain, in_memory=False, epochs=1))) // 2  # into epoch 2
    expected = [next(it) for _ in range(total)]
    assert {b.meta["epoch"] for b in expected} == {0.0, 1.0}

    first = make(store, domain, in_memory=False, num_workers=2 if stop_after > 5 else 0)
    got = []
    for b in first:
        got.append(b)
        if len(got) == stop_after:
            break
    state = json.loads(json.dumps(first.state_dict()))
    assert state["skip"] > 0 and (state["open"] or state["pending"])
    resumed = make(store, domain, in_memory=False)
    resumed.load_state_dict(state)
    it = iter(resumed)
    got += [next(it) for _ in range(total - stop_after)]
    for x, y in zip(got, expected):
        batches_equal(x, y)
    with pytest.raises(ValueError, match="different records or settings"):
        make(store, domain, in_memory=False, buffer_mb=1.0).load_state_dict(state)


def test_chunk_mode_refuses_more_ranks_than_units(data):
    store, _, domain = data
    with pytest.raises(ValueError, match="read unit"):
        make(store, domain, in_memory=False, read="chunks", buffer_mb=1000.0, world_size=64, rank=1)
    # auto falls back to reading records
    assert make(store, domain, in_memory=False, buffer_mb=1000.0, world_size=64, rank=1).read == "records"


def test_direct_chunk_reads_of_a_local_store_equal_zarr_reads(tmp_path, data):
    _, records, _ = data
    write_small_chunks(tmp_path / "s.zarr", records)
    disk = RecordStore(tmp_path / "s.zarr")
    reference = RecordStore(tmp_path / "s.zarr", in_memory=True)
    for a, b in ((0, 1), (3, 250), (600, len(records))):  # inside a chunk, across chunks, the edge chunk
        got = disk.read_range(a, b, ids=False)
        assert all(d.ok for d in disk._direct.values())  # ids int16, values float32 [T, 2], pos int32 [T, 2]
        for i, rec in zip(range(a, b), got):
            want = reference[i]
            assert "id" not in rec and rec["length"] == want["length"]
            for k in ("ids", "values", "pos"):
                np.testing.assert_array_equal(rec[k], want[k])
    # a corrupt chunk file is a one-line error naming the store, the array and the chunk
    chunk = tmp_path / "s.zarr" / "fields" / "ids" / "c" / "2"
    chunk.write_bytes(b"garbage")
    from encoderkit.errors import DataError

    with pytest.raises(DataError, match=r"s\.zarr: cannot read array 'fields/ids' chunk 2") as err:
        RecordStore(tmp_path / "s.zarr").read_range(0, len(records))
    assert "\n" not in str(err.value)
