"""The record store writer's bookkeeping (session 46c): record lengths and meta values held as
numpy blocks, ids written a chunk at a time, so a writer holds a few bytes a record, not a
Python object per record and value (~150 bytes a record before). The store written is the one
the list-based writer wrote: the reference here is that writer rebuilt from the format (every
value in one list, ``np.asarray`` of it, arrays created at the end), compared file for file,
byte for byte. Appends hard-link the old store's whole meta and ids chunks like its tokens.
The record chunk (65,536 records) is cut to 1,024 here, so a few thousand records cross blocks
and chunks in a second; one case keeps the real size."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from encoderkit import __version__
from encoderkit.data import store_columns
from encoderkit.data.store import RecordStore, StoreWriter

SMALL = 1024  # records per chunk of offsets / meta / ids in these tests (the format's: 65,536)


@pytest.fixture
def chunk(monkeypatch) -> int:
    monkeypatch.setattr(store_columns, "RECORD_CHUNK", SMALL)
    return SMALL


# ----------------------------------------------------------------------------- the reference
def reference_store(path: Path, records: list[tuple[dict, dict, Any]], chunk: int, chunk_bytes: int = 1 << 18) -> None:
    """What the list-based writer wrote for ``records`` ((fields, meta, id) each): token fields
    in chunks of ``chunk_bytes``, offsets (fill -1), meta as ``np.asarray`` of all its values,
    ids (``chunk`` records a chunk), and the attribute block."""
    g = zarr.open_group(str(path), mode="w")
    g.create_group("fields")
    g.create_group("meta")
    n = len(records)
    fields_spec: dict[str, Any] = {}
    if n:
        for name, a in records[0][0].items():
            a = np.asarray(a)
            per_token = a.dtype.itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
            tokens = max(1024, chunk_bytes // max(per_token, 1))
            arr = g["fields"].create_array(name, shape=(0, *a.shape[1:]), dtype=a.dtype, chunks=(tokens, *a.shape[1:]))
            arr.append(np.concatenate([np.asarray(r[0][name]) for r in records]))
            fields_spec[name] = {"dtype": str(a.dtype), "shape": list(a.shape[1:])}
    lengths = [len(next(iter(r[0].values()))) for r in records]
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
    g.create_array("offsets", shape=offsets.shape, dtype=np.int64, chunks=(min(chunk, n + 1),),
                   fill_value=-1)[:] = offsets
    meta_spec = {}
    for key in (records[0][1] if n else {}):
        arr = np.asarray([r[1][key] for r in records])
        rows = max(1, min(chunk, n))
        if arr.dtype.kind in "US":
            arr = arr.astype(str)
            g["meta"].create_array(key, shape=arr.shape, dtype=str, chunks=(rows,))[...] = arr
        else:
            g["meta"].create_array(key, shape=arr.shape, dtype=arr.dtype, chunks=(rows, *arr.shape[1:]))[...] = arr
        meta_spec[key] = {"dtype": str(arr.dtype) if arr.dtype.kind != "U" else "str", "shape": list(arr.shape[1:])}
    has_ids = bool(n) and records[0][2] is not None
    if has_ids:
        g.create_array("ids", shape=(n,), dtype=str, chunks=(max(1, min(chunk, n)),))[...] = \
            np.asarray([str(r[2]) for r in records], dtype=str)
    g.attrs["encoderkit"] = {
        "format_version": 1, "domain": "synthetic", "schema": {"k": 1}, "provenance": {"files": []},
        "fields": fields_spec, "meta": meta_spec, "num_records": n, "num_tokens": int(offsets[-1]),
        "has_ids": has_ids, "encoderkit_version": __version__,
    }


def written(path: Path, records: list[tuple[dict, dict, Any]], base: Path | None = None,
            chunk_bytes: int = 1 << 18) -> StoreWriter:
    with StoreWriter(path, "synthetic", overwrite=True, chunk_bytes=chunk_bytes) as w:
        if base is not None:
            assert w.start_from(RecordStore(base)), w.copy_reason
        for fields, meta, rid in records:
            w.append(fields, meta, id=rid)
        w.finalize({"k": 1}, {"files": []})
    return w


def assert_same_files(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for name in files_a:
        x, y = (a / name).read_bytes(), (b / name).read_bytes()
        if name == "zarr.json":  # the attribute block: same content, key order aside
            x, y = json.loads(x), json.loads(y)
        assert x == y, name


def records(n: int, seed: int, chunk: int, ids: bool = True, first: int = 0) -> list[tuple[dict, dict, Any]]:
    """Random records: 0-3 tokens (empty records too), two token fields, meta of several kinds,
    and keys whose kind changes between blocks of records (ints then floats, strings then ints)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 4, n)
    out = []
    for j in range(n):
        i = first + j
        meta = {"row": i, "score": float(rng.random()), "flag": bool(i % 3 == 0),
                "tag": ["a", "bb", "c" * 12][i % 3], "vec": np.array([i % 999, -(i % 7)], dtype=np.int16),
                "f32": np.float32(i / 7), "mix": i if i < 3 * chunk + 7 else i + 0.5,
                "strmix": "s" if i < chunk + 9 else i, "boolint": True if i < chunk else 2}
        out.append(({"x": rng.integers(0, 9, lengths[j]).astype(np.int32),
                     "v": rng.random((lengths[j], 2)).astype(np.float32)},
                    meta, f"id{i % (chunk * 3 // 4)}" if ids else None))
    return out


