"""A store opened by a relative path reads the same records after the process changes
directory (zarr resolves a relative path at each read: it read zeros from the new one)."""

from __future__ import annotations

import numpy as np

from encoderkit.data.store import RecordStore, StoreWriter


def test_relative_store_reads_the_same_after_chdir(tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    rng = np.random.default_rng(0)
    records = [rng.integers(1, 50, size=n).astype(np.int64) for n in (7, 3, 11)]
    with StoreWriter(work / "s.zarr", "demo", chunk_bytes=64) as w:
        for i, r in enumerate(records):
            w.append({"tok": r}, {"n": int(r.size)}, id=f"r{i}")
        w.finalize({}, {"files": []})
    monkeypatch.chdir(work)
    store = RecordStore("s.zarr")
    monkeypatch.chdir(elsewhere)  # a notebook's os.chdir after opening
    for i, r in enumerate(records):
        np.testing.assert_array_equal(store[i]["tok"], r)
