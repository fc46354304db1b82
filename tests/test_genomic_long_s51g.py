"""A genomic record longer than memory should allow: windows cut before featurizing
(``GenomicDomain.featurize_windows``, ``domains/genomic/record_windows.py``), taken one at a
time by the loader, ``embed`` and the budgets, and a loader state that stays small.

The reference everywhere is the path every other domain takes, ``windows(featurize(record))``
(``Domain.featurize_windows``): the windows, batches, resumes and embeddings must be the same."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import zarr

from domains.genomic.domain import SCHEMA_FORMAT, GenomicDomain, bundled_sequence
from domains.genomic.tokens import encode_bases
from encoderkit.core import EncoderConfig
from encoderkit.data.loader import PackedLoader
from encoderkit.data.store import RecordStore, StoreWriter
from encoderkit.domain import Domain, LazyWindows, window_starts
from encoderkit.infer.embed import embed_stream
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.train.budget import split_size, train_tokens

from tests.data.test_loader import batches_equal


class Eager(GenomicDomain):
    """The genomic domain through the default hook: the record featurized whole, then cut."""

    def featurize_windows(self, record, max_seqlen, index=-1):
        return Domain.featurize_windows(self, record, max_seqlen, index)


@pytest.fixture
def watched(monkeypatch):
    """The most bases ``GenomicDomain.featurize`` is asked to tokenise at once, from now on
    (patched on the class: a subclass that overrides ``featurize`` gets the default hook)."""
    seen = {"most": 0}
    featurize = GenomicDomain.featurize

    def watching(self, record):
        seen["most"] = max(seen["most"], len(record["ids"]))
        return featurize(self, record)
    monkeypatch.setattr(GenomicDomain, "featurize", watching)
    return seen


def edged_record(n: int, size: int, overlap: int, rng: np.random.Generator) -> dict:
    """``n`` random bases with a run of N and a soft-masked run across every base a window of
    ``size`` tokens (nucleotide: bases) starts or ends at, plus scattered IUPAC codes."""
    codes = rng.integers(0, 4, n).astype(np.uint8)
    codes[rng.integers(0, n, n // 50)] = rng.integers(5, 15, n // 50)  # other IUPAC codes
    soft = np.zeros(n, dtype=bool)
    starts = window_starts(n, size, overlap)
    for edge in np.concatenate([starts, starts + size]):
        codes[max(edge - 2, 0):edge + 1] = 4  # N N N, the edge inside
        soft[max(edge - 4, 0):edge + 3] = True
    return {"ids": codes, "soft": soft}


def dense_record(n: int, rng: np.random.Generator) -> dict:
    """Runs of N (1-3 bases) every ~10 bases and soft-masking that flips every ~7: whatever
    bases k-mer windows start at, runs cross them."""
    codes = rng.integers(0, 4, n).astype(np.uint8)
    for a in range(0, n, 10):
        b = a + int(rng.integers(0, 8))
        codes[b:b + int(rng.integers(1, 4))] = 4
    soft = (np.arange(n) // 7 + rng.integers(0, 2, n) * (np.arange(n) % 13 == 0)) % 2 == 1
    return {"ids": codes, "soft": soft}


def assert_same_windows(domain: GenomicDomain, record: dict, max_seqlen: int) -> LazyWindows | list:
    whole = domain.featurize(record)
    whole.record = 3
    want = domain.windows(whole, max_seqlen)
    got = domain.featurize_windows(record, max_seqlen, 3)
    assert len(got) == len(want)
    for w, (a, b) in enumerate(zip(want, got)):
        assert (a.record, a.window, a.start) == (b.record, b.window, b.start) == (3, w, a.start)
        assert a.positions.dtype == b.positions.dtype and np.array_equal(a.positions, b.positions)
        assert a.fields.keys() == b.fields.keys()
        for k in a.fields:
            assert a.fields[k].dtype == b.fields[k].dtype and np.array_equal(a.fields[k], b.fields[k]), (w, k)
    assert domain.count_tokens(record) == len(whole)
    return got


OPTIONS = [dict(), dict(positions="base"), dict(tokens="kmer", k=6), dict(tokens="kmer", k=3, positions="base"),
           dict(tokens="kmer", k=6, iupac="keep", window=50, window_overlap=7)]


@pytest.mark.parametrize("options", OPTIONS)
def test_windows_equal_those_of_the_whole_record_on_real_bases(options):
    """The bundled E. coli excerpt, with a soft-masked stretch and a run of N added."""
    codes, soft = encode_bases(bundled_sequence(60_000))
    codes, soft = codes.copy(), soft.copy()
    soft[1_000:9_000] = True
    codes[20_000:20_037] = 4
    got = assert_same_windows(GenomicDomain(**options), {"ids": codes, "soft": soft}, 128)
    assert isinstance(got, LazyWindows) and len(got) > 60  # cut before featurizing


@pytest.mark.parametrize("options", OPTIONS)
def test_windows_equal_with_runs_across_every_window_edge(options):
    rng = np.random.default_rng(1)
    domain = GenomicDomain(**options)
    size = min(options.get("window") or 64, 64)
    overlap = options.get("window_overlap", 0)
    record = edged_record(3_001, size, overlap, rng)
    got = assert_same_windows(domain, record, 64)
    if domain.vocab.tokens == "nucleotide":  # the runs of N and soft bases do sit across the edges
        edges = got.bounds[1:, 0]
        assert (record["ids"][edges] == 4).all() and (record["ids"][edges - 1] == 4).all()
        assert record["soft"][edges].all() and record["soft"][edges - 1].all()
    assert_same_windows(domain, dense_record(3_001, rng), 64)
    for n in (0, 1, size - 1, size, size + 1):  # records of one window are featurized whole, as before
        assert_same_windows(domain, dense_record(n, rng), 64)
    record = dense_record(5_000, rng)
    lazy = domain.featurize_windows(record, 64, 0)
    assert [w.window for w in lazy[-3:]] == list(range(len(lazy) - 3, len(lazy)))
    assert lazy[-1].start == lazy.bounds[-1, 0]
    with pytest.raises(IndexError):
        lazy[len(lazy)]


def genomic_store(path, records) -> RecordStore:
    with StoreWriter(path, "genomic", chunk_bytes=4096) as w:
        for i, r in enumerate(records):
            w.append(r, {}, id=f"chr{i}")
        w.finalize({"format": SCHEMA_FORMAT}, {"files": []})
    return RecordStore(path, in_memory=False)


@pytest.fixture(scope="module")
def long_store():
    rng = np.random.default_rng(2)
    records = [dense_record(40_000, rng), dense_record(300, rng), dense_record(9_000, rng)]
    return genomic_store(zarr.storage.MemoryStore(), records)


KW = dict(max_tokens=256, max_seqlen=64, seed=5, buffer_size=4, chunk_records=2)


def take(loader, n):
    out = []
    for b in loader:
        out.append(b)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("read", ["records", "chunks"])
def test_loader_batches_equal_the_whole_record_path_and_never_featurize_it_whole(long_store, read, watched):
    options = dict(tokens="kmer", k=3, mask_rate=0.2)
    want = list(PackedLoader(long_store, Eager(**options), epochs=1, read=read, buffer_mb=0.05,
                             in_memory=False, **KW))
    watched["most"] = 0
    got = list(PackedLoader(long_store, GenomicDomain(**options), epochs=1, read=read, buffer_mb=0.05,
                            in_memory=False, **KW))
    assert len(got) == len(want) > 100
    for x, y in zip(got, want):
        batches_equal(x, y)
    assert 0 < watched["most"] <= 3 * 64  # a window's bases (64 tokens of at most 3), never a whole record


@pytest.mark.parametrize("read,workers", [("records", 0), ("records", 1), ("chunks", 0), ("chunks", 1)])
def test_state_inside_a_long_record_is_small_and_resumes_exactly(long_store, read, workers):
    domain = GenomicDomain()
    kw = dict(KW, read=read, buffer_mb=0.05, in_memory=False)
    it = iter(PackedLoader(long_store, domain, **kw))
    expected = [next(it) for _ in range(60)]
    first = PackedLoader(long_store, domain, **kw)
    got = take(first, 25)
    state = first.state_dict()
    text = json.dumps(state)
    keys = sum(len(b) for b in state["open"] + state["pending"])
    # inside the 40,000-base record (625 windows): the packer's few bins, not its other windows
    assert state["window"] > 0 and keys <= KW["buffer_size"] * KW["max_tokens"] // KW["max_seqlen"] + 4
    assert len(text) < 2_000
    resumed = PackedLoader(long_store, domain, **kw, num_workers=workers)
    resumed.load_state_dict(json.loads(text))
    got += take(resumed, 35)
    for x, y in zip(got, expected):
        batches_equal(x, y)


def test_a_state_written_without_a_window_entry_still_resumes():
    """Before ``window``, a state lay between records: a store of one-window records has only such."""
    rng = np.random.default_rng(3)
    store = genomic_store(zarr.storage.MemoryStore(), [dense_record(int(n), rng) for n in rng.integers(5, 60, 80)])
    domain = GenomicDomain()
    kw = dict(KW, read="records", in_memory=True)
    it = iter(PackedLoader(store, domain, **kw))
    expected = [next(it) for _ in range(40)]
    first = PackedLoader(store, domain, **kw)
    got = take(first, 9)
    state = first.state_dict()
    assert state.pop("window") == 0
    resumed = PackedLoader(store, domain, **kw)
    resumed.load_state_dict(state)
    got += take(resumed, 31)
    for x, y in zip(got, expected):
        batches_equal(x, y)
    with pytest.raises(ValueError, match="'window'"):
        resumed.load_state_dict({**state, "window": -1})


def test_budgets_count_without_featurizing_whole(long_store, watched):
    idx = np.arange(len(long_store))
    want_size = split_size(long_store, Eager(tokens="kmer", k=6), idx, 64)
    want_tokens = sum(len(GenomicDomain(tokens="kmer", k=6).featurize(r)) for r in long_store)
    watched["most"] = 0
    assert split_size(long_store, GenomicDomain(tokens="kmer", k=6), idx, 64) == want_size
    assert train_tokens(long_store, GenomicDomain(tokens="kmer", k=6), idx) == want_tokens
    assert watched["most"] <= 300  # the one record shorter than a window


def test_embed_of_a_long_record_equals_the_whole_record_path(long_store, watched):
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, local_window=8,
                           global_every=2, backend="sdpa")
    torch.manual_seed(0)
    model = MaskedEncoderModel(GenomicDomain(), config)
    records = [(i, f"chr{i}", long_store[i]) for i in (2, 1)]
    for pooling in ("mean", "mean_std"):
        want = list(embed_stream(model, Eager(), records, pooling=pooling, max_tokens=512, max_seqlen=64))
        watched["most"] = 0
        got = list(embed_stream(model, GenomicDomain(), records, pooling=pooling, max_tokens=512, max_seqlen=64))
        assert [(i, r) for i, r, _ in got] == [(i, r) for i, r, _ in want] == [(2, "chr2"), (1, "chr1")]
        for (_, _, a), (_, _, b) in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert watched["most"] <= 300
