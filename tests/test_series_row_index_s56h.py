"""The row index ``df.to_csv()`` writes is no channel of a series, nor a feature of a set
(session 56, helper h).

A series frame filtered, shuffled or left as it is and written with ``to_csv()`` starts with a
blank-headed column of its labels (``Unnamed: 0`` read back by pandas). Ingest took it for a
channel, so the model trained on a ramp (or on shuffled labels) beside the data; a sets file
took it for a feature. The rule is the table readers' (``textfiles.written_index``). The
reference for what is data is pandas' own reading with ``index_col=0``. A store ingested
before the rule, which holds the column as a channel, keeps reading it as one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError, UnusedColumnWarning
from encoderkit.infer.load import run_domain

T = 36


def frame(kind: str) -> pd.DataFrame:
    """A monthly series ``date, co2`` with holes, as a user holds it before ``to_csv()``."""
    t = np.arange(T)
    out = pd.DataFrame({"date": [str(p) for p in pd.period_range("2000-01", periods=T, freq="M")],
                        "co2": np.round(300 + 0.1 * t + 3 * np.sin(2 * np.pi * t / 12), 3)})
    out.loc[[5, 6, 20], "co2"] = np.nan
    return {"filtered": out[out.index % 5 != 2], "shuffled": out.sample(frac=1, random_state=1),
            "counted": out}[kind]


def written(tmp_path: Path, kind: str, header: str = "") -> str:
    path = tmp_path / f"{kind}.csv"
    path.write_text(header + frame(kind).to_csv())
    return str(path)


def store_of(tmp_path: Path, name: str, path: str, **options) -> RecordStore:
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ingest("timeseries", [path], str(tmp_path / f"{name}.zarr"), progress=False, verbose=False,
               **{"time_column": "date", **options})
    store = RecordStore(str(tmp_path / f"{name}.zarr"))
    store.said = [str(w.message) for w in said]
    return store


def run_of(store: RecordStore) -> TimeSeriesDomain:
    description = {"name": "timeseries", "schema": store.schema, "options": TimeSeriesDomain(store.schema).options}
    return run_domain(description, store.path)


def reference(path: str) -> pd.DataFrame:
    """What the file holds as data: pandas' reading with its index as the index, in time order."""
    return pd.read_csv(path, index_col=0).sort_values("date")


def never(masked):  # the seasonal / naive fills ask no model
    raise AssertionError("no model here")


@pytest.mark.parametrize("kind", ["filtered", "shuffled", "counted"])
@pytest.mark.parametrize("header", ["", "Unnamed: 0"])
def test_ingest_reads_the_data_columns_only(tmp_path, kind, header):
    path = written(tmp_path, kind, header)
    store = store_of(tmp_path, "s", path)
    ref = reference(path)
    assert store.schema["channel_names"] == [c for c in ref.columns if c != "date"] == ["co2"]
    (record,) = (store[i] for i in range(len(store)))
    np.testing.assert_array_equal(np.asarray(record["values"], dtype=np.float64),
                                  ref["co2"].to_numpy().astype(np.float32))
    assert any("holds row numbers" in m and "no channel" in m for m in store.said), store.said


def test_a_parquet_file_of_such_a_csv_read_by_pandas(tmp_path):
    """``pd.read_csv(f).to_parquet(p)``: the index is a column ``Unnamed: 0`` there."""
    path = written(tmp_path, "shuffled")
    pq = tmp_path / "s.parquet"
    pd.read_csv(path).to_parquet(pq)
    store = store_of(tmp_path, "p", str(pq))
    assert store.schema["channel_names"] == ["co2"]
    run = run_of(store)
    (record,) = run.read_records(str(pq))
    np.testing.assert_array_equal(record["values"], reference(path)["co2"].to_numpy().astype(np.float32))
    data = run.read_input(str(pq))
    out = tmp_path / "out.parquet"
    run.write_output(run.infill_candidates(data, never, only=("naive",))["naive"], str(out))
    got = pd.read_parquet(out)
    assert got["Unnamed: 0"].tolist() == pd.read_parquet(pq)["Unnamed: 0"].tolist()
    assert got["co2"].notna().all()


def test_a_run_reads_and_writes_back_the_file_with_its_index_as_it_came(tmp_path):
    path = written(tmp_path, "filtered")
    run = run_of(store_of(tmp_path, "s", path))
    ref = reference(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnusedColumnWarning)  # no "not a channel the run was trained on"
        (record,) = run.read_records(path)  # predict / embed / evaluate on a file
        (framed,) = run.to_records(pd.read_csv(path))  # the Python API, a frame pandas read
        data = run.read_input(path)
        filled = run.infill_candidates(data, never, only=("naive",))["naive"]
    want = ref["co2"].to_numpy().astype(np.float32)
    np.testing.assert_array_equal(record["values"], want)
    np.testing.assert_array_equal(framed["values"], want)
    out = tmp_path / "out.csv"
    run.write_output(filled, str(out))
    before, after = Path(path).read_text().splitlines(), out.read_text().splitlines()
    assert after[0] == before[0] == ",date,co2"
    assert [line.split(",")[:2] for line in after] == [line.split(",")[:2] for line in before]
    got, given = pd.read_csv(out, index_col=0), pd.read_csv(path, index_col=0)
    assert got.index.tolist() == given.index.tolist() and got["co2"].notna().all()
    seen = given["co2"].dropna()
    pd.testing.assert_series_equal(got["co2"].loc[seen.index], seen)  # observed cells as they were


