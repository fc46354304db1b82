"""A series table read for a run (infill, predict / embed / evaluate on a file or a DataFrame,
impute) is read as ingest reads it (session 50, fixer i).

A text column the run had no role for was left out without a word: the ``id`` column of two
series stacked one under another, through a run whose store had no series column, made them
one series sorted by date, one series' gap ramped towards the other's level, exit 0. A time
given twice within a series was filled from a blend of the row and its duplicate. Ingest
refuses both; the reference in each test is ingest's refusal of the same file (or the store
ingest writes from the table as the run reads it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError
from encoderkit.infer.load import run_domain

T = 20  # time steps of each series


def level(n: int, start: float) -> np.ndarray:
    """A smooth monthly series with a season, ``start`` its level."""
    t = np.arange(n)
    return np.round(start + 0.1 * t + 3 * np.sin(2 * np.pi * t / 12), 3)


def months(n: int, first: int = 0) -> list[str]:
    return [str(p) for p in pd.period_range("2000-01", periods=first + n, freq="M")[first:]]


def one_series(tmp_path: Path) -> str:
    """The file a run's store is ingested from: one series, ``date,co2``."""
    path = tmp_path / "one.csv"
    pd.DataFrame({"date": months(2 * T), "co2": level(2 * T, 300.0)}).to_csv(path, index=False)
    return str(path)


def stacked(tmp_path: Path) -> str:
    """Series x (months 0..T-1, its last 4 missing) over series y (months T..2T-1, 20 lower):
    no time repeats, so only the ``id`` column tells the series apart."""
    x = pd.DataFrame({"date": months(T), "id": "x", "co2": level(T, 300.0)})
    x.loc[T - 4:, "co2"] = np.nan
    y = pd.DataFrame({"date": months(T, T), "id": "y", "co2": level(T, 280.0)})
    path = tmp_path / "stacked.csv"
    pd.concat([x, y], ignore_index=True).to_csv(path, index=False)
    return str(path)


def store_of(tmp_path: Path, name: str, path: str, **options) -> RecordStore:
    out = tmp_path / f"{name}.zarr"
    ingest("timeseries", [path], str(out), progress=False, verbose=False, **options)
    return RecordStore(str(out))


def run_of(store: RecordStore) -> TimeSeriesDomain:
    """The domain a run trained on ``store`` loads with (``infer.load.run_domain``)."""
    description = {"name": "timeseries", "schema": store.schema,
                   "options": TimeSeriesDomain(store.schema).options}
    return run_domain(description, store.path)


def never(masked):  # the refusal comes before any fill
    raise AssertionError("the model was asked to fill a table it should have refused")


def stored_series(store: RecordStore) -> dict[str, np.ndarray]:
    return {str(r["id"]).split(":")[-1]: np.asarray(r["values"], dtype=np.float64).reshape(int(r["channels"]), -1)
            for r in (store[i] for i in range(len(store)))}


def ingest_refusal(tmp_path: Path, path: str, **options) -> str:
    with pytest.raises(DataError) as e:
        store_of(tmp_path, "refused", path, **options)
    return str(e.value)


def test_an_id_column_the_run_has_no_role_for_is_refused_as_ingest_refuses_it(tmp_path):
    both = stacked(tmp_path)
    run = run_of(store_of(tmp_path, "one", one_series(tmp_path), time_column="date"))
    said = ingest_refusal(tmp_path, both, time_column="date")
    # ingest: "<file>: non-numeric cell 'x' at data row 1 (line 2), column 'id'; 40 such cell(s) ..."
    cell = said.split(" Time-series channels")[0]
    assert cell == f"{both}: non-numeric cell 'x' at data row 1 (line 2), column 'id'; {2 * T} such cell(s) " \
                   f"in that column."
    for read in (lambda: run.infill(both, never), lambda: run.read_records(both), lambda: run.read_input(both)):
        with pytest.raises(DataError) as e:  # infill on a file; predict / embed / evaluate on a file
            read()
        assert str(e.value).startswith(cell), str(e.value)
        assert "ingested without series_column" in str(e.value) and "series_column=id" in str(e.value)
    frame = pd.read_csv(both)
    for read in (lambda: run.infill(frame, never), lambda: run.to_records(frame)):  # the Python API
        with pytest.raises(DataError, match=rf"non-numeric cell 'x' at row 0 \(counted from 0\), column "
                                            rf"'id'; {2 * T} such cell\(s\)"):
            read()
    # a run that reads 'id' as its series reads the same file as its store holds it
    store = store_of(tmp_path, "keyed", both, time_column="date", series_column="id")
    keyed = run_of(store)
    got = {r["id"]: np.asarray(r["values"], dtype=np.float64).reshape(1, -1) for r in keyed.read_records(both)}
    want = stored_series(store)
    assert sorted(got) == sorted(want) == ["x", "y"]
    for k in want:  # float32 in the store
        np.testing.assert_array_equal(got[k].astype(np.float32), want[k].astype(np.float32))


