"""``ingest ... append=true`` without copying the store (session 45): the writer starts from the
old store (``StoreWriter.start_from``), hard-linking its whole token chunks instead of decoding
and re-appending every record, so the n-th append of equal parts no longer costs n times the
first. The reference is the copying path (``start_from`` refused, ``copy_records``): the stores
both leave must be the same file for file, byte for byte (every array, its zarr metadata and
chunks), the attribute block equal but for timestamps. Also: the old store is never written
(its files, kept aside by hard link, keep their bytes and mtimes), a failed append leaves it
as it was with no temporaries, a replaced store is noticed, and where hard links are
impossible (another file system) or the layout is not the writer's, the records are copied."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit import registry
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore, StoreError, StoreWriter
from encoderkit.errors import DataError

from .synthetic_domain import SyntheticDomain, make_record

REAL_LINK = os.link
REAL_START = StoreWriter.start_from


@pytest.fixture(autouse=True)
def synthetic_registered(monkeypatch):
    monkeypatch.setitem(registry._local, SyntheticDomain.name, SyntheticDomain)


# ----------------------------------------------------------------------------- helpers
def strip_times(value):
    if isinstance(value, dict):
        return {k: strip_times(v) for k, v in value.items() if k != "created_unix"}
    if isinstance(value, list):
        return [strip_times(v) for v in value]
    return value


def tree(root: Path) -> dict[str, object]:
    """Every file of a store: its bytes (the root's attribute block without timestamps)."""
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            out[rel] = strip_times(json.loads(path.read_bytes())) if rel == "zarr.json" else path.read_bytes()
    return out


def fingerprint(root: Path) -> dict[str, tuple[str, int, int]]:
    """sha256, size and mtime of every file: a store left untouched keeps all three."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                      st.st_size, st.st_mtime_ns)
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


def build(domain: str, parts: list[str], out: Path, monkeypatch, linked: bool, **options) -> list[bool]:
    """Ingest ``parts[0]``, then append the others one by one (``linked``: the linking path,
    else the copying one); return what ``start_from`` answered at each append."""
    answers: list[bool] = []

    def spy(self, base):
        answers.append(REAL_START(self, base) if linked else False)
        return answers[-1]

    with monkeypatch.context() as m:
        m.setattr(StoreWriter, "start_from", spy)
        ingest(domain, parts[0], str(out), progress=False, verbose=False, **options)
        for part in parts[1:]:
            ingest(domain, part, str(out), progress=False, verbose=False, append=True, **options)
    return answers


def assert_same_as_copying(domain, parts, tmp_path, monkeypatch, **options) -> Path:
    fast, slow = tmp_path / "fast.zarr", tmp_path / "slow.zarr"
    assert build(domain, parts, fast, monkeypatch, linked=True, **options) == [True] * (len(parts) - 1)
    build(domain, parts, slow, monkeypatch, linked=False, **options)
    a, b = tree(fast), tree(slow)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name
    sa, sb = RecordStore(fast), RecordStore(slow)
    assert len(sa) == len(sb) and sa.num_tokens == sb.num_tokens
    assert leftovers(tmp_path) == []
    return fast


def chunk_files(store: Path, field: str) -> list[Path]:
    return sorted(p for p in (store / "fields" / field / "c").rglob("*") if p.is_file())


# ----------------------------------------------------------------------------- data
def table(path: Path, rows: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{j}": rng.normal(size=rows).round(3) for j in range(6)})
    frame.to_csv(path, index=False)  # numbers only: every chunk of the 'cat' field is zeros
    return str(path)


def fasta(path: Path, sizes: list[int], seed: int, soft: bool = False) -> str:
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for j, n in enumerate(sizes):
            seq = "".join(rng.choice(list("ACGTacgt" if soft else "ACGT"), size=n))
            f.write(f">{path.stem}_{j}\n{seq}\n")
    return str(path)


def series(path: Path, rows: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, 2)).cumsum(axis=0).round(4)
    values[rng.random(values.shape) < 0.02] = np.nan
    pd.DataFrame({"time": np.arange(rows), "u": values[:, 0], "v": values[:, 1]}).to_csv(path, index=False)
    return str(path)


def lines(path: Path, lengths: list[int], seed: int) -> str:
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for j, n in enumerate(lengths):
            f.write(f"{path.stem}r{j} " + " ".join(map(str, rng.integers(4, 32, size=n))) + "\n")
    return str(path)


# ----------------------------------------------------------------------------- the same store as copying
@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_tabular_appends_equal_the_copying_path(tmp_path, monkeypatch):
    # 6 tokens a row, 65,536 a chunk: 12,000 rows end in a partial chunk, 50 rows are less
    # than one chunk, the 'observed' field (262,144 a chunk) stays in one partial chunk
    parts = [table(tmp_path / "a.csv", 12_000, 0), table(tmp_path / "b.csv", 12_000, 1),
             table(tmp_path / "c.csv", 50, 2), table(tmp_path / "d.csv", 9_000, 3)]
    fast = assert_same_as_copying("tabular", parts, tmp_path, monkeypatch)
    store = RecordStore(fast)
    assert store.num_tokens == 6 * 33_050 and store.token_chunks["num"] == 65_536
    assert not chunk_files(fast, "cat")  # chunks of fill values are never written, nor linked
    assert len(chunk_files(fast, "num")) == 4


def test_genomic_appends_equal_the_copying_path(tmp_path, monkeypatch):
    # 262,144 bases a chunk: the first part ends in a partial chunk, the second is smaller than
    # one chunk; the 'soft' field is all False (no chunk file) until the last part
    parts = [fasta(tmp_path / "a.fa", [150_000, 130_000, 7], 0), fasta(tmp_path / "b.fa", [900], 1),
             fasta(tmp_path / "c.fa", [300_000], 2), fasta(tmp_path / "d.fa", [40_000, 3_000], 3, soft=True)]
    fast = assert_same_as_copying("genomic", parts, tmp_path, monkeypatch)
    store = RecordStore(fast)
    assert store.schema["bases"] == store.num_tokens == 623_907
    assert [p.name for p in chunk_files(fast, "soft")] == ["2"]


def test_timeseries_appends_equal_the_copying_path(tmp_path, monkeypatch):
    parts = [series(tmp_path / "a.csv", 40_000, 0), series(tmp_path / "b.csv", 60, 1),
             series(tmp_path / "c.csv", 30_000, 2)]
    fast = assert_same_as_copying("timeseries", parts, tmp_path, monkeypatch, time_column="time")
    assert RecordStore(fast).token_chunks["values"] == 65_536 and len(chunk_files(fast, "values")) == 3


def test_two_dimensional_fields_and_a_store_ending_on_a_chunk_boundary(tmp_path, monkeypatch):
    # synthetic: ids int16 (131,072 a chunk), values and pos [L, 2] (32,768 a chunk): the
    # first part holds exactly 131,072 tokens, so no field has a partial last chunk
    parts = [lines(tmp_path / "a.txt", [65_536, 32_768, 32_768], 0), lines(tmp_path / "b.txt", [5, 300], 1),
             lines(tmp_path / "c.txt", [40_000, 1], 2)]
    fast = assert_same_as_copying("synthetic", parts, tmp_path, monkeypatch)
    store = RecordStore(fast)
    assert store.token_chunks == {"ids": 131_072, "values": 32_768, "pos": 32_768}
    np.testing.assert_array_equal(store[4]["values"], make_record(store[4]["ids"])["values"])


# ----------------------------------------------------------------------------- the old store is never written
def write_in_place(path: Path, value, start: int | None = None, exclusive: bool = False) -> int:
    """zarr's file write as zarr 3.0 did it: into the file itself, not a temporary renamed
    over it (3.1), so a write into a hard-linked chunk would change the old store too.
    ``start`` (zarr 3.0's signature, the declared floor): a write at that offset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if start is not None:
        with open(path, "r+b") as f:
            f.seek(start)
            return f.write(value.as_buffer_like())
    with open(path, "xb" if exclusive else "wb") as f:
        return f.write(value.as_buffer_like())


def test_an_append_never_writes_the_old_stores_files(tmp_path, monkeypatch):
    from zarr.storage import _local

    monkeypatch.setattr(_local, "_put", write_in_place)
    out = tmp_path / "s.zarr"
    ingest("genomic", fasta(tmp_path / "a.fa", [600_000], 0), str(out), progress=False, verbose=False)
    kept = tmp_path / "kept"
    for path in out.rglob("*"):  # the old store's inodes, kept aside by hard link
        if path.is_file():
            (kept / path.relative_to(out)).parent.mkdir(parents=True, exist_ok=True)
            os.link(path, kept / path.relative_to(out))
    before = fingerprint(kept)
    ingest("genomic", fasta(tmp_path / "b.fa", [300_000], 1), str(out), progress=False, verbose=False, append=True)
    ingest("genomic", fasta(tmp_path / "c.fa", [300_000], 2), str(out), progress=False, verbose=False, append=True)
    assert fingerprint(kept) == before
    # the two whole chunks are the old files themselves; the old partial one was written anew
    for k in ("0", "1"):
        assert os.stat(out / "fields/ids/c" / k).st_ino == os.stat(kept / "fields/ids/c" / k).st_ino
    assert os.stat(out / "fields/ids/c/2").st_ino != os.stat(kept / "fields/ids/c/2").st_ino
    assert RecordStore(out).num_tokens == 1_200_000


def test_a_bad_file_in_the_appended_part_leaves_the_store_as_it_was(tmp_path):
    out = tmp_path / "s.zarr"
    ingest("genomic", fasta(tmp_path / "a.fa", [300_000, 5], 0), str(out), progress=False, verbose=False)
    before = fingerprint(out)
    bad = tmp_path / "z.fa"
    bad.write_text("this is not FASTA\n")
    with pytest.raises(DataError):
        ingest("genomic", [fasta(tmp_path / "b.fa", [300_000], 1), str(bad)], str(out), progress=False,
               verbose=False, append=True)
    assert fingerprint(out) == before and leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    from zarr.storage import LocalStore

    out = tmp_path / "s.zarr"
    ingest("synthetic", lines(tmp_path / "a.txt", [70_000, 900], 0), str(out), progress=False, verbose=False)
    before = fingerprint(out)
    real_set = LocalStore.set

    async def full_disk(self, key, value):
        if key.startswith("offsets/"):  # after the tokens: the disk fills while finishing
            raise OSError(errno.ENOSPC, "No space left on device")
        return await real_set(self, key, value)

    part = lines(tmp_path / "b.txt", [50_000], 1)
    with monkeypatch.context() as m, pytest.raises(StoreError, match="cannot write the store: No space left"):
        m.setattr(LocalStore, "set", full_disk)
        ingest("synthetic", part, str(out), progress=False, verbose=False, append=True)
    assert fingerprint(out) == before and leftovers(tmp_path) == []
    assert RecordStore(out).num_tokens == 70_900


def test_a_store_replaced_meanwhile_is_not_overwritten(tmp_path):
    out = tmp_path / "s.zarr"
    ingest("synthetic", lines(tmp_path / "a.txt", [40_000], 0), str(out), progress=False, verbose=False)
    ingest("synthetic", lines(tmp_path / "b.txt", [10], 1), str(tmp_path / "theirs.zarr"), progress=False,
           verbose=False)

    def replace() -> None:  # another process's append renames its store over the path
        shutil.copytree(tmp_path / "theirs.zarr", tmp_path / "next.zarr")
        shutil.rmtree(out)
        os.replace(tmp_path / "next.zarr", out)

    # replaced while this append ran: its finalize writes nothing
    with pytest.raises(StoreError, match="written by another process"):
        with StoreWriter(out, "synthetic", overwrite=True) as writer:
            assert writer.start_from(RecordStore(out))
            writer.append(make_record(np.arange(4, 20)), {"length": 16}, id="new")
            replace()
            writer.finalize({"vocab": 32}, {})
    assert RecordStore(out).num_tokens == 10 and leftovers(tmp_path) == []
    # replaced between opening the old store and starting from it: refused at once
    old = RecordStore(out)
    replace()
    with pytest.raises(StoreError, match="written by another process"):
        with StoreWriter(out, "synthetic", overwrite=True) as writer:
            writer.start_from(old)
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- where linking is impossible
@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM])
def test_without_hard_links_the_records_are_copied(tmp_path, monkeypatch, capsys, code):
    calls = []

    def no_links(src, dst, *args, **kwargs):
        if "/fields/" in str(src) and "/c/" in str(src):  # a chunk file (not zarr's own renames)
            calls.append(src)
            if len(calls) > 1:  # the first field's first chunk linked, then the file system refuses
                raise OSError(code, os.strerror(code))
        return REAL_LINK(src, dst, *args, **kwargs)

    parts = [lines(tmp_path / "a.txt", [70_000, 20_000], 0), lines(tmp_path / "b.txt", [3_000], 1)]
    build("synthetic", parts, tmp_path / "slow.zarr", monkeypatch, linked=False)
    out = tmp_path / "s.zarr"
    ingest("synthetic", parts[0], str(out), progress=False, verbose=False)
    monkeypatch.setattr(os, "link", no_links)
    ingest("synthetic", parts[1], str(out), progress=False, verbose=True, append=True)
    assert "copied: no hard links" in capsys.readouterr().out and len(calls) == 2
    assert tree(out) == tree(tmp_path / "slow.zarr")
    assert leftovers(tmp_path) == []


