"""Series files of many series read without a DataFrame per series (s45): a long layout
(``id,time,value``) is laid out from integer codes (``layout.long_cells``), the split-time
check sorts codes instead of a frame of Python strings, text is parsed in blocks, and a
table of many series is cut into series and filled back with one copy per column, not
one per series. Each test checks the result against an independent computation (plain
Python, pandas' groupby / duplicated) or bounds the memory traced (numpy and Python
objects) against the file's size: the old reader's peak was ~21x a long file."""

from __future__ import annotations

import os
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import io as tsio
from domains.timeseries import layout, times


def long_rows(rng: np.random.Generator, n_series: int, channels: tuple[str, ...] = ("value",)) -> list[tuple]:
    """Rows (id, time, channel, value text) of ragged series with gaps, ids such as 01 / 1."""
    rows = []
    for i in range(n_series):
        sid = "01" if i == n_series - 1 else str(i)  # 01 and 1: two series
        length = int(rng.integers(1, 12))
        times = np.sort(rng.choice(40, length, replace=False)) if i % 3 else np.arange(length)
        for t in times:
            for c in channels:
                if len(channels) > 1 and rng.random() < 0.2:
                    continue  # a channel absent at this time: a hole
                cell = "" if rng.random() < 0.1 else f"{rng.normal():.6f}"
                rows.append((sid, int(t), c, cell))
    return [rows[k] for k in rng.permutation(len(rows))]  # ids in no order


def reference(rows: list[tuple], channels: list[str] | None) -> dict[str, tuple[list[str], np.ndarray]]:
    """The long layout by hand: rows ordered by time (stable), series in order of first
    appearance, each series' times in order, its channels as listed (or as first seen)."""
    ordered = sorted(enumerate(rows), key=lambda r: (r[1][1], r[0]))
    names = channels or list(dict.fromkeys(r[2] for _, r in ordered))
    out: dict[str, dict] = {}
    for _, (sid, t, c, cell) in ordered:
        out.setdefault(sid, {})
        if c in names:
            out[sid].setdefault(t, {})[c] = float(cell) if cell else np.nan
    result = {}
    for sid, by_time in out.items():
        values = np.full((len(names), len(by_time)), np.nan)
        for k, t in enumerate(by_time):  # dicts keep the (sorted) order of first appearance
            for c, v in by_time[t].items():
                values[names.index(c), k] = v
        result[sid] = (names, values)
    return result


def write(path, rows: list[tuple], with_channel: bool) -> None:
    cols = ["id", "time", "var", "value"] if with_channel else ["id", "time", "value"]
    frame = pd.DataFrame([r if with_channel else (r[0], r[1], r[3]) for r in rows], columns=cols)
    frame.to_csv(path, index=False)


@pytest.mark.parametrize("channels", [None, ["wind", "temp"]])
def test_long_layout_matches_a_layout_by_hand(tmp_path, channels):
    rng = np.random.default_rng(3)
    rows = long_rows(rng, 300, ("temp", "hum", "wind"))
    path = tmp_path / "long.csv"
    write(path, rows, with_channel=True)
    got = tsio.read_csv(str(path), value_column="value", time_column="time", series_column="id",
                        channel_column="var", channels=channels)
    want = reference(rows, channels)
    assert [s.id for s in got] == [f"long.csv:{k}" for k in want]  # series in order of first time
    for s in got:
        names, values = want[s.id.split(":", 1)[1]]
        assert s.channel_names == names
        np.testing.assert_array_equal(s.values, values)


