"""A store opened by a relative path reads the same records after the process changes
directory (zarr resolves a relative path at each read: it read zeros from the new one)."""

from __future__ import annotations

import numpy as np
import pytest

from encoderkit.data.store import RecordStore, StoreError, StoreWriter


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


def _three_records(path):
    records = [np.arange(1, n + 1, dtype=np.int64) for n in (5, 2, 9)]
    with StoreWriter(path, "demo", chunk_bytes=64) as w:
        for i, r in enumerate(records):
            w.append({"tok": r}, {"n": int(r.size)}, id=f"r{i}")
        w.finalize({}, {"files": []})
    return records


def test_chmod_or_touch_of_a_store_is_no_replacement(tmp_path):
    """A store's folder chmod-ed, touched, or given a stray file while it is read is the same
    store: reads go on (its ctime changed; the refusal named it "replaced")."""
    import os

    records = _three_records(tmp_path / "s.zarr")
    store = RecordStore(tmp_path / "s.zarr")
    os.chmod(tmp_path / "s.zarr", 0o750)
    os.utime(tmp_path / "s.zarr")
    (tmp_path / "s.zarr" / ".DS_Store").write_text("")
    for i, r in enumerate(records):
        np.testing.assert_array_equal(store[i]["tok"], r)
    store.check_unchanged()


def test_a_store_renamed_over_is_still_a_replacement(tmp_path):
    import os
    import shutil

    _three_records(tmp_path / "s.zarr")
    store = RecordStore(tmp_path / "s.zarr")
    _three_records(tmp_path / "new.zarr")
    shutil.rmtree(tmp_path / "s.zarr")
    os.rename(tmp_path / "new.zarr", tmp_path / "s.zarr")
    with pytest.raises(StoreError, match="replaced"):
        store.check_unchanged()
