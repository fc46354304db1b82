"""``ingest ... append=true`` onto a damaged store (session 46c). An append hard-links the old
store's whole chunks without reading them; a damaged chunk file (truncated, emptied, overwritten
with garbage, a chunk of another array put in its place) is now refused before anything is
written, with an error naming the store, the array and the chunk, and the old store keeps every
file as it was (bytes and mtimes), with no temporaries left. A chunk never written (all fill
values, which zarr does not store) is not damage and still appends."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from data.synthetic_domain import SyntheticDomain
from data.test_append_inplace_s45 import fingerprint, lines
from encoderkit import registry
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore, StoreWriter
from encoderkit.errors import DataError


@pytest.fixture(autouse=True, scope="module")
def synthetic_registered():
    with pytest.MonkeyPatch.context() as m:
        m.setitem(registry._local, SyntheticDomain.name, SyntheticDomain)
        yield


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A synthetic store of 131,172 tokens: 'ids' (int16, 131,072 a chunk) has one whole chunk,
    'values' and 'pos' ([L, 2], 32,768 a chunk) four; meta and ids one chunk of 3 records."""
    folder = tmp_path_factory.mktemp("pristine")
    out = folder / "s.zarr"
    ingest("synthetic", lines(folder / "a.txt", [65_536, 65_536, 100], 0), str(out), progress=False, verbose=False)
    return out


def damage(path: Path, kind: str, store: Path) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(1).bytes(len(data)))
    elif kind == "bytes after":
        path.write_bytes(data + b"\0" * 10)
    elif kind == "foreign":  # a whole, valid chunk of another array in its place
        path.write_bytes((store / "meta/length/c/0").read_bytes())


WHY = {"truncated": "truncated", "empty": "the file is empty", "garbage": "no zstd frame at byte 0",
       "bytes after": "10 bytes after its zstd frame",
       "foreign": "its zstd frame holds 24 bytes, a chunk of this array 262144"}


@pytest.mark.parametrize("array, chunk, kind", [
    ("fields/values", 2, "truncated"), ("fields/values", 2, "empty"), ("fields/values", 2, "garbage"),
    ("fields/values", 1, "bytes after"), ("fields/pos", 3, "foreign"), ("fields/ids", 0, "truncated"),
    ("meta/length", 0, "garbage"), ("ids", 0, "truncated"), ("ids", 0, "empty"),
])
def test_an_append_refuses_a_damaged_chunk_and_leaves_the_store_as_it_was(tmp_path, pristine, array, chunk, kind):
    out = tmp_path / "s.zarr"
    shutil.copytree(pristine, out)
    key = f"c/{chunk}/0" if array in ("fields/values", "fields/pos") else f"c/{chunk}"  # [L, 2] fields: 2-D keys
    damage(out / array / key, kind, out)
    before = fingerprint(out)
    more = lines(tmp_path / "b.txt", [5, 7], 1)
    with pytest.raises(DataError) as e:
        ingest("synthetic", more, str(out), progress=False, verbose=False, append=True)
    text = str(e.value)
    assert text.startswith(f"{out}: cannot append to this store: array '{array}' chunk {chunk} "
                           f"(file {array}/{key}) is damaged: "), text
    assert WHY[kind] in text and "the store is as it was" in text
    assert fingerprint(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", "s.zarr"]  # no temporaries


def test_an_undamaged_store_still_appends_and_reads_back(tmp_path, pristine):
    out = tmp_path / "s.zarr"
    shutil.copytree(pristine, out)
    inode = (out / "fields/values/c/3/0").stat().st_ino
    ingest("synthetic", lines(tmp_path / "b.txt", [5, 7], 1), str(out), progress=False, verbose=False, append=True)
    store = RecordStore(out)
    assert len(store) == 5 and store.num_tokens == 131_172 + 12
    assert (out / "fields/values/c/3/0").stat().st_ino == inode  # linked, as before
    np.testing.assert_array_equal(store[2]["values"], RecordStore(pristine)[2]["values"])


def test_chunks_never_written_are_not_damage(tmp_path):
    # a field of zeros has no chunk file at all (zarr leaves chunks of fill values unwritten)
    old = tmp_path / "old.zarr"
    with StoreWriter(old, "synthetic", chunk_bytes=1024) as w:
        for i in range(3000):
            w.append({"x": np.full(2, i % 7, np.int32), "zero": np.zeros(2, np.int16)}, {"m": 0}, id=f"r{i}")
        w.finalize({}, {})
    assert not (old / "fields/zero/c").exists() and len(list((old / "fields/x/c").iterdir())) == 6
    with StoreWriter(old, "synthetic", overwrite=True, chunk_bytes=1024) as w:
        assert w.start_from(RecordStore(old))
        w.append({"x": np.full(1, 9, np.int32), "zero": np.zeros(1, np.int16)}, {"m": 0}, id="new")
        w.finalize({}, {})
    store = RecordStore(old)
    assert len(store) == 3001 and store[2999]["x"].tolist() == [2999 % 7] * 2 and store[3000]["id"] == "new"


def test_a_lost_offsets_chunk_is_named(tmp_path):
    old = tmp_path / "old.zarr"
    with StoreWriter(old, "synthetic") as w:
        for i in range(70_000):
            w.append({"x": np.ones(1, np.int8)})
        w.finalize({}, {})
    (old / "offsets/c/1").unlink()  # reads as its fill value, -1
    before = fingerprint(old)
    with pytest.raises(DataError, match=r"offsets are not a non-decreasing sequence from 0 \(at entry 65536: "
                                        r"offsets chunk 1 is missing or corrupt"):
        ingest("synthetic", lines(tmp_path / "b.txt", [5], 1), str(old), progress=False, verbose=False, append=True)
    assert fingerprint(old) == before


@pytest.mark.parametrize("data", ["random", "constant", "mixed"])
@pytest.mark.parametrize("checksum", [False, True])
def test_the_frame_check_passes_whole_zstd_frames_and_refuses_every_truncation(tmp_path, data, checksum):
    # numcodecs' own encoder (zarr's zstd codec) is the reference: incompressible bytes make raw
    # blocks, constant bytes RLE blocks, the mix compressed ones; a frame checksum adds 4 bytes
    import numcodecs

    from encoderkit.data.store_check import zstd_problem

    rng = np.random.default_rng(0)
    raw = {"random": rng.bytes(300_000), "constant": b"\7" * 300_000,
           "mixed": rng.integers(0, 4, 300_000).astype(np.uint8).tobytes()}[data]
    encoded = numcodecs.Zstd(level=3, checksum=checksum).encode(raw)
    path = tmp_path / "chunk"
    path.write_bytes(encoded)

    def problem(blob: bytes, size: int | None = len(raw)) -> str | None:
        path.write_bytes(blob)
        with open(path, "rb") as f:
            return zstd_problem(f.fileno(), len(blob), size)

    assert problem(encoded) is None and problem(encoded + encoded, 2 * len(raw)) is None  # two frames
    assert "holds 300000 bytes, a chunk of this array 299999" in problem(encoded, len(raw) - 1)
    cuts = sorted({1, 4, 5, 6, len(encoded) - 1, *rng.integers(1, len(encoded), 200).tolist()})
    for cut in cuts:
        assert problem(encoded[:cut]) is not None, cut
