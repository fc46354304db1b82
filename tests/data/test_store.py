"""Record store: round trip of ragged data, atomic writes, deterministic split, clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import zarr

from encoderkit.data.split import split_indices, validation_mask
from encoderkit.errors import OutputExistsError
from encoderkit.data.store import FORMAT_VERSION, RecordStore, StoreError, StoreWriter


def ragged_records(n: int, seed: int = 0) -> list[tuple[dict, dict, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        L = int(rng.integers(0, 700))  # empty records included
        fields = {
            "tok": rng.integers(-100, 100, size=L).astype(np.int8),
            "u16": rng.integers(0, 60000, size=L).astype(np.uint16),
            "vec": rng.normal(size=(L, 3)).astype(np.float32),
            "f64": rng.normal(size=L),
            "flags": rng.random((L, 2, 2)) < 0.5,
        }
        meta = {"label": int(rng.integers(10)), "score": float(rng.normal()),
                "chrom": f"chr{rng.integers(1, 23)}", "pair": rng.normal(size=2).astype(np.float32)}
        out.append((fields, meta, f"id-{i}-{rng.integers(1e6)}"))
    return out


def write(path, records, domain="demo", **kw):
    with StoreWriter(path, domain, **kw) as w:
        for fields, meta, rid in records:
            w.append(fields, meta, id=rid)
        w.finalize({"vocab": ["a", "b"], "stats": {"mean": 0.5}}, {"files": [{"path": "x", "sha256": "0"}]})


def check_equal(store: RecordStore, records) -> None:
    assert len(store) == len(records)
    for i, (fields, meta, rid) in enumerate(records):
        got = store[i]
        assert got["id"] == rid
        for k, v in fields.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape
            np.testing.assert_array_equal(got[k], v)
        for k, v in meta.items():
            np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(v))


@pytest.mark.parametrize("in_memory", [False, True])
def test_round_trip_local_dir(tmp_path, in_memory):
    records = ragged_records(40)
    path = tmp_path / "s.zarr"
    # small chunks so records straddle chunk boundaries
    write(path, records, chunk_bytes=4096)
    store = RecordStore(path, in_memory=in_memory)
    check_equal(store, records)
    assert store.domain == "demo" and store.schema["stats"] == {"mean": 0.5}
    assert store.num_tokens == sum(len(f["tok"]) for f, _, _ in records)
    # batched reads in arbitrary order (with runs) and iteration agree with random access
    order = [5, 6, 7, 0, 39, 12, 13]
    for i, rec in zip(order, store.read_many(order)):
        np.testing.assert_array_equal(rec["vec"], records[i][0]["vec"])
        assert rec["id"] == records[i][2]
    assert [r["id"] for r in store] == [rid for _, _, rid in records]
    assert store[-1]["id"] == records[-1][2]
    with pytest.raises(IndexError):
        store[40]
    assert not any(p.name.startswith("s.zarr.tmp") for p in tmp_path.iterdir())


def test_round_trip_memory_store_and_url():
    records = ragged_records(12, seed=1)
    ms = zarr.storage.MemoryStore()
    write(ms, records)
    check_equal(RecordStore(ms), records)
    check_equal(RecordStore(ms, in_memory=True), records)
    url = f"memory://encoderkit-test-{os.getpid()}.zarr"
    write(url, records)
    check_equal(RecordStore(url, in_memory="auto"), records)


def test_interrupted_ingest_leaves_no_store(tmp_path):
    path = tmp_path / "s.zarr"
    records = ragged_records(30)
    with pytest.raises(RuntimeError, match="crash"):
        with StoreWriter(path, "demo", chunk_bytes=4096) as w:
            for fields, meta, rid in records:
                w.append(fields, meta, id=rid)
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    # leaving the block without finalize is refused, and nothing remains either
    with pytest.raises(StoreError, match="without finalize"):
        with StoreWriter(path, "demo") as w:
            w.append(*records[0][:2], id="x")
    assert list(tmp_path.iterdir()) == []
    # URL / in-memory stores have no rename: the store reads as unfinished
    ms = zarr.storage.MemoryStore()
    with pytest.raises(RuntimeError):
        with StoreWriter(ms, "demo") as w:
            w.append(*records[0][:2], id="x")
            raise RuntimeError("crash")
    with pytest.raises(StoreError, match="not a finished encoderkit record store"):
        RecordStore(ms)


def test_overwrite(tmp_path):
    path = tmp_path / "s.zarr"
    write(path, ragged_records(3))
    with pytest.raises(OutputExistsError, match="already exists.*overwrite=true"):
        StoreWriter(path, "demo")
    new = ragged_records(5, seed=9)
    write(path, new, overwrite=True)
    check_equal(RecordStore(path), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_writer_rejects_inconsistent_records(tmp_path):
    with StoreWriter(tmp_path / "a.zarr", "demo") as w:
        w.append({"x": np.zeros(3, np.int32), "y": np.zeros((3, 2))})
        with pytest.raises(StoreError, match=r"record 1 field 'y' has shape \(3, 4\)"):
            w.append({"x": np.zeros(3, np.int32), "y": np.zeros((3, 4))})
        with pytest.raises(StoreError, match="record 1 has fields"):
            w.append({"x": np.zeros(3, np.int32)})
        with pytest.raises(StoreError, match="different lengths"):
            w.append({"x": np.zeros(3, np.int32), "y": np.zeros((2, 2))})
        with pytest.raises(StoreError, match="field 'x' has dtype float64"):
            w.append({"x": np.zeros(3), "y": np.zeros((3, 2))})
        w.abort()


def test_bad_inputs_name_path_and_problem(tmp_path):
    missing = tmp_path / "nope.zarr"
    with pytest.raises(StoreError, match=f"{missing}.*does not exist"):
        RecordStore(missing)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="plain: not a record store"):
        RecordStore(tmp_path / "plain")

    path = tmp_path / "s.zarr"
    write(path, ragged_records(10), domain="tabular", chunk_bytes=4096)
    assert isinstance(StoreError("x"), ValueError)
    with pytest.raises(StoreError, match="s.zarr: store holds domain 'tabular' records, expected 'genomic'"):
        RecordStore(path, expect_domain="genomic")

    g = zarr.open_group(str(path), mode="r+")
    info = dict(g.attrs["encoderkit"])
    g.attrs["encoderkit"] = {**info, "format_version": FORMAT_VERSION + 1}
    with pytest.raises(StoreError, match=f"format version {FORMAT_VERSION + 1} is not supported"):
        RecordStore(path)
    g.attrs["encoderkit"] = info
    RecordStore(path)  # restored: readable again

    # truncated token field: offsets no longer match
    tok = g["fields/tok"]
    tok.resize((tok.shape[0] - 5,))
    with pytest.raises(StoreError, match="field 'tok' holds .* tokens but offsets end at"):
        RecordStore(path)


def test_lost_or_corrupt_chunks_are_detected(tmp_path):
    path = tmp_path / "s.zarr"
    write(path, ragged_records(20), chunk_bytes=4096)
    # garbage bytes in a token-field chunk: reading it names the array
    chunk = next(p for p in (path / "fields" / "vec").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"not a zstd frame")
    with pytest.raises(StoreError, match="cannot read array 'fields/vec'"):
        RecordStore(path, in_memory=True)
    # a lost offsets chunk reads as the fill value -1 and fails the consistency check
    for p in (path / "offsets").rglob("*"):
        if p.is_file() and p.name != "zarr.json":
            p.unlink()
    with pytest.raises(StoreError, match="offsets are not a non-decreasing sequence"):
        RecordStore(path)


def test_split_is_deterministic_and_sized():
    m = validation_mask(100_000, 0.05, seed=3)
    assert abs(m.mean() - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 1e5)
    # a record's side does not depend on the store size
    np.testing.assert_array_equal(validation_mask(1000, 0.05, 3), m[:1000])
    assert not np.array_equal(validation_mask(1000, 0.05, 4), m[:1000])
    tr, va = split_indices(500, "train", 0.2, 1), split_indices(500, "validation", 0.2, 1)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(500))
    with pytest.raises(ValueError, match="'name' parameter of split must be one of"):
        split_indices(10, "test")
    with pytest.raises(ValueError, match="'fraction'"):
        validation_mask(10, 1.5)


def test_store_split_and_provenance(tmp_path):
    path = tmp_path / "s.zarr"
    write(path, ragged_records(50))
    store = RecordStore(path)
    np.testing.assert_array_equal(store.split("validation", 0.3, seed=2), split_indices(50, "validation", 0.3, 2))
    assert store.provenance["files"][0]["sha256"] == "0"
    attrs = json.loads((path / "zarr.json").read_text())["attributes"]["encoderkit"]
    assert attrs["fields"]["vec"] == {"dtype": "float32", "shape": [3]}
    assert attrs["num_records"] == 50
