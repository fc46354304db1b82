"""PackedLoader: coverage across ranks, intact sequences, budgets, windows, exact resume."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from encoderkit.data.loader import PackedLoader, iter_examples
from encoderkit.data.packing import BestFitPacker
from encoderkit.data.store import RecordStore
from encoderkit.domain import window_bounds

from .synthetic_domain import SyntheticDomain, random_records, write_store

MAX_TOKENS, MAX_SEQLEN = 256, 64


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    records = random_records(60, rng, low=1, high=200)
    records.append(random_records(1, rng, low=500, high=501)[0])  # much longer than max_seqlen
    ms = zarr.storage.MemoryStore()
    write_store(ms, records)
    store = RecordStore(ms, in_memory=True)
    return store, records, SyntheticDomain(store.schema, rate=0.3)


def expected_windows(records) -> Counter:
    """(record, start, length) of every window, from the published windowing rule."""
    out = Counter()
    for i, r in enumerate(records):
        for s, e in window_bounds(len(r["ids"]), MAX_SEQLEN, 0):
            out[(i, s, e - s)] += 1
    return out


def seen_windows(batches) -> Counter:
    out = Counter()
    for b in batches:
        lengths = b.seq_lengths().tolist()
        for rec, start, n in zip(b.record.tolist(), b.start.tolist(), lengths):
            out[(rec, start, n)] += 1
    return out


def check_batch(batch, records) -> None:
    cu = batch.cu_seqlens
    assert cu.dtype == torch.int32 and cu[0] == 0 and cu[-1] == batch.num_tokens
    assert batch.num_tokens <= MAX_TOKENS
    assert batch.max_seqlen == int(batch.seq_lengths().max()) <= MAX_SEQLEN
    assert batch.meta["fill"] == batch.num_tokens / MAX_TOKENS
    # every packed sequence is exactly its record's slice: nothing crosses a boundary
    for j, (rec, start) in enumerate(zip(batch.record.tolist(), batch.start.tolist())):
        a, b = int(cu[j]), int(cu[j + 1])
        src = records[rec]
        np.testing.assert_array_equal(batch.positions[a:b].numpy(), src["pos"][start:start + b - a])
        vals = src["values"][start:start + b - a]
        observed = batch.inputs["observed"][a:b].numpy()
        predicted = batch.predict[a:b].numpy()
        # unobserved data is never shown as observed, and never predicted
        assert not (observed & np.isnan(vals)).any()
        assert not (predicted & np.isnan(vals).all(axis=1)).any()
        ids = batch.inputs["ids"][a:b].numpy()
        np.testing.assert_array_equal(ids[~predicted], src["ids"][start:start + b - a][~predicted])
    t = batch.targets["ids"]
    assert t.shape[0] == batch.num_predicted


@pytest.mark.parametrize("world_size", [2, 3])
def test_epoch_covered_exactly_once_across_ranks(data, world_size):
    store, records, domain = data
    batches = []
    for rank in range(world_size):
        loader = PackedLoader(store, domain, max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, seed=7,
                              rank=rank, world_size=world_size, epochs=1, chunk_records=8)
        rank_batches = list(loader)
        ranks_records = {r for b in rank_batches for r in b.record.tolist()}
        batches.append((ranks_records, rank_batches))
        for b in rank_batches:
            check_batch(b, records)
    for i in range(world_size):
        for j in range(i + 1, world_size):
            assert not batches[i][0] & batches[j][0]  # disjoint records
    assert seen_windows([b for _, bs in batches for b in bs]) == expected_windows(records)


def test_long_record_windows_cover_it(data):
    store, records, domain = data
    loader = PackedLoader(store, domain, max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, epochs=1, train=False)
    long_id = len(records) - 1
    covered = np.zeros(len(records[long_id]["ids"]), dtype=int)
    for b in loader:
        assert not b.predict.any()  # evaluation mode: nothing masked
        for j, (rec, start) in enumerate(zip(b.record.tolist(), b.start.tolist())):
            if rec == long_id:
                covered[start:start + int(b.seq_lengths()[j])] += 1
    # window_bounds' last window ends at the last token, so it may overlap its neighbour
    bounds = window_bounds(len(covered), MAX_SEQLEN, 0)
    expected = np.zeros_like(covered)
    for s, e in bounds:
        expected[s:e] += 1
    assert (covered >= 1).all() and np.array_equal(covered, expected)
    assert len(bounds) == 8


def test_shuffle_is_seeded_per_epoch(data):
    store, _, domain = data

    def loader(seed, rank=0, world_size=1, shuffle=None):
        return PackedLoader(store, domain, max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, seed=seed,
                            rank=rank, world_size=world_size, shuffle=shuffle)

    a, b, c = loader(1), loader(1), loader(2)
    assert np.array_equal(a.order(0), b.order(0)) and np.array_equal(a.order(5), b.order(5))
    assert not np.array_equal(a.order(0), a.order(1))
    assert not np.array_equal(a.order(0), c.order(0))
    assert sorted(a.order(1).tolist()) == list(range(61))
    # ranks take a strided share of the same shuffled order
    r0, r1 = loader(1, 0, 2).order(3), loader(1, 1, 2).order(3)
    assert np.array_equal(np.sort(np.concatenate([r0, r1])), np.arange(61))
    assert np.array_equal(r0, a.order(3)[0::2])
    assert np.array_equal(loader(1, shuffle=False).order(4), np.arange(61))


def batches_equal(x, y) -> None:
    for name in ("positions", "cu_seqlens", "predict", "weights", "record", "window", "start"):
        assert torch.equal(getattr(x, name), getattr(y, name)), name
    assert x.max_seqlen == y.max_seqlen
    assert x.inputs.keys() == y.inputs.keys() and x.targets.keys() == y.targets.keys()
    for k in x.inputs:
        assert torch.equal(x.inputs[k], y.inputs[k]), k
    for k in x.targets:
        assert torch.equal(x.targets[k], y.targets[k]), k


def test_resume_with_workers_is_exact(data):
    store, _, domain = data
    kw = dict(max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, seed=3, chunk_records=8, buffer_size=4)
    reference = PackedLoader(store, domain, num_workers=0, **kw)
    it = iter(reference)
    expected = [next(it) for _ in range(45)]  # crosses the first epoch boundary (~31 batches/epoch)
    assert {b.meta["epoch"] for b in expected} == {0.0, 1.0}

    first = PackedLoader(store, domain, num_workers=2, **kw)
    got = []
    for b in first:
        got.append(b)
        if len(got) == 13:
            break
    state = json.loads(json.dumps(first.state_dict()))  # what a checkpoint stores
    assert state["open"] or state["pending"]  # the resume has to rebuild a non-empty packer

    resumed = PackedLoader(store, domain, num_workers=2, **kw)
    resumed.load_state_dict(state)
    it = iter(resumed)
    got += [next(it) for _ in range(45 - 13)]
    for x, y in zip(got, expected):
        batches_equal(x, y)
    assert resumed.stats()["batches"] == 45

    other = PackedLoader(store, domain, num_workers=0, **{**kw, "seed": 4})
    with pytest.raises(ValueError, match="different records or settings"):
        other.load_state_dict(state)


def test_finite_loader_restarts_for_validation(data):
    store, _, domain = data
    loader = PackedLoader(store, domain, max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, seed=11, epochs=1,
                          indices=store.split("validation", 0.3))
    one, two = list(loader), list(loader)
    assert len(one) == len(two) > 0
    for x, y in zip(one, two):
        batches_equal(x, y)
    s = loader.stats()
    # a restarted pass starts its counts afresh
    assert s["tokens"] == sum(b.num_tokens for b in two) and s["batches"] == len(two)
    assert s["fill"] == pytest.approx(s["tokens"] / (s["batches"] * MAX_TOKENS))


def test_zarr_backed_and_in_memory_stores_give_the_same_batches(tmp_path, data):
    _, records, domain = data
    write_store(tmp_path / "s.zarr", records[:20])
    on_disk = RecordStore(tmp_path / "s.zarr")
    assert not on_disk.in_memory
    kw = dict(max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, seed=5, epochs=1)
    lazy = PackedLoader(on_disk, domain, in_memory=False, read="records", **kw)
    auto = PackedLoader(on_disk, domain, **kw)  # small store: loaded into memory once
    assert not lazy.store.in_memory and auto.store.in_memory and auto.store is on_disk.to_memory()
    a, b = list(lazy), list(auto)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        batches_equal(x, y)


def test_iter_examples_matches_records(data):
    store, records, domain = data
    examples = list(iter_examples(store, domain, indices=[3, 60], max_seqlen=MAX_SEQLEN))
    assert [e.record for e in examples[:1]] == [3]
    assert [e.start for e in examples if e.record == 60] == [s for s, _ in window_bounds(500, MAX_SEQLEN, 0)]
    np.testing.assert_array_equal(examples[0].inputs["ids"], records[3]["ids"])
    assert not examples[0].predict.any()


def test_bad_loader_parameters(data):
    store, _, domain = data
    with pytest.raises(ValueError, match="max_seqlen .* must be <= max_tokens"):
        PackedLoader(store, domain, max_tokens=32, max_seqlen=64)
    with pytest.raises(ValueError, match="'indices' parameter"):
        PackedLoader(store, domain, max_tokens=64, max_seqlen=64, indices=[0, 999])
    with pytest.raises(ValueError, match="'rank' parameter"):
        PackedLoader(store, domain, max_tokens=64, max_seqlen=64, rank=2, world_size=2)


def test_best_fit_fill_on_realistic_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 2001, size=20_000)  # genomic-like reads
    budget = 16384
    packer = BestFitPacker(budget, num_open=16)
    bins = []
    for i, n in enumerate(lengths):
        bins += packer.add(i, n)
    full = [b for b in bins]  # the final flush is excluded: it is the stream's tail
    used = [sum(lengths[i] for i in b) for b in full]
    assert max(used) <= budget
    assert sum(used) / (len(full) * budget) >= 0.99
    rest = packer.flush()
    assert sorted(i for b in full + rest for i in b) == list(range(len(lengths)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=1, max_size=300), st.integers(1, 8))
def test_packer_keeps_every_sequence_once_within_budget(lengths, num_open):
    packer = BestFitPacker(64, num_open)
    bins = []
    for i, n in enumerate(lengths):
        bins += packer.add(i, n)
        assert len(packer.bins) <= num_open
    bins += packer.flush()
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 64 for b in bins)
    # best-fit never opens a bin while an open one has room, so no two bins open at the same
    # time are both at most half full: emitted bins are on average more than half full
    if len(bins) > num_open + 1:
        assert sum(lengths) > (len(bins) - num_open - 1) * 32


def test_window_longer_than_max_seqlen_is_an_error(data):
    store, _, _ = data

    class NoWindows(SyntheticDomain):
        def windows(self, example, max_seqlen):
            return [example]  # a broken rule: never cuts

    loader = PackedLoader(store, NoWindows(store.schema), max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, epochs=1)
    msg = r"domain 'synthetic' made a window of \d+ tokens from record \d+, longer than max_seqlen=64"
    with pytest.raises(ValueError, match=msg):
        list(loader)
