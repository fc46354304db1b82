"""Data that drifted between training and use is said to the user (audit s49 a, fixes j):
new set items below half the items, set columns the model does not read, set coordinates in
another case, table columns / series channels present but empty, evaluate on a table without
its label column, a UTF-16 table. (A numeric column "in other units" is no longer asked about,
fixes s49 o: a trending or sorted column's later rows cannot be told from a change of units.)"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.sets import SetsDomain
from domains.sets.digits import digit_frame, load_digit_sets
from domains.sets.ingest import UNK
from domains.tabular.domain import TabularDomain, ingest_frame as ingest_table
from domains.tabular.encoding import encode_frame
from domains.timeseries import TimeSeriesDomain
from encoderkit.cli import main
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError, UnknownValueWarning, UnusedColumnWarning


def said(fn, *args, **kwargs) -> tuple[object, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, list(caught)


def ingest_file(tmp_path: Path, domain: str, frame: pd.DataFrame, name: str, **options) -> RecordStore:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    store = tmp_path / (name + ".zarr")
    ingest(domain, [str(path)], str(store), progress=False, verbose=False, **options)
    return RecordStore(str(store))


# ---- sets ------------------------------------------------------------------------------------

def item_sets() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"set": f"s{i}", "id": f"g{rng.integers(8)}", "w": float(rng.normal())}
                         for i in range(30) for _ in range(6)])


def test_a_quarter_of_new_items_is_said_naming_the_column_count_and_examples(tmp_path):
    """Below half the items (the old threshold) unknown items were read as [UNK] silently."""
    frame = item_sets()
    domain = SetsDomain(ingest_file(tmp_path, "sets", frame, "items.csv").schema)
    new = frame.copy()
    new.loc[::4, "id"] = "middle"  # 45 of 180 items, 25%: counted by hand below
    records, caught = said(domain.to_records, new)
    mine = [str(w.message) for w in caught if issubclass(w.category, UnknownValueWarning)]
    assert len(mine) == 1
    assert "column 'id': 45 of the 180 items given (25%)" in mine[0] and "'middle'" in mine[0]
    assert "point numbers" not in mine[0]  # the "is it the item column?" question is for most items
    assert sum(int((r["ids"] == UNK).sum()) for r in records) == 45
    _, quiet = said(domain.to_records, frame)  # the items it was trained on: nothing said
    assert not [w for w in quiet if issubclass(w.category, UnknownValueWarning)]


def digits() -> pd.DataFrame:
    sets, _ = load_digit_sets(limit=6)
    return digit_frame(sets)  # set, x, y, intensity


def test_set_columns_the_model_does_not_read_are_said_and_change_nothing(tmp_path):
    frame = digits()
    domain = SetsDomain(ingest_file(tmp_path, "sets", frame, "d.csv").schema)
    assert domain.schema["coord_names"] == ["x", "y"] and domain.schema["feature_names"] == ["intensity"]
    rng = np.random.default_rng(1)
    extra = frame.assign(z=rng.normal(size=len(frame)).round(2), brightness=frame["intensity"] * 2,
                         label=1)  # a label column beside the data is no input: not said
    records, caught = said(domain.to_records, extra)
    mine = [str(w.message) for w in caught if issubclass(w.category, UnusedColumnWarning)]
    assert len(mine) == 1 and "['z', 'brightness']" in mine[0] and "'label'" not in mine[0]
    assert "further coordinate" in mine[0]  # z given to a 2-D model
    reference, none = said(domain.to_records, frame)
    assert not [w for w in none if issubclass(w.category, UnusedColumnWarning)]
    for a, b in zip(records, reference, strict=True):
        assert np.array_equal(a["coords"], b["coords"]) and np.array_equal(a["features"], b["features"])


@pytest.mark.parametrize("trained, given", [(("x", "y"), ("X", "Y")), (("X", "Y"), ("x", "y"))])
def test_coordinates_in_another_case_are_read_as_ingest_reads_them(tmp_path, trained, given):
    frame = digits()
    domain = SetsDomain(ingest_file(tmp_path, "sets", frame.rename(columns=dict(zip(("x", "y"), trained))),
                                    "d.csv").schema)
    assert domain.schema["coord_names"] == list(trained)
    reference = domain.to_records(frame.rename(columns=dict(zip(("x", "y"), trained))))
    records = domain.to_records(frame.rename(columns=dict(zip(("x", "y"), given))))  # refused before
    for a, b in zip(records, reference, strict=True):
        assert np.array_equal(a["coords"], b["coords"]) and np.array_equal(a["features"], b["features"])


# ---- tables ------------------------------------------------------------------------------------

def small_table(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    years = rng.choice([0.5, 2.5, 6.0, 9.0, 13.0, 16.5, 23.0], n)
    return pd.DataFrame({"years": years, "income": rng.normal(60_000, 8_000, n).round(),
                         "job": rng.choice(["a", "b", "c"], n)})


def table_domain(tmp_path: Path, frame: pd.DataFrame, **options) -> TabularDomain:
    ingest_table(frame, str(tmp_path / "t.zarr"), verbose=False)
    return TabularDomain(RecordStore(str(tmp_path / "t.zarr")).schema, **options)


def _empty_said(caught) -> list[str]:
    return [str(w.message) for w in caught if "hold no value" in str(w.message)]


def test_a_table_column_with_no_value_is_said_as_an_absent_one_is(tmp_path):
    frame = small_table()
    domain = table_domain(tmp_path, frame)
    empty = frame.assign(income=np.nan)
    records, caught = said(domain.to_records, empty)
    mine = _empty_said(caught)
    assert len(mine) == 1 and "['income']" in mine[0] and "read as missing" in mine[0]
    # read exactly as the table without the column (which is warned "absent ... read as missing")
    absent, told = said(domain.to_records, frame.drop(columns="income"))
    assert any("absent from the table and read as missing: ['income']" in str(w.message) for w in told)
    assert np.array_equal(records.enc.observed, absent.enc.observed)
    # infill is asked to fill the blank column: nothing said there (fixes s49 o)
    _, caught = said(domain._fill, empty, None, "iterative")
    assert not _empty_said(caught)
    # one row with an empty cell is a missing value, not an empty column; a full table is silent
    for quiet in (empty.head(1), frame):
        _, caught = said(domain.to_records, quiet)
        assert not _empty_said(caught)


def test_columns_that_are_no_input_are_not_said(tmp_path):
    """A fine-tuned run's label column (drop_columns) moves nothing: no unknown category said
    of it, while an input column's still is."""
    frame = small_table()
    schema = table_domain(tmp_path, frame).schema
    drifted = frame.assign(job="zz")
    _, caught = said(encode_frame, drifted, schema)
    assert [w for w in caught if "'job'" in str(w.message)]
    _, caught = said(encode_frame, drifted, schema, quiet=["job"])
    assert not [w for w in caught if "'job'" in str(w.message)]
    domain = TabularDomain(schema, drop_columns=["job"])
    _, caught = said(domain._fill, drifted.assign(income=np.nan), None, "iterative")
    assert not [w for w in caught if "'job'" in str(w.message)]