def test_a_store_of_another_layout_is_copied(tmp_path, monkeypatch):
    # written with smaller chunks than an ingest writes: the copying append re-chunks it, and
    # so the linking one must not keep its chunks
    out, ref = tmp_path / "s.zarr", tmp_path / "ref.zarr"
    for path in (out, ref):
        with StoreWriter(path, "synthetic", chunk_bytes=4096) as w:
            for i, n in enumerate([3_000, 500]):
                w.append(make_record(np.arange(n) % 28 + 4), {"length": n}, id=f"r{i}")
            w.finalize({"vocab": 32}, {"files": []})
    part = lines(tmp_path / "b.txt", [2_000], 1)
    with StoreWriter(out, "synthetic", overwrite=True) as w:
        assert not w.start_from(RecordStore(out))
        assert "layout" in w.copy_reason and len(w) == 0
        w.abort()
    ingest("synthetic", part, str(out), progress=False, verbose=False, append=True)
    with monkeypatch.context() as m:
        m.setattr(StoreWriter, "start_from", lambda self, base: False)
        ingest("synthetic", part, str(ref), progress=False, verbose=False, append=True)
    assert tree(out) == tree(ref)
    assert RecordStore(out).token_chunks["ids"] == 131_072  # re-chunked as an ingest writes