def test_a_dates_column_the_run_reads_no_times_from_is_refused_with_a_way_to_give_them(tmp_path):
    np.save(tmp_path / "one.npy", level(2 * T, 300.0))
    run = run_of(store_of(tmp_path, "npy", str(tmp_path / "one.npy")))
    frame = pd.DataFrame({"date": months(T), "co2": level(T, 300.0)}).iloc[::-1]  # newest first
    frame.to_csv(tmp_path / "dated.csv", index=False)
    said = ingest_refusal(tmp_path, str(tmp_path / "dated.csv"))
    assert "non-numeric cell '2001-08' at data row 1 (line 2), column 'date'" in said  # ingest's reference
    with pytest.raises(DataError, match=r"non-numeric cell '2001-08' at row 0 \(counted from 0\), column "
                                        r"'date'.*holds dates or times.*ingested without time_column") as e:
        run.infill(frame.reset_index(drop=True), never)
    assert "pd.to_datetime(df['date'])" in str(e.value)
    # the advice followed: the dates as the index order the rows as the sorted table
    given = frame.drop(columns="date").set_axis(pd.to_datetime(frame["date"]))
    (record,) = run.to_records(given)
    np.testing.assert_array_equal(record["values"], level(T, 300.0).astype(np.float32))


def overlapping(tmp_path: Path) -> tuple[str, pd.DataFrame]:
    """Two exports of one series joined: months 0..29, then months 20..29 again; month 25 is
    empty in the first copy and 999 in the second."""
    first = pd.DataFrame({"date": months(30), "co2": level(30, 300.0)})
    frame = pd.concat([first, first.iloc[20:]], ignore_index=True)
    frame.loc[25, "co2"], frame.loc[35, "co2"] = np.nan, 999.0
    path = tmp_path / "overlap.csv"
    frame.to_csv(path, index=False)
    return str(path), frame


def test_a_time_given_twice_in_a_series_is_refused_as_ingest_refuses_it(tmp_path):
    run = run_of(store_of(tmp_path, "one", one_series(tmp_path), time_column="date"))
    path, frame = overlapping(tmp_path)
    said = ingest_refusal(tmp_path, path, time_column="date")
    assert said == f"{path}: series 'overlap.csv': time '2001-09' appears twice (lines 22 and 32); give each " \
                   f"time of a series one row"
    for read in (lambda: run.infill(path, never), lambda: run.read_records(path)):
        with pytest.raises(DataError) as e:
            read()
        assert str(e.value) == said  # word for word, the file's lines named
    for read in (lambda: run.infill(frame, never), lambda: run.to_records(frame), lambda: run.time_order(frame)):
        with pytest.raises(DataError, match=r"time '2001-09' appears twice in column 'date' \(rows 20 and 30, "
                                            r"counted from 0\)"):
            read()


def test_a_time_given_twice_in_one_series_of_a_long_table_is_refused_naming_it(tmp_path):
    """Series sharing their times are no repeat; one series holding a time twice is."""
    rows = [(d, s, v) for s, base in (("x", 300.0), ("y", 280.0)) for d, v in zip(months(T), level(T, base))]
    frame = pd.DataFrame(rows, columns=["date", "id", "co2"])
    fine = tmp_path / "fine.csv"
    frame.to_csv(fine, index=False)
    store = store_of(tmp_path, "keyed", str(fine), time_column="date", series_column="id")
    run = run_of(store)
    assert len(run.read_records(str(fine))) == 2  # each series' own months: read as its store holds them
    twice = pd.concat([frame, frame.iloc[[T + 3]]], ignore_index=True)  # y's 4th month again, at the end
    path = tmp_path / "twice.csv"
    twice.to_csv(path, index=False)
    said = ingest_refusal(tmp_path, str(path), time_column="date", series_column="id")
    assert "series 'twice.csv:y': time '2000-04' appears twice" in said
    with pytest.raises(DataError) as e:
        run.read_records(str(path))
    assert str(e.value) == said
    with pytest.raises(DataError, match=r"series 'y': time '2000-04' appears twice in column 'date' \(rows "
                                        rf"{T + 3} and {2 * T}, counted from 0\)"):
        run.infill(twice, never)


