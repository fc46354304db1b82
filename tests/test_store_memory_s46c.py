"""What a record store writer holds while records come (session 46c): a few bytes a record, not
Python objects per record, and repeated ids found without a list of every id."""

from __future__ import annotations

import gc
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from encoderkit.data.store import RecordStore, StoreWriter

CHUNK = 1 << 16  # records per chunk of offsets / meta / ids (the format's)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_the_writer_holds_a_few_bytes_a_record(tmp_path):
    """Memory the writer keeps (traced by tracemalloc, numpy's buffers included) while a third
    chunk of records comes: its length, meta number and id hash (8 bytes each) and the record's
    one token, buffered. Each record's fields are a new array, as a domain's ingest makes them.
    A writer of Python lists kept ~160 bytes a record (an int, a float, a str, the pointers),
    and ~100 more for every record array a chunk of tokens waits on (one-token records)."""
    with StoreWriter(tmp_path / "s.zarr", "synthetic") as w:
        for i in range(3 * CHUNK):
            if i == 2 * CHUNK:  # a block boundary: no partial block either side of the window
                gc.collect()
                tracemalloc.start()
            w.append({"x": np.full(1, i % 100, np.int8)}, {"score": i * 0.5}, id=f"record{i}")
        gc.collect()
        per_record = tracemalloc.get_traced_memory()[0] / CHUNK
        tracemalloc.stop()
        w.finalize({}, {})
    assert per_record < 40, per_record
    store = RecordStore(tmp_path / "s.zarr")
    assert store[3 * CHUNK - 1]["id"] == f"record{3 * CHUNK - 1}"
    assert store[2 * CHUNK + 7]["x"][0] == (2 * CHUNK + 7) % 100


@pytest.mark.parametrize("chunk", [1024])
def test_duplicate_ids_are_what_counter_finds_across_appends(tmp_path, monkeypatch, chunk):
    from encoderkit.data import store_columns

    monkeypatch.setattr(store_columns, "RECORD_CHUNK", chunk)  # many chunks from few records
    rng = np.random.default_rng(3)
    names = [f"r{v}" for v in rng.integers(0, 4000, 3 * chunk + 50)]
    old, new = tmp_path / "old.zarr", tmp_path / "new.zarr"
    with StoreWriter(old, "synthetic") as w:
        assert w.duplicate_ids() == []
        for rid in names:
            w.append({"x": np.ones(1, np.int8)}, id=rid)
        want = [rid for rid, c in Counter(names).items() if c > 1]
        assert w.duplicate_ids() == want and len(want) > 100
        w.finalize({}, {})
    extra = ["fresh", names[-1], "fresh", names[0]]
    with StoreWriter(new, "synthetic", overwrite=True) as w:
        assert w.start_from(RecordStore(old))  # its whole chunks of ids linked, not read
        for rid in extra:
            w.append({"x": np.ones(1, np.int8)}, id=rid)
        assert w.duplicate_ids() == [rid for rid, c in Counter(names + extra).items() if c > 1]
        assert w.ids == names + extra
        w.finalize({}, {})
    assert RecordStore(new).read_range(0, len(names) + 4)[-2]["id"] == "fresh"