# ----------------------------------------------------------------------------- meta as the copying path has it
@pytest.mark.parametrize("base, values", [
    (np.array([1, 2], dtype=np.int32), [3, 4]),  # python ints promote int32 to int64
    (np.array([1, 2], dtype=np.int32), [np.int32(3)]),
    (np.array([0.5], dtype=np.float32), [1.5]),
    (np.array([True, False]), [1]),
    (np.array([1, 2], dtype=np.uint64), [np.int64(3)]),
    (np.array(["a", "bb"]), ["ccc"]),
    (np.array([1, 2]), ["x"]),  # kinds that do not concatenate: numbers become strings
    (np.array([[1.0, 2.0]], dtype=np.float32), [np.array([3, 4], dtype=np.int16)]),
])
def test_meta_of_old_and_new_records_is_what_the_copying_path_builds(base, values):
    # the production path of an append (store_columns.write_meta / _rows over the old store's
    # array and the new records' blocks), against np.asarray of one list of every value
    import zarr

    from encoderkit.data.store_columns import BaseArray, Blocks, write_meta

    want = np.asarray(list(base) + list(values))  # the copying path: one list of every record's value
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w")
    old = group.create_array("old", shape=base.shape, dtype=str if base.dtype.kind == "U" else base.dtype)
    old[:] = base
    new = Blocks()
    for v in values:
        new.append(v)
    def read(sel):  # as RecordStore._read gives an append the old rows: zarr strings as numpy str
        out = np.asarray(old[sel])
        return out.astype(object).astype(str) if out.dtype.kind == "T" else out

    spec = write_meta(group, "m", len(want), new, BaseArray(old, len(base), read, None), None)
    got = group["m"][:]
    assert spec == {"dtype": "str" if want.dtype.kind == "U" else str(want.dtype), "shape": list(want.shape[1:])}
    assert got.shape == want.shape and (want.dtype.kind == "U" or got.dtype == want.dtype)
    np.testing.assert_array_equal(got.astype(want.dtype), want)
