"""``RecordStore.record_ids`` reads the ids array alone (``evaluate`` on a run's own source file
read every token of the store to learn its ids). Reference: the ids ``read_range`` gives with
the records, and the positions for a store written without ids."""

from __future__ import annotations

import pytest

import testdomain as td
from encoderkit.data.store import RecordStore, StoreWriter


def _store_without_ids(path) -> str:
    with StoreWriter(path, td.NAME) as w:
        for ids in td.make_records(7, 0):
            w.append({"ids": ids})
        w.finalize({"vocab": td.VOCAB}, {"files": []})
    return str(path)


@pytest.mark.parametrize("in_memory", [False, True])
def test_ids_equal_those_read_with_the_records(tmp_path, in_memory):
    store = RecordStore(td.write_store(tmp_path / "s.zarr", n=23), in_memory=in_memory)
    reference = [r["id"] for r in store.read_range(0, len(store))]
    assert reference == [f"r{i}" for i in range(23)]
    assert store.record_ids() == reference
    assert store.record_ids(5, 9) == reference[5:9]
    assert store.record_ids(9, 9) == []


def test_ids_are_read_without_tokens(tmp_path, monkeypatch):
    store = RecordStore(td.write_store(tmp_path / "s.zarr", n=11))
    read = []
    original = RecordStore._read

    def spy(self, arr, name, sel):
        read.append(name)
        return original(self, arr, name, sel)

    monkeypatch.setattr(RecordStore, "_read", spy)
    assert store.record_ids() == [f"r{i}" for i in range(11)]
    assert read == ["ids"]


def test_a_store_without_ids_names_records_by_position(tmp_path):
    store = RecordStore(_store_without_ids(tmp_path / "n.zarr"))
    assert store.record_ids() == [r["id"] for r in store.read_range(0, len(store))]
    assert store.record_ids(2, 4) == ["2", "3"]
