"""A text column a run has no role for, read back for the run (session 50, fixer u).

Fixer i's refusal of such a column (``frames.SeriesFrames._refuse_unread_text``) kept an ``id``
column from merging the series it names, but it refused files that had filled right: a note on
two rows, one site's name on every row (neither can tell series apart) stopped infill with
"non-numeric cell", exit 1. Those are left out again, with the warning an extra number column
gets, and written back as they came; the reference is the same file without them. The advice
of a refusal named "drop the column" where the table lacked the run's time or series column
(a ``DatetimeIndex`` written by ``df.to_csv()``, ids under another name), which led to "no
column 'id'"; it now says to name the column so, and following it reads the table as the
run's store holds it. And ``import-hf domain=sets domain.bogus=1`` without a store said only
"pass store=", hiding the misspelled option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.sets.domain import SetsDomain
from domains.timeseries import TimeSeriesDomain
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError, UnusedColumnWarning, UsageError
from encoderkit.infer.load import run_domain

T = 40  # time steps of a series


def level(n: int, start: float) -> np.ndarray:
    t = np.arange(n)
    return np.round(start + 0.1 * t + 3 * np.sin(2 * np.pi * t / 12), 3)


def days(n: int) -> list[str]:
    return [str(d.date()) for d in pd.date_range("2020-01-01", periods=n, freq="D")]


def store_of(tmp_path: Path, name: str, frame: pd.DataFrame, **options) -> RecordStore:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    ingest("timeseries", [str(path)], str(tmp_path / f"{name}.zarr"), progress=False, verbose=False, **options)
    return RecordStore(str(tmp_path / f"{name}.zarr"))


def run_of(store: RecordStore) -> TimeSeriesDomain:
    """The domain a run trained on ``store`` loads with (``infer.load.run_domain``)."""
    description = {"name": "timeseries", "schema": store.schema, "options": TimeSeriesDomain(store.schema).options}
    return run_domain(description, store.path)


def holed() -> pd.DataFrame:
    frame = pd.DataFrame({"date": days(T), "co2": level(T, 300.0), "ch4": level(T, 50.0)})
    frame.loc[[10, 11, 12, 30], "co2"] = np.nan
    return frame


def zeros(run: TimeSeriesDomain):
    """A model that predicts 0 (the window's level) for every hidden patch."""
    return lambda masked: [{"values": np.zeros((int(m.predict.sum()), run.patch), np.float32)} for m in masked]


def test_a_note_and_a_constant_site_column_are_left_as_they_are_with_a_warning(tmp_path):
    run = run_of(store_of(tmp_path, "clean", holed(), time_column="date"))
    plain = str(tmp_path / "clean.csv")
    noted = holed()
    noted["note"] = ""
    noted.loc[5, "note"], noted.loc[33, "note"] = "sensor cleaned", "recal"
    noted["site"] = "north"
    path = str(tmp_path / "noted.csv")
    noted.to_csv(path, index=False)
    want = run.infill(plain, zeros(run))  # the file without the word columns
    given = pd.read_csv(path)
    for data in (path, given):  # a file, and the Python API's DataFrame
        with pytest.warns(UnusedColumnWarning, match=r"\['note', 'site'\] hold words, not the channels"):
            got = run.infill(data, zeros(run))
        pd.testing.assert_frame_equal(got[list(want.columns)], want)
        pd.testing.assert_frame_equal(got[["note", "site"]], given[["note", "site"]])  # unchanged
    with pytest.warns(UnusedColumnWarning):
        records = run.read_records(path)
    (reference,) = run.read_records(plain)
    np.testing.assert_array_equal(records[0]["values"], reference["values"])
    # a column that could name series (every cell given, two values) is still refused
    noted["site"] = ["north", "south"] * (T // 2)
    noted.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"non-numeric cell 'north' at data row 1 \(line 2\), column 'site'"):
        run.read_records(path)


def test_a_dates_column_without_the_runs_time_column_is_advised_to_be_named_so(tmp_path):
    store = store_of(tmp_path, "clean", holed(), time_column="date")
    run = run_of(store)
    frame = holed().iloc[::-1]  # newest first: the order only the times restore
    indexed = frame.set_index(pd.to_datetime(frame.pop("date")).rename(None))
    path = tmp_path / "indexed.csv"
    indexed.to_csv(path)  # a blank header cell over the dates
    assert path.read_text().startswith(",co2,ch4\n")
    with pytest.raises(DataError) as e:
        run.read_records(str(path))
    said = str(e.value)
    assert "column 'Unnamed: 0'" in said and "drop it" not in said, said
    assert said.endswith("the table has no column 'date', and this one holds dates or times: give its "
                         "blank header cell the name 'date', so that the run reads the rows in time order by it")
    path.write_text("date" + path.read_text())  # the advice followed
    (record,) = run.read_records(str(path))
    (stored,) = [store[i] for i in range(len(store))]
    np.testing.assert_array_equal(record["values"], stored["values"])
    # a DataFrame whose dates are a column under another name: pandas' words
    moved = indexed.reset_index()
    with pytest.raises(DataError, match=r"column 'index'.*rename it \(df\.rename\(columns=\{'index': 'date'\}\)\)"):
        run.to_records(moved)
    (record,) = run.to_records(moved.rename(columns={"index": "date"}))
    np.testing.assert_array_equal(record["values"], stored["values"])


def test_ids_under_another_name_are_advised_to_be_named_as_the_runs_series_column(tmp_path):
    rows = [(s, d, v) for s, base in (("x", 300.0), ("y", 280.0)) for d, v in zip(days(T), level(T, base))]
    frame = pd.DataFrame(rows, columns=["id", "date", "co2"])
    store = store_of(tmp_path, "keyed", frame, time_column="date", series_column="id")
    run = run_of(store)
    path = tmp_path / "station.csv"
    frame.rename(columns={"id": "station"}).to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        run.read_records(str(path))
    said = str(e.value)
    assert "drop the column (the run's series ids" not in said, said  # which led to "no column 'id'"
    assert said.endswith("the table has no column 'id', which names the run's series: if 'station' names "
                         "them, name the column 'id' in the header line; else add a column 'id' (one value per "
                         "series) and drop 'station'"), said
    path.write_text("id" + path.read_text()[len("station"):])  # the advice followed
    got = {r["id"]: r["values"] for r in run.read_records(str(path))}
    want = {str(r["id"]).split(":")[-1]: r["values"] for r in (store[i] for i in range(len(store)))}
    assert sorted(got) == sorted(want) == ["x", "y"]
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_import_hf_names_a_misspelled_domain_option_without_a_store(tmp_path):
    from encoderkit.interop.cli import run

    with pytest.raises(ValueError) as own:  # the domain's own refusal of the option
        SetsDomain({}, bogus=1)
    argv = [str(tmp_path / "hf"), f"output={tmp_path / 'run'}", "domain=sets"]
    with pytest.raises(UsageError) as e:
        run("import-hf", argv + ["domain.bogus=1"])
    assert str(e.value) == f"domain 'sets': {own.value}"
    with pytest.raises(UsageError, match=r"pass store=<a sets store>"):  # a well-spelled one still needs a store
        run("import-hf", argv + ["domain.mask_rate=0.2"])