# ----------------------------------------------------------------------------- the same store
@pytest.mark.parametrize("n, ids", [(0, True), (1, True), (500, True), (SMALL, False), (3 * SMALL + 100, True)])
def test_store_equals_the_list_based_writers(tmp_path, chunk, n, ids):
    recs = records(n, n, chunk, ids=ids)
    if n == 1:  # one record of no tokens
        recs = [({"x": np.zeros(0, np.int32), "v": np.zeros((0, 2), np.float32)}, recs[0][1], "only")]
    written(tmp_path / "new.zarr", recs)
    reference_store(tmp_path / "ref.zarr", recs, chunk)
    assert_same_files(tmp_path / "new.zarr", tmp_path / "ref.zarr")
    store = RecordStore(tmp_path / "new.zarr")
    assert len(store) == n
    if n > 3 * chunk:  # meta values whose kind changed between blocks: as np.asarray of them all
        assert store.info["meta"]["mix"]["dtype"] == "float64" and store.info["meta"]["strmix"]["dtype"] == "str"
        assert store[n - 1]["strmix"] == str(n - 1) and store[0]["strmix"] == "s"
        assert store.info["meta"]["boolint"]["dtype"] == "int64" and store[0]["boolint"] == 1


def test_a_store_of_the_real_record_chunk_equals_the_list_based_writers(tmp_path):
    n = (1 << 16) + 300
    recs = [({"x": np.full(i % 3, i, np.int32)}, {"m": i if i < 40_000 else i / 2, "s": f"s{i % 11}"}, f"r{i}")
            for i in range(n)]
    written(tmp_path / "new.zarr", recs)
    reference_store(tmp_path / "ref.zarr", recs, 1 << 16)
    assert_same_files(tmp_path / "new.zarr", tmp_path / "ref.zarr")
    assert sorted(p.name for p in (tmp_path / "new.zarr/ids/c").iterdir()) == ["0", "1"]


def copied(store: Path) -> list[tuple[dict, dict, Any]]:
    """The old store's records as the copying append appends them (values read back)."""
    read = RecordStore(store)
    return [({k: r[k] for k in read.field_names}, {k: r[k] for k in read.meta_names},
             r["id"] if read.info["has_ids"] else None) for r in read.read_range(0, len(read))]


def test_appends_link_the_old_meta_and_ids_chunks_and_equal_the_copying_path(tmp_path, chunk):
    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    base = records(2 * chunk + 300, 1, chunk)
    written(old, base)
    more = records(chunk + 50, 2, chunk, first=len(base))
    written(new, more, base=old)
    reference_store(tmp_path / "ref.zarr", copied(old) + more, chunk)
    assert_same_files(new, tmp_path / "ref.zarr")
    # the old store's two whole chunks of ids and of each meta array are its files (linked) ...
    for name in ["ids", "meta/row", "meta/tag", "meta/strmix"]:
        for k in (0, 1):
            assert (old / name / "c" / str(k)).stat().st_ino == (new / name / "c" / str(k)).stat().st_ino, name
        assert (old / name / "c" / "2").stat().st_ino != (new / name / "c" / "2").stat().st_ino
    # ... but 'mix' (ints in the old store, floats appended) was rewritten as float64
    assert (old / "meta/mix/c/0").stat().st_ino != (new / "meta/mix/c/0").stat().st_ino
    assert RecordStore(new).info["meta"]["mix"]["dtype"] == "float64"
    assert RecordStore(old)[len(base) - 1]["id"] == base[-1][2]  # the old store reads as it did
    # and an append to the appended store, below one chunk of new records
    more2 = records(3, 3, chunk, first=len(base) + len(more))
    written(tmp_path / "again.zarr", more2, base=new)
    reference_store(tmp_path / "ref2.zarr", copied(new) + more2, chunk)
    assert_same_files(tmp_path / "again.zarr", tmp_path / "ref2.zarr")


def test_an_append_to_a_store_of_less_than_a_chunk(tmp_path, chunk):
    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    base = records(40, 4, chunk, ids=False)
    written(old, base)
    more = records(chunk + 10, 5, chunk, ids=False, first=40)
    written(new, more, base=old)
    reference_store(tmp_path / "ref.zarr", copied(old) + more, chunk)
    assert_same_files(new, tmp_path / "ref.zarr")