def test_long_layout_without_times_keeps_file_order_per_channel(tmp_path):
    rng = np.random.default_rng(4)
    rows = long_rows(rng, 200, ("a", "b"))
    path = tmp_path / "long.csv"
    write(path, rows, with_channel=True)
    got = {s.id: s for s in tsio.read_csv(str(path), value_column="value", series_column="id",
                                            channel_column="var")}
    names = list(dict.fromkeys(r[2] for r in rows))
    per: dict[str, dict[str, list[float]]] = {}
    for sid, _, c, cell in rows:  # file order, each channel's values in turn
        per.setdefault(sid, {n: [] for n in names})[c].append(float(cell) if cell else np.nan)
    assert list(got) == [f"long.csv:{k}" for k in per]
    for sid, by_chan in per.items():
        length = max(len(v) for v in by_chan.values())
        want = np.full((len(names), length), np.nan)
        for j, n in enumerate(names):
            want[j, :len(by_chan[n])] = by_chan[n]
        np.testing.assert_array_equal(got[f"long.csv:{sid}"].values, want)


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_long_file_is_read_without_a_frame_per_series(tmp_path, monkeypatch):
    """The numpy and Python memory a long file of 4,000 series takes to read, against its
    size: 21x before (a DataFrame per series, the key columns as Python strings, hash
    tables sized for every row), under 12x now (the series themselves are ~2x)."""
    monkeypatch.setattr(layout, "BLOCK", 4096, raising=False)  # text read in blocks of rows
    monkeypatch.setattr(tsio, "BLOCK", 4096, raising=False)
    rng = np.random.default_rng(0)
    path = tmp_path / "long.csv"
    with open(path, "w") as f:
        f.write("id,time,value\n")
        for i in rng.permutation(4000):
            f.write("".join(f"s{i},{t},{x:.4f}\n" for t, x in enumerate(rng.normal(size=16))))
    tracemalloc.start()
    try:
        series = tsio.read_csv(str(path), value_column="value", time_column="time", series_column="id")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(series) == 4000 and all(s.values.shape == (1, 16) for s in series)
    assert peak < 12 * os.path.getsize(path), peak / os.path.getsize(path)


def test_numbers_read_in_blocks_are_the_texts_numbers(tmp_path, monkeypatch):
    """A channel column parsed in blocks: each number exactly as Python's float reads it
    (17 significant digits), holes and marks missing, the marks counted once for the file."""
    monkeypatch.setattr(tsio, "BLOCK", 7, raising=False)
    rng = np.random.default_rng(5)
    cells = [repr(float(x)) for x in rng.normal(size=60)] + ["0.3915000806360837783", "", "NA", "-", "?"]
    cells = [cells[k] for k in rng.permutation(len(cells))]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        got = tsio.numeric_column(pd.Series(cells, dtype="str"), "f.csv", "v")
    want = [float(c) if c not in ("", "NA", "-", "?") else np.nan for c in cells]
    np.testing.assert_array_equal(got, np.array(want))
    marks = [str(w.message) for w in said if "read as missing" in str(w.message)]
    assert len(marks) == 1 and "2 cell(s) '-', '?'" in marks[0]


