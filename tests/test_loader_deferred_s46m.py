"""PackedLoader masks a training example when its micro-batch is collated, not when the packer
first sees it (encoderkit/data/loader.py, ``_Deferred``).

The best-fit packer holds ``buffer_size`` micro-batches open before the first leaves: with
3-token records under 64 tokens a bin takes 21 of them, so ~340 records were masked before
batch 1 (a 1-step pretrain on a 20-row table masked ~44k rows). The batches must stay those of
masking at once: the reference here masks every example at once (``iter_examples``, the
loader's per-example seeding), packs them with ``BestFitPacker`` in the loader's record order
and collates each bin.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from encoderkit.data.collate import collate
from encoderkit.data.loader import PackedLoader, iter_examples
from encoderkit.data.packing import BestFitPacker
from encoderkit.data.store import RecordStore, StoreWriter
from encoderkit.domain import ContractError, Example, MaskedExample

from data.synthetic_domain import SyntheticDomain, make_record, write_store

MAX_TOKENS, MAX_SEQLEN, BUFFER = 64, 16, 16


class CountingDomain(SyntheticDomain):
    """Counts the examples it masks."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.masked = 0

    def mask(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        self.masked += 1
        return super().mask(example, rng)


class CroppingDomain(CountingDomain):
    """Augments by dropping 0-2 leading tokens (a length change, drawn from the example's
    generator before its mask is)."""

    def augment(self, example: Example, rng: np.random.Generator) -> Example:
        k = min(int(rng.integers(0, 3)), len(example) - 1)
        return Example(fields={n: v[k:] for n, v in example.fields.items()}, positions=example.positions[k:],
                       record=example.record, window=example.window, start=example.start,
                       context=example.context)


class ShrinkingDomain(SyntheticDomain):
    """A masker that drops the last token: against the masker contract."""

    def mask(self, example: Example, rng: np.random.Generator) -> MaskedExample:
        m = super().mask(example, rng)
        keep = slice(0, len(m) - 1)
        return MaskedExample(inputs={n: v[keep] for n, v in m.inputs.items()}, positions=m.positions[keep],
                             targets=m.targets, predict=m.predict[keep])


def _store(lengths, in_memory: bool = True) -> RecordStore:
    rng = np.random.default_rng(1)
    ms = zarr.storage.MemoryStore()
    records = [make_record(rng.integers(4, 32, size=int(n))) for n in lengths]
    if in_memory:
        write_store(ms, records)
    else:  # small token chunks: several read units for the chunk-aware order
        with StoreWriter(ms, "synthetic", chunk_bytes=256) as w:
            for i, r in enumerate(records):
                w.append(r, {"length": len(r["ids"])}, id=f"rec{i}")
            w.finalize({"vocab": 32}, {"files": []})
    return RecordStore(ms, in_memory=in_memory)


@pytest.fixture(scope="module")
def tiny():
    """Records of 3 tokens (the rows of a 3-column table)."""
    return _store([3] * 50)


@pytest.fixture(scope="module")
def mixed():
    """Lengths 1..40 (some cut into windows of MAX_SEQLEN)."""
    return _store(np.random.default_rng(2).integers(1, 41, size=80))


@pytest.fixture(scope="module")
def zarr_backed():
    """Read from zarr in the chunk-aware order (``read="chunks"``)."""
    return _store(np.random.default_rng(2).integers(1, 41, size=80), in_memory=False)


def reference(store, domain, loader: PackedLoader, epochs: int) -> list:
    """Every example masked at once, packed in the loader's order, the open bins flushed at
    the end of the last epoch."""
    packer: BestFitPacker = BestFitPacker(MAX_TOKENS, BUFFER)
    bins = []
    for epoch in range(epochs):
        for ex in iter_examples(store, domain, indices=loader.order(epoch), max_seqlen=MAX_SEQLEN,
                                train=True, seed=loader.seed, epoch=epoch):
            bins += packer.add(ex, len(ex))
    bins += packer.flush()
    return [collate(b) for b in bins]


def assert_same(a, b) -> None:
    for name in ("positions", "cu_seqlens", "predict", "record", "window", "start"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    for group in ("inputs", "targets"):
        x, y = getattr(a, group), getattr(b, group)
        assert sorted(x) == sorted(y)
        for k in x:
            assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), (group, k)
    assert (a.weights is None) == (b.weights is None)
    if a.weights is not None:
        assert torch.equal(a.weights, b.weights)


def _loader(store, domain, **kw) -> PackedLoader:
    return PackedLoader(store, domain, max_tokens=MAX_TOKENS, max_seqlen=MAX_SEQLEN, seed=3,
                        buffer_size=BUFFER, chunk_records=8, **kw)


@pytest.mark.parametrize("domain_class", [CountingDomain, CroppingDomain])
@pytest.mark.parametrize("fixture", ["tiny", "mixed", "zarr_backed"])
def test_batches_are_those_of_masking_at_once(request, fixture, domain_class):
    store = request.getfixturevalue(fixture)
    domain = domain_class(store.schema, rate=0.3)
    kw = {"in_memory": False, "read": "chunks", "buffer_mb": 0.002} if fixture == "zarr_backed" else {}
    loader = _loader(store, domain, epochs=3, **kw)
    assert loader.read == ("chunks" if kw else "records")
    got = list(loader)
    want = reference(store, domain_class(store.schema, rate=0.3), loader, epochs=3)
    assert len(got) == len(want) > 3
    for a, b in zip(got, want):
        assert_same(a, b)


def test_only_the_examples_of_yielded_batches_are_masked(tiny):
    domain = CountingDomain(tiny.schema, rate=0.3)
    loader = _loader(tiny, domain)  # forever
    it = iter(loader)
    first = next(it)
    assert first.num_sequences == 21 and first.num_tokens == 63  # 21 rows of 3 tokens
    # the packer has seen 16 full bins and a row of the 17th (337 rows, ~7 epochs of 50) but
    # masked only the rows of the bin that left
    assert domain.masked == 21
    for _ in range(4):
        next(it)
    assert domain.masked == loader.stats()["sequences"] == 5 * 21


def test_resume_masks_the_waiting_examples_only_when_taken(tiny):
    whole = list(zip(range(10), iter(_loader(tiny, CountingDomain(tiny.schema, rate=0.3)))))
    first = _loader(tiny, CountingDomain(tiny.schema, rate=0.3))
    it = iter(first)
    for _ in range(5):
        next(it)
    state = first.state_dict()
    assert sum(len(b) for b in state["open"] + state["pending"]) > 300  # rows waiting in the packer
    domain = CountingDomain(tiny.schema, rate=0.3)
    resumed = _loader(tiny, domain)
    resumed.load_state_dict(state)
    it = iter(resumed)
    for (_, want), got in zip(whole[5:], it):
        assert_same(got, want)
        if resumed.stats()["batches"] == 10:
            break
    assert domain.masked == 5 * 21


def test_workers_mask_at_once_and_give_the_same_batches(mixed):
    serial = list(_loader(mixed, CountingDomain(mixed.schema, rate=0.3), epochs=1))
    workers = list(_loader(mixed, CountingDomain(mixed.schema, rate=0.3), epochs=1, num_workers=1))
    assert len(serial) == len(workers)
    for a, b in zip(serial, workers):
        assert_same(a, b)


def test_a_masker_that_changes_the_token_count_is_refused(tiny):
    with pytest.raises(ContractError, match=r"turned the 3 tokens of record \d+ \(window 0\) into 2"):
        next(iter(_loader(tiny, ShrinkingDomain(tiny.schema, rate=0.3))))
