"""Files of one series store whose channels are written in other orders (session 50).

A store keeps a series as ``[C, L]`` without names, so channel k must be one channel in every
record. Two CSVs naming the same channels in another column order (or a long table whose
channel values first appear in another order) were stored with their channels swapped, exit 0.
Reference: each series read by name with pandas from its own file."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError

T = 30


def wide(path, order, prefix):
    rng = np.random.default_rng(len(prefix))
    rows = []
    for i in range(3):
        base = {"a": np.arange(T) + 100.0 * i, "b": 1000 + rng.normal(size=T), "c": -np.arange(T) * 0.5,
                "x": np.sin(np.arange(T))}
        for t in range(T):
            rows.append({"id": f"{prefix}{i}", "t": t, **{n: base[n][t] for n in order}})
    pd.DataFrame(rows, columns=["id", "t", *order]).to_csv(path, index=False)


def long(path, order, prefix):
    wide(path.with_suffix(".wide.csv"), order, prefix)
    frame = pd.read_csv(path.with_suffix(".wide.csv"))
    out = frame.melt(id_vars=["id", "t"], value_vars=order, var_name="ch", value_name="v")
    out["ch"] = pd.Categorical(out["ch"], categories=order)
    out.sort_values(["id", "t", "ch"]).to_csv(path, index=False)  # channels first met in `order`


def by_name(paths, names, long_layout=False):
    """Every series of the files, in file order, as [C, L] with channels in ``names``."""
    out = {}
    for p in paths:
        frame = pd.read_csv(p)
        if long_layout:
            frame = frame.pivot_table(index=["id", "t"], columns="ch", values="v").reset_index()
        for sid, part in frame.groupby("id", sort=False):
            out[f"{os.path.basename(p)}:{sid}"] = part.sort_values("t")[names].to_numpy(dtype=np.float64).T
    return out


def stored(store):
    s = RecordStore(str(store))
    out = {}
    for i in range(len(s)):
        r = s[i]
        out[str(r["id"])] = np.asarray(r["values"], dtype=np.float64).reshape(int(r["channels"]), -1)
    return s.schema.get("channel_names"), out


def same(got, want):
    assert list(got) == list(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6, err_msg=k)


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_files_naming_the_channels_in_another_order_are_stored_by_name(tmp_path, layout):
    p1, p2 = tmp_path / "one.csv", tmp_path / "two.csv"
    write = wide if layout == "wide" else long
    write(p1, ["a", "b", "c"], "s")
    write(p2, ["c", "a", "b"], "r")
    opts = {"time_column": "t", "series_column": "id"}
    if layout == "long":
        opts.update(value_column="v", channel_column="ch")
    ingest("timeseries", [str(p1), str(p2)], str(tmp_path / "s.zarr"), progress=False, verbose=False, **opts)
    names, got = stored(tmp_path / "s.zarr")
    assert names == ["a", "b", "c"]  # long tables now record theirs too
    same(got, by_name([p1, p2], ["a", "b", "c"], long_layout=layout == "long"))


def test_files_with_other_channels_stay_by_position_and_a_moved_name_is_warned_of(tmp_path):
    """A collection of datasets (other channels) is stored by position, as before; a name both
    files write at other positions is said, in the ingest report."""
    p1, p2, p3 = tmp_path / "one.csv", tmp_path / "two.csv", tmp_path / "three.csv"
    wide(p1, ["a", "b", "c"], "s")
    wide(p2, ["c", "a"], "r")  # 'c' is channel 2 of one.csv, 0 here
    wide(p3, ["x"], "q")
    report = ingest("timeseries", [str(p1), str(p2), str(p3)], str(tmp_path / "s.zarr"), progress=False,
                    verbose=False, time_column="t", series_column="id")
    names, got = stored(tmp_path / "s.zarr")
    assert names is None
    want = {**by_name([p1], ["a", "b", "c"]), **by_name([p2], ["c", "a"])}
    want.update({k: pd.read_csv(p3).query("id == @k.split(':')[1]")[["x"]].to_numpy().T
                 for k in [f"three.csv:q{i}" for i in range(3)]})
    same(got, want)
    said = [w for w in report.warnings if "stored by position" in w]
    assert len(said) == 1 and "two.csv: channel 'c' is channel 0" in said[0] and "channel 2 of" in said[0]


def test_append_lays_a_file_out_in_the_store_order(tmp_path):
    p1, p2 = tmp_path / "one.csv", tmp_path / "two.csv"
    wide(p1, ["a", "b", "c"], "s")
    wide(p2, ["b", "c", "a"], "r")
    store = str(tmp_path / "s.zarr")
    ingest("timeseries", [str(p1)], store, progress=False, verbose=False, time_column="t", series_column="id")
    ingest("timeseries", [str(p2)], store, progress=False, verbose=False, time_column="t", series_column="id",
           append=True)
    names, got = stored(store)
    assert names == ["a", "b", "c"]
    same(got, by_name([p1, p2], ["a", "b", "c"]))


def test_files_parsed_apart_in_other_orders_are_refused_in_those_words(tmp_path):
    p1, p2 = tmp_path / "one.csv", tmp_path / "two.csv"
    wide(p1, ["a", "b"], "s")
    wide(p2, ["b", "a"], "r")
    with pytest.raises(DataError, match="other orders.*workers=1"):
        ingest("timeseries", [str(p1), str(p2)], str(tmp_path / "s.zarr"), progress=False, verbose=False,
               time_column="t", series_column="id", workers=2)
    assert not (tmp_path / "s.zarr").exists()


def test_files_of_each_channel_set_are_matched_to_the_first_file_with_that_set(tmp_path):
    """Reviewer r1: with a file of other channels first, 'a,b' and 'b,a' were both stored by
    position (only the first file set an order)."""
    p0, p1, p2 = tmp_path / "x.csv", tmp_path / "ab.csv", tmp_path / "ba.csv"
    wide(p0, ["x"], "q")
    wide(p1, ["a", "b"], "s")
    wide(p2, ["b", "a"], "r")
    ingest("timeseries", [str(p0), str(p1), str(p2)], str(tmp_path / "s.zarr"), progress=False,
           verbose=False, time_column="t", series_column="id")
    names, got = stored(tmp_path / "s.zarr")
    assert names is None  # a collection of two channel sets
    want = {**by_name([p0], ["x"]), **by_name([p1, p2], ["a", "b"])}
    same(got, want)


@pytest.mark.parametrize("how", ["append", "workers"])
def test_parts_with_other_channel_sets_merge_as_a_serial_ingest_records_them(tmp_path, how):
    """Reviewer r1: once long tables recorded their channel names, a long part with one more
    channel could no longer be appended (nor ingested with workers=2): the schemas' names
    differed. Names are kept only where every part has the same; the records as serial."""
    parts = []
    for k, order in enumerate((["a", "b"], ["a", "b", "c"])):
        p = tmp_path / f"part{k}.csv"
        long(p, order, f"p{k}")
        parts.append(p)
    opts = {"time_column": "t", "series_column": "id", "value_column": "v", "channel_column": "ch"}
    serial = str(tmp_path / "serial.zarr")
    ingest("timeseries", [str(p) for p in parts], serial, progress=False, verbose=False, **opts)
    store = str(tmp_path / "s.zarr")
    if how == "append":
        ingest("timeseries", [str(parts[0])], store, progress=False, verbose=False, **opts)
        ingest("timeseries", [str(parts[1])], store, progress=False, verbose=False, append=True, **opts)
    else:
        ingest("timeseries", [str(p) for p in parts], store, progress=False, verbose=False, workers=2, **opts)
    (names, got), (serial_names, want) = stored(store), stored(serial)
    assert names == serial_names is None
    same(got, want)