def test_a_series_left_without_rows_by_channels_is_skipped(tmp_path, capsys):
    """channels=[...] leaving one series of a long file with no row: that series has no
    time steps (skipped at ingest, as without a time column); it raised IndexError."""
    from encoderkit.cli import main

    path = tmp_path / "long.csv"
    path.write_text("id,time,var,value\na,1,x,1.0\na,2,x,2.0\na,3,x,3.5\nb,1,y,5.0\nb,2,y,6.0\n")
    code = main(["ingest", "domain=timeseries", f"input={path}", f"output={tmp_path / 's.zarr'}",
                 "value_column=value", "time_column=time", "series_column=id", "channel_column=var",
                 "channels=[x]", "progress=false"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "records written: 1" in out.out and "long.csv:b" in out.out + out.err


@pytest.mark.parametrize("seed", range(6))
def test_repeated_times_found_as_pandas_duplicated_finds_them(seed):
    rng = np.random.default_rng(seed)
    n = 400
    kind = seed % 3
    if kind == 0:
        when = rng.integers(0, 30, n).astype(np.float64) * rng.choice([1.0, -1.0], n)  # -0.0 and 0.0 too
    elif kind == 1:
        when = pd.to_datetime(rng.integers(0, 50, n), unit="D").to_numpy()
    else:  # times with a zone come as Timestamp objects
        when = pd.Series(pd.to_datetime(rng.integers(0, 50, n), unit="h", utc=True)).to_numpy()
    keys = [pd.Series(rng.choice(["a", "b", "c", "01", "1"], n), dtype="str"),
            pd.Series(rng.choice(["x", "y"], n), dtype="str")]
    for used in (keys[:1], keys):
        frame = pd.DataFrame({"_t": when, **{f"_k{i}": k.to_numpy() for i, k in enumerate(used)}})
        want = bool(frame.duplicated(keep=False).any())
        assert times._repeats(when, used) == want
        unique = frame.drop_duplicates()  # none repeated: the other answer
        assert not times._repeats(unique["_t"].to_numpy(), [unique[c].astype("str") for c in unique.columns[1:]])


def test_uneven_series_judged_once_per_grid_as_each_alone():
    rng = np.random.default_rng(1)
    grids = [np.arange(10.0), np.array([0.0, 1, 2, 4, 5, 6]), np.arange(0.0, 20, 2)]
    parts = [grids[int(k)] for k in rng.integers(0, 3, 60)]
    when = np.concatenate(parts)
    rows, at = [], 0
    for p in parts:
        rows.append(np.arange(at, at + len(p)))
        at += len(p)
    named = [(f"s{i}", r) for i, r in enumerate(rows)]
    want = [(name, how) for name, r in named if (how := times.uneven_steps(when[r])) is not None]
    assert times.uneven_series(when, named) == want and want


def many_series_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        for t in range(int(rng.integers(3, 9))):
            rows.append((f"k{i % 97}_{i}", t, rng.normal() if rng.random() > 0.2 else np.nan,
                         int(rng.integers(0, 9)) if rng.random() > 0.2 else None))
    frame = pd.DataFrame(rows, columns=["id", "t", "x", "n"]).sample(frac=1, random_state=2)
    frame["n"] = frame["n"].astype("Int64")  # counts stay whole numbers when filled
    return frame.reset_index(drop=True)


def test_series_table_cut_and_filled_back_with_one_copy_per_column(monkeypatch):
    """A table of 600 series: its series as groupby cuts them, and the fills written back at
    their rows (counts rounded, dtype kept) with one copy of each column, not one per
    series (the old loop copied a column for every series with a hole: quadratic)."""
    from encoderkit.registry import get_domain

    rng = np.random.default_rng(2)
    data = many_series_frame(rng, 600)
    dom = get_domain("timeseries")({}, time_column="t", series_column="id")
    arrays, how = dom._as_series_list(data)
    groups = [g.sort_values("t") for _, g in data.sort_values("t", kind="stable").groupby("id", sort=False)]
    assert len(arrays) == len(groups)
    for arr, g in zip(arrays, groups):
        np.testing.assert_array_equal(arr, g[["x", "n"]].to_numpy(dtype=np.float64, na_value=np.nan).T)
    filled = [np.where(np.isnan(a), 1000.0 + k + np.arange(a.shape[1]) / 4, a) for k, a in enumerate(arrays)]

    copies = 0
    original = pd.Series.copy

    def counted(self, *a, **k):
        nonlocal copies
        copies += 1
        return original(self, *a, **k)
    monkeypatch.setattr(pd.Series, "copy", counted)
    out = dom._rebuild(data, how, filled)
    monkeypatch.setattr(pd.Series, "copy", original)
    assert copies <= 2  # one per channel column

    want = data.copy()
    for (_, g), f in zip([(None, g) for g in groups], filled):
        for j, col in enumerate(["x", "n"]):
            hole = g[col].isna().to_numpy()
            want.loc[g.index[hole], col] = np.round(f[j][hole]) if col == "n" else f[j][hole]
    assert out["n"].dtype == "Int64" and not out[["x", "n"]].isna().any().any()
    pd.testing.assert_frame_equal(out, want)