def test_a_utf16_table_is_told_to_be_saved_as_utf8(tmp_path):
    frame = small_table()
    domain = table_domain(tmp_path, frame)
    for encoding in ("utf-16", "utf-32"):
        path = tmp_path / f"{encoding}.csv"
        frame.to_csv(path, index=False, encoding=encoding)
        with pytest.raises(DataError, match="save it as UTF-8"):
            domain.read_records(str(path))


# ---- series ------------------------------------------------------------------------------------

def test_a_series_channel_with_no_value_is_said(tmp_path):
    rng = np.random.default_rng(3)
    time = pd.date_range("2024-01-01", periods=40, freq="h").astype(str)
    frame = pd.concat([pd.DataFrame({"time": time, "device": f"d{k}", "temp": rng.normal(20, 2, 40),
                                     "hum": rng.normal(50, 5, 40), "press": rng.normal(1010, 3, 40)})
                       for k in range(3)], ignore_index=True)
    store = ingest_file(tmp_path, "timeseries", frame, "s.csv", time_column="time", series_column="device")
    domain = TimeSeriesDomain(store.schema)
    path = tmp_path / "new.csv"
    frame.assign(hum=np.nan).to_csv(path, index=False)
    records, caught = said(domain.read_records, str(path))
    mine = [str(w.message) for w in caught if "hold no value" in str(w.message)]
    assert len(mine) == 1 and "['hum']" in mine[0] and str(path) in mine[0]
    # the channel as read: no observed sample in any series (the reference the message states)
    hum = domain.schema["channel_names"].index("hum")
    assert all(np.isnan(np.asarray(r["values"]).reshape(r["channels"], -1)[hum]).all() for r in records)
    frame.to_csv(path, index=False)
    _, caught = said(domain.read_records, str(path))
    assert not [w for w in caught if "hold no value" in str(w.message)]


# ---- evaluate on a table without its label column ---------------------------------------------------

def test_evaluate_on_a_table_without_the_label_column_lists_its_columns(tmp_path, capsys):
    from encoderkit.tasks import finetune
    from tests.domains.sample_store import TINY_MODEL

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=40), "w": rng.normal(size=40), "code": rng.choice(["p", "q"], 40)})
    ingest_table(frame, str(tmp_path / "store.zarr"), verbose=False)
    run = finetune(["checkpoint=none", "domain=tabular", f"data.store={tmp_path / 'store.zarr'}",
                    f"run.dir={tmp_path / 'ft'}", "task.label_column=code", "train.steps=2",
                    "train.eval_every=2", "train.checkpoint_every=0", "train.progress=false",
                    "data.max_tokens=512", "data.max_seqlen=64", *TINY_MODEL])
    bare, renamed = tmp_path / "bare.csv", tmp_path / "renamed.csv"
    frame.drop(columns="code").to_csv(bare, index=False)
    frame.rename(columns={"code": "Code"}).to_csv(renamed, index=False)
    capsys.readouterr()
    assert main(["evaluate", f"checkpoint={run}", f"input={bare}"]) == 2
    err = capsys.readouterr().err
    assert "label column 'code' does not exist; columns: ['x', 'w']" in err  # it said "columns: []"
    assert main(["evaluate", f"checkpoint={run}", f"input={renamed}"]) == 2
    assert "columns: ['x', 'w', 'Code'] ('Code' differs only in case" in capsys.readouterr().err