def test_columns_outside_the_channels_listed_at_ingest_are_left_out_as_ingest_left_them(tmp_path):
    """``channels=[co2]`` at ingest: a column of words beside it was read by no one, and the run
    reads the file back the same way (its store's provenance records the list)."""
    frame = pd.DataFrame({"date": months(T), "co2": level(T, 300.0), "note": ["ok", "late"] * (T // 2)})
    path = tmp_path / "noted.csv"
    frame.to_csv(path, index=False)
    store = store_of(tmp_path, "listed", str(path), time_column="date", channels=["co2"])
    run = run_of(store)
    assert run.schema["channels"] == ["co2"]
    (record,) = run.read_records(str(path))
    np.testing.assert_array_equal(record["values"], stored_series(store)["noted.csv"].reshape(-1))
    # impute given the same list reads the file as ingest did (its reader is told the list)
    from encoderkit.impute_read import read_input

    inp = read_input(TimeSeriesDomain, "timeseries", str(path), str(tmp_path / "out.csv"), tmp_path,
                     {"time_column": "date", "channels": ["co2"]}, None, lambda msg: None)
    assert inp.columns == ["co2"] and inp.data["note"].tolist() == frame["note"].tolist()
    # the same run with its store gone (no provenance): the word column is refused, as ingest without the list
    bare = TimeSeriesDomain(store.schema)
    with pytest.raises(DataError, match=r"non-numeric cell 'ok' at data row 1 \(line 2\), column 'note'"):
        bare.read_records(str(path))


def test_a_long_table_with_a_channel_column_is_advised_towards_a_wide_one_that_impute_reads(tmp_path):
    """impute of ``id,date,channel,value`` said to write it wide "to infill, embed or predict it",
    never how to impute it. The advice now names the pivot and the impute options; followed,
    the wide table reads as ingest read the long one."""
    from encoderkit.impute import impute
    from encoderkit.impute_read import read_input

    rows = [(s, d, ch, v) for s, base in (("A", 100.0), ("B", 50.0)) for ch, off in (("gdp", 0.0), ("cpi", -40.0))
            for d, v in zip(months(T), level(T, base + off))]
    long = pd.DataFrame(rows, columns=["id", "date", "channel", "value"]).sort_values(["id", "date", "channel"])
    long.loc[long.index[[3, 17, 30]], "value"] = np.nan
    path = tmp_path / "ll.csv"
    long.to_csv(path, index=False)
    roles = {"time_column": "date", "series_column": "id"}
    with pytest.raises(DataError) as e:
        impute(str(path), str(tmp_path / "out.csv"), domain="timeseries", progress=False,
               channel_column="channel", value_column="value", **roles)
    said = str(e.value)
    assert "encoderkit impute domain=timeseries time_column=date series_column=id" in said, said
    call = re.search(r"df\.pivot\((.*?)\)\.reset_index\(\)", said)
    args = {k: ast.literal_eval(v) for k, v in re.findall(r"(\w+)=(\[[^\]]*\]|'[^']*')", call.group(1))}
    assert args == {"index": ["id", "date"], "columns": "channel", "values": "value"}
    wide = long.pivot(**args).reset_index()
    wide.to_csv(tmp_path / "wide.csv", index=False)
    inp = read_input(TimeSeriesDomain, "timeseries", str(tmp_path / "wide.csv"), str(tmp_path / "out.csv"),
                     tmp_path, roles, None, lambda msg: None)
    reference = stored_series(store_of(tmp_path, "long", str(path), channel_column="channel",
                                       value_column="value", **roles))
    arrays, how = inp.reader._series_arrays(inp.data)
    names = inp.reader._series_names(inp.data, how, len(arrays))
    assert names == ["A", "B"] and inp.series_column == "id"
    order = [list(how[1]).index(c) for c in RecordStore(str(tmp_path / "long.zarr")).schema["channel_names"]]
    for name, a in zip(names, arrays):
        np.testing.assert_array_equal(a[order].astype(np.float32), reference[name].astype(np.float32))