def test_a_domain_without_a_run_reads_a_frame_without_its_index(tmp_path):
    """No schema names the channels: every number column was one, the index too."""
    path = written(tmp_path, "shuffled")
    (record,) = TimeSeriesDomain(time_column="date").to_records(pd.read_csv(path))
    assert record["channels"] == 1
    np.testing.assert_array_equal(record["values"], reference(path)["co2"].to_numpy().astype(np.float32))


def test_a_store_made_before_the_rule_keeps_its_index_channel(tmp_path):
    """A store ingested before the rule held the column as a channel (as ``channels=`` still
    reads it): its run reads the file with that channel where it expects it, and an append
    to it keeps it too."""
    path = written(tmp_path, "filtered")
    old = store_of(tmp_path, "old", path, channels=["Unnamed: 0", "co2"])
    assert old.schema["channel_names"] == ["Unnamed: 0", "co2"]
    run = run_of(old)
    (record,) = run.read_records(path)
    ref = pd.read_csv(path).sort_values("date")
    want = np.stack([ref["Unnamed: 0"].to_numpy(float), ref["co2"].to_numpy()]).astype(np.float32)
    np.testing.assert_array_equal(record["values"].reshape(2, -1), want)
    filled = run.infill_candidates(run.read_input(path), never, only=("naive",))["naive"]
    out = tmp_path / "out.csv"
    run.write_output(filled, str(out))
    assert pd.read_csv(out, index_col=0).index.tolist() == pd.read_csv(path, index_col=0).index.tolist()
    other = written(tmp_path, "counted")
    ingest("timeseries", [other], old.path, progress=False, verbose=False, append=True, time_column="date")
    grown = RecordStore(old.path)
    assert grown.schema["channel_names"] == ["Unnamed: 0", "co2"]
    assert {int(grown[i]["channels"]) for i in range(len(grown))} == {2}


def test_a_long_table_reads_its_value_column_only(tmp_path):
    """The long layout reads its role columns alone: the index was never a channel there."""
    long = pd.concat([frame("counted").assign(id=k) for k in ("a", "b")], ignore_index=True)
    long = long.sample(frac=1, random_state=0).rename(columns={"co2": "value"})
    path = tmp_path / "long.csv"
    long.to_csv(path)
    store = store_of(tmp_path, "long", str(path), series_column="id", value_column="value")
    assert store.schema["max_channels"] == 1


def test_a_named_integer_column_stays_a_channel(tmp_path):
    """``count`` 0, 2, 5 under a name is the user's data, whatever it holds."""
    data = frame("filtered").reset_index().rename(columns={"index": "count"})
    path = tmp_path / "named.csv"
    data.to_csv(path, index=False)
    assert store_of(tmp_path, "n", str(path)).schema["channel_names"] == ["count", "co2"]


def test_a_sets_file_leaves_the_index_out_of_its_features(tmp_path):
    rng = np.random.default_rng(0)
    sets = pd.DataFrame({"set": np.repeat(["s1", "s2", "s3"], 10), "x": rng.normal(size=30),
                         "y": rng.normal(size=30), "f": rng.normal(size=30)})
    path = tmp_path / "sets.csv"
    sets[sets.index % 4 != 1].to_csv(path)
    out = tmp_path / "sets.zarr"
    ingest("sets", [str(path)], str(out), progress=False, verbose=False)
    ref = pd.read_csv(path, index_col=0)
    schema = RecordStore(str(out)).schema
    assert schema["feature_names"] == [c for c in ref.columns if c not in ("set", "x", "y")] == ["f"]
    # coordinates alone beside the index: nothing to predict, and the error says why (the
    # index was the one "feature" the model was to predict)
    sets[["set", "x", "y"]].to_csv(path)
    with pytest.raises(DataError, match=r"no item column and no feature column is left to predict: "
                                         r"column 'Unnamed: 0' holds row numbers \(0\.\.29, the index"):
        ingest("sets", [str(path)], str(out), progress=False, verbose=False, overwrite=True)


def test_a_sets_file_is_written_back_with_its_blank_header_cell(tmp_path):
    """The frame infill fills names the index column as pandas does (``Unnamed: 0``): it was
    written back under that name, the header line no longer the file's."""
    from domains.sets.domain import SetsDomain

    rng = np.random.default_rng(1)
    sets = pd.DataFrame({"set": np.repeat(["s1", "s2"], 12), "x": rng.normal(size=24).round(3),
                         "y": rng.normal(size=24).round(3), "f": rng.normal(size=24).round(3)})
    sets.loc[[3, 4, 15], "f"] = np.nan
    path = tmp_path / "sets.csv"
    sets[sets.index % 5 != 1].to_csv(path)
    ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    run = SetsDomain(RecordStore(str(tmp_path / "s.zarr")).schema)
    data = run.read_input(str(path))
    out = tmp_path / "out.csv"
    run.write_output(data, str(out))
    assert out.read_text() == path.read_text()
    filled = data.copy()  # as infill copies the frame it fills
    filled["f"] = filled["f"].fillna(0.5)
    run.write_output(filled, str(out))
    got, given = pd.read_csv(out, index_col=0), pd.read_csv(path, index_col=0)
    assert out.read_text().splitlines()[0] == ",set,x,y,f" and got.index.equals(given.index)
    assert got.index.name is None and got["f"].notna().all()
