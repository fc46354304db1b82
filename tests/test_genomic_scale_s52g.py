"""A genomic record larger than memory, the three leftovers of session 51:

1. a zarr-backed store gave a chromosome's raw bases whole before windowing: a domain that
   slices records (``reads_field_slices``) now gets them as ``FieldView`` s, read a window's
   store chunks at a time;
2. a DataLoader worker built every window of a record before sending any: it now sends them a
   micro-batch of tokens at a time, through a loader of its own;
3. ``embed``'s bar counted records (0/1 for minutes on a genome): for records longer than a
   window it counts their stored tokens, moved window by window.

References: the in-memory store (whose slices are numpy views: no ``FieldView``), the whole
record's ``windows(featurize(record))``, the in-process loader (``num_workers=0``), and
digests of the batches and positions the code before this change gave (``DIGESTS``)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import zarr

import encoderkit.data.loader as loader_module
import encoderkit.data.producer as producer_module
import encoderkit.infer.pretrained as pretrained_module
from domains.genomic.domain import GenomicDomain
from encoderkit.core import EncoderConfig
from encoderkit.data.loader import PackedLoader
from encoderkit.data.store import RecordStore
from encoderkit.data.store_views import FieldView
from encoderkit.domain import LazyWindows
from encoderkit.infer.pretrained import Pretrained
from encoderkit.modeling import MaskedEncoderModel
from tests.data.test_loader import batches_equal
from tests.test_genomic_long_s51g import assert_same_windows, dense_record, genomic_store

CHUNK = 4096  # tokens per store chunk of genomic_store (chunk_bytes=4096, uint8 bases)
KW = dict(max_tokens=256, max_seqlen=64, seed=5, buffer_size=3, chunk_records=3)


def small_store() -> RecordStore:
    rng = np.random.default_rng(7)
    records = [dense_record(int(n), rng) for n in (3000, 40, 900, 5, 2500, 70, 60, 1200, 10, 30)]
    return genomic_store(zarr.storage.MemoryStore(), records)


@pytest.fixture(scope="module")
def long_store():
    rng = np.random.default_rng(2)
    records = [dense_record(300, rng), dense_record(30_000, rng), dense_record(700, rng)]
    return genomic_store(zarr.storage.MemoryStore(), records)


@pytest.fixture
def reads(monkeypatch):
    """The token ranges a store reads from now on (``RecordStore._read_tokens``)."""
    seen: list[int] = []
    read = RecordStore._read_tokens

    def watching(self, name, a, b):
        seen.append(b - a)
        return read(self, name, a, b)
    monkeypatch.setattr(RecordStore, "_read_tokens", watching)
    return seen


def test_views_read_what_the_array_holds_a_few_chunks_at_a_time(long_store, reads):
    whole = long_store.to_memory()[1]
    got = long_store.read_range(0, 3, views_above=1000)
    assert isinstance(got[1]["ids"], FieldView) and isinstance(got[0]["ids"], np.ndarray)
    assert [r["id"] for r in got] == ["chr0", "chr1", "chr2"]
    assert np.array_equal(got[0]["ids"], long_store[0]["ids"]) and np.array_equal(got[2]["soft"], long_store[2]["soft"])
    view = got[1]["ids"]
    assert len(view) == view.shape[0] == 30_000 and view.dtype == whole["ids"].dtype and view.ndim == 1
    reads.clear()
    for a in range(0, 30_000, 1000):  # windows one after another: each chunk read about once
        assert np.array_equal(view[a:a + 1000], whole["ids"][a:a + 1000])
    assert max(reads) <= 2 * CHUNK and sum(reads) <= 30_000 + 8 * CHUNK
    for key in (slice(-5, None), slice(29_990, 40_000), slice(7, 3), slice(1, 20, 3), 5, -1, np.int64(12)):
        assert np.array_equal(view[key], whole["ids"][key]), key
    assert np.array_equal(np.asarray(got[1]["soft"], dtype=bool), whole["soft"])
    with pytest.raises(IndexError):
        view[30_000]
    many = long_store.read_many([1, 0], views_above=1000)  # one record alone, too
    assert isinstance(many[0]["ids"], FieldView) and many[1]["id"] == "chr0"
    assert all(isinstance(v, np.ndarray) for k, v in long_store.to_memory().read_range(0, 3, views_above=1000)[1].items()
               if k != "id")  # a loaded store's slices are views already


@pytest.mark.parametrize("options", [dict(), dict(tokens="kmer", k=6), dict(tokens="kmer", k=3, window_overlap=9)])
def test_windows_of_a_viewed_record_equal_those_of_the_whole_record(long_store, options, monkeypatch, reads):
    monkeypatch.setattr("domains.genomic.record_windows.BLOCK", 5000)  # the k-mer scan in blocks too
    record = long_store.read_many([1], views_above=1000)[0]
    reads.clear()
    got = assert_same_windows(GenomicDomain(**options), record, 64)
    assert isinstance(got, LazyWindows)
    whole = long_store.to_memory()[1]
    assert_same_windows(GenomicDomain(**options), whole, 64)
    reads.clear()
    windows = GenomicDomain(**options).featurize_windows(record, 64, 3)
    [windows[w] for w in range(len(windows))]
    assert 0 < max(reads) <= 5000 + 2 * CHUNK  # the chunks of a scanned block or a window, never the record


def digest(loader: PackedLoader, states: bool) -> tuple[int, str]:
    """The batches (and after each, the loader's position and packer keys)."""
    h, n = hashlib.sha256(), 0
    for b in loader:
        n += 1
        for name in ("positions", "cu_seqlens", "predict", "record", "window", "start"):
            h.update(getattr(b, name).numpy().tobytes())
        for d in (b.inputs, b.targets):
            for k in sorted(d):
                h.update(k.encode())
                h.update(d[k].numpy().tobytes())
        if states:
            s = loader.state_dict()
            h.update(json.dumps([s["next_chunk"], s["skip"], s["window"], s["open"], s["pending"]]).encode())
    return n, h.hexdigest()[:16]


# (read, options) -> {workers: digest with positions}, digest of the batches alone: what the
# code before this change gave (a worktree of 638cd99, /work/scratch/s52/g/digest.py)
KMER = dict(tokens="kmer", k=3, window_overlap=5)
DIGESTS = {
    ("records", "nucleotide"): ({0: (63, "e16fab12b7efe677"), 2: (63, "349534ed07bc0cde")}, (63, "0f64245d5cc3abe7")),
    ("records", "kmer"): ({0: (36, "b8ad677ea36acd97"), 2: (36, "fd5302e2bf6e602d")}, (36, "d37cf5927e3c80c1")),
    ("chunks", "nucleotide"): ({0: (63, "11a3bc2f7306dbbe"), 2: (63, "11a3bc2f7306dbbe")}, (63, "9647fb347eb20e3e")),
    ("chunks", "kmer"): ({0: (36, "64095a2b7c96e7d1"), 2: (36, "2422275af2cce014")}, (36, "280e7c7eecddf097")),
}


@pytest.mark.parametrize("read", ["records", "chunks"])
def test_batches_and_positions_with_workers_are_those_before(read, monkeypatch):
    """Workers 0 and 2 give the batches of before (and each its positions of before), with a
    store's long records as views (here anything over 500 bases) or read whole."""
    store = small_store()
    for kind, options in (("nucleotide", {}), ("kmer", KMER)):
        states, batches = DIGESTS[(read, kind)]
        for workers, views in ((0, 500), (2, 500), (2, None)):
            monkeypatch.setattr(producer_module, "VIEW_TOKENS", views or 1 << 22)
            make = lambda: PackedLoader(store, GenomicDomain(**options, mask_rate=0.2), epochs=2, read=read,  # noqa: E731
                                        buffer_mb=0.02, in_memory=False, num_workers=workers, **KW)
            assert digest(make(), states=True) == states[workers], (kind, workers, views)
            if workers == 2 and views is None:
                assert digest(make(), states=False) == batches


class InProcess:
    """A DataLoader stand-in that runs its dataset here, lazily, so a test can see how much a
    "worker" made before the main process took its first batch."""

    def __init__(self, dataset, **kwargs) -> None:
        self.dataset = dataset

    def __iter__(self):
        return iter(self.dataset)


@pytest.mark.parametrize("read", ["records", "chunks"])
def test_a_worker_sends_a_long_record_a_few_windows_at_a_time(long_store, read, monkeypatch, reads):
    monkeypatch.setattr(loader_module, "DataLoader", InProcess)
    monkeypatch.setattr(producer_module, "VIEW_TOKENS", 1000)
    made = {"windows": 0}
    featurize = GenomicDomain.featurize

    def counting(self, record):
        made["windows"] += 1
        return featurize(self, record)
    monkeypatch.setattr(GenomicDomain, "featurize", counting)
    kw = dict(KW, read=read, buffer_mb=0.05, in_memory=False, epochs=1, shuffle=False)
    reference = list(PackedLoader(long_store, GenomicDomain(), **kw))
    reads.clear()
    made["windows"] = 0
    loader = PackedLoader(long_store, GenomicDomain(), num_workers=2, **kw)
    batches = iter(loader)
    first = next(batches)
    # the 30,000-base record (469 windows) is the second: its first windows, not all of them
    assert made["windows"] < 100
    got = [first, *batches]
    assert len(got) == len(reference) > 100
    for x, y in zip(got, reference):
        batches_equal(x, y)
    assert max(reads) <= 2 * CHUNK  # nor were its bases read whole


def tiny_model(domain: GenomicDomain) -> tuple[MaskedEncoderModel, EncoderConfig]:
    config = EncoderConfig(hidden_size=32, num_heads=2, num_layers=2, intermediate_size=48, local_window=8,
                           global_every=2, backend="sdpa")
    torch.manual_seed(0)
    return MaskedEncoderModel(domain, config), config


class Bar:
    """A tqdm stand-in: its total and unit, and each update with the count at that moment."""

    def __init__(self, **kwargs) -> None:
        self.total, self.unit, self.n, self.updates, self.postfix = kwargs["total"], kwargs["unit"], 0, [], ""
        self.closed = False

    def update(self, k: int) -> None:
        self.n += k
        self.updates.append(self.n)

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        self.postfix = s

    def close(self) -> None:
        self.closed = True


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
@pytest.mark.parametrize("options", [dict(), dict(tokens="kmer", k=6, rc_embed=True)])
def test_embed_of_a_viewed_store_is_the_same_and_its_bar_counts_tokens(long_store, options, monkeypatch, reads):
    model, config = tiny_model(GenomicDomain(**options))
    bars: list[Bar] = []
    monkeypatch.setattr(pretrained_module, "log_aware_bar", lambda **kw: bars.append(Bar(**kw)) or bars[-1])
    monkeypatch.setattr(pretrained_module, "VIEW_TOKENS", 1000)
    pretrained = Pretrained(model, GenomicDomain(**options), config, max_seqlen=128, max_tokens=512)
    whole = [dict(r) for r in long_store.to_memory()]  # records held whole: no views
    reads.clear()
    for pooling in ("mean",) if options.get("rc_embed") else ("mean", "mean_std"):
        got = pretrained.embed(long_store, pooling=pooling, progress=True)
        assert np.array_equal(got, pretrained.embed(whole, pooling=pooling, progress=True))
    if not options.get("rc_embed"):  # (a reverse complement needs the record whole)
        assert max(reads) <= 2 * CHUNK
    bar = bars[0]
    stored = int(long_store.lengths.sum()) * (2 if options.get("rc_embed") else 1)
    assert bar.unit == "tok" and bar.total == bar.n == stored and all(b.closed for b in bars)
    # the 30,000-base record moved it window by window (a bar of records: one update, at its end)
    inside = [n for n in bar.updates if 300 < n < 300 + 30_000]
    assert len(set(inside)) > 100
    assert bars[1].unit == "tok" and bars[1].n == stored  # records in memory: their longest array
    short = Pretrained(model, GenomicDomain(**options), config, max_seqlen=64_000)
    short.embed(long_store, progress=True)
    assert bars[-1].unit == "rec" and bars[-1].n == 3  # no record longer than a window: records
