"""pandas' row labels are not data, and a filled file keeps the input's labels and spelling.

* A Parquet file of a slice (``df.iloc[100:160].to_parquet()``) keeps its RangeIndex in the
  pandas metadata alone; it was read as a column ``index`` (a model input) and written back
  as a physical ``__index_level_0__`` column.
* A CSV written by ``df.to_csv()`` starts with a blank-headed column of row numbers; it was a
  numeric model column named ``''``.
* A filled Parquet file lost the input's column labels: integer / float names came back as
  text, a columns-axis name was dropped, MultiIndex columns came back as flat strings.
* Whole-number fills of a column written ``+118`` or ``1.060e+03`` came back ``101.0``.

Each reference is pandas / pyarrow reading the input and the output files.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from domains.tabular import streaming
from domains.tabular.domain import TabularDomain
from domains.tabular.reading import read_table
from domains.tabular.schema import infer_schema
from encoderkit.impute_cells import _integers_as_given, as_written


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"alcohol": rng.normal(13, 0.8, n).round(2), "ash": rng.normal(2.4, 0.3, n).round(2),
                          "magnesium": rng.integers(70, 160, n).astype(float)})
    frame.loc[rng.random(n) < 0.15, "alcohol"] = np.nan
    return frame


def _round_trip(src, out) -> None:
    """``src`` read and written back as impute / infill do (the domain's reader and writer)."""
    frame = read_table(str(src)).frame
    schema, _ = infer_schema(frame, np.ones(len(frame), bool))
    domain = TabularDomain(schema)
    domain.write_output(domain.read_input(str(src)), str(out))


# ------------------------------------------------------------------ Parquet row labels

@pytest.mark.parametrize("index", [pd.RangeIndex(100, 160), pd.RangeIndex(7, 187, 3),
                                   pd.RangeIndex(0, 60, name="row"), pd.RangeIndex(0, 60)])
def test_a_parquet_range_index_is_no_column_and_comes_back_as_written(tmp_path, index):
    frame = _table().set_axis(index)
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(src)
    read = read_table(str(src)).frame
    assert list(read.columns) == list(pd.read_parquet(src).columns)  # no 'index' column to model
    assert read.index.equals(pd.RangeIndex(len(frame)))  # rows named by position, as a CSV's are
    schema, _ = infer_schema(read, np.ones(len(read), bool))
    assert [c["name"] for c in schema["columns"]] == ["alcohol", "ash", "magnesium"]
    _round_trip(src, out)
    assert pq.read_schema(out).names == pq.read_schema(src).names  # no __index_level_0__
    back = pd.read_parquet(out)
    assert type(back.index) is pd.RangeIndex and back.index.equals(pd.read_parquet(src).index)
    assert back.index.name == pd.read_parquet(src).index.name
    pd.testing.assert_frame_equal(back, pd.read_parquet(src))


def test_a_named_parquet_index_of_data_stays_data(tmp_path):
    """Not a RangeIndex: a named integer index (ids) is read as a column, as before."""
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    _table().set_axis(pd.Index(np.arange(60) * 3, name="k")).to_parquet(src)
    assert "k" in read_table(str(src)).frame.columns
    _round_trip(src, out)
    assert pd.read_parquet(out).index.equals(pd.read_parquet(src).index)


def test_a_sliced_parquet_streams_into_the_store_the_whole_file_read_makes(tmp_path, monkeypatch):
    """A large Parquet file of a slice was read whole (its index taken for data); now it is
    taken a column at a time as a plain one, into the store the whole-file read makes."""
    from tests.domains.test_table_stream_s45 import assert_same_store

    src = tmp_path / "slice.parquet"
    _table(160).iloc[100:].to_parquet(src)
    assert streaming._plain_parquet(str(src))
    assert_same_store(monkeypatch, tmp_path, src)


# ------------------------------------------------------------------ Parquet column labels

@pytest.mark.parametrize("labels", ["ints", "floats", "axis", "multi"])
def test_a_filled_parquet_keeps_the_inputs_column_labels(tmp_path, labels):
    frame = _table()
    if labels == "ints":
        frame.columns = [0, 1, 2]
    elif labels == "floats":
        frame.columns = [0.5, 1.5, 2.5]
    elif labels == "axis":
        frame.columns.name = "measure"
    else:
        frame.columns = pd.MultiIndex.from_tuples([("chem", "alcohol"), ("chem", "ash"), ("mineral", "mg")],
                                                  names=["group", "what"])
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.iloc[5:].to_parquet(src)  # a slice, too: both fixes at once
    _round_trip(src, out)
    a, b = pd.read_parquet(src), pd.read_parquet(out)
    pd.testing.assert_index_equal(b.columns, a.columns, exact=True)
    assert b.columns.names == a.columns.names
    pd.testing.assert_frame_equal(b, a)


# ------------------------------------------------------------------ CSV row numbers

@pytest.mark.parametrize("start", [0, 100])
@pytest.mark.parametrize("header", ["", "Unnamed: 0"])
def test_row_numbers_to_csv_writes_are_no_model_column(tmp_path, start, header):
    frame = _table(start + 60).iloc[start:]  # a slice: RangeIndex(start, start + 60)
    src = tmp_path / "in.csv"
    text = frame.to_csv()
    if header:
        text = header + text  # ',alcohol,...' -> 'Unnamed: 0,alcohol,...'
    src.write_text(text)
    read = read_table(str(src)).frame
    assert str(read.columns[0]) == header
    with warnings.catch_warnings(record=True):
        schema, said = infer_schema(read, np.ones(len(read), bool))
    assert [c["name"] for c in schema["columns"]] == ["alcohol", "ash", "magnesium"]
    assert header in schema["dropped"]
    named = [m for m in said if "row numbers" in m]
    assert len(named) == 1 and repr(header) in named[0], said


def test_the_streamed_ingest_drops_row_numbers_too(tmp_path, monkeypatch):
    src = tmp_path / "in.csv"
    _table().set_axis(pd.RangeIndex(100, 160)).to_csv(src)
    monkeypatch.setattr(streaming, "STREAM_BYTES", 64)  # this file is "large": column by column
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest("tabular", [str(src)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    schema = RecordStore(str(tmp_path / "s.zarr")).schema
    assert [c["name"] for c in schema["columns"]] == ["alcohol", "ash", "magnesium"]


# a hole in the count or shuffled labels are row labels too since session 56
# (tests/test_row_labels_s56a.py): a filtered or shuffled frame's index
@pytest.mark.parametrize("first", [
    pd.Series(np.arange(1001, 1061), name="patient_id"),  # a named integer column: data
    pd.Series(np.r_[np.arange(30), np.arange(29, 59)], name=""),  # a label twice: no index
])
def test_other_integer_first_columns_stay_in_the_model(first):
    frame = pd.concat([first, _table()], axis=1)
    schema, _ = infer_schema(frame, np.ones(len(frame), bool))
    assert [c["name"] for c in schema["columns"]][0] == first.name


def test_row_numbers_after_the_first_column_or_named_in_options_stay():
    frame = _table()
    frame.insert(1, "", np.arange(60))  # not the first column: no index to_csv writes
    schema, _ = infer_schema(frame, np.ones(len(frame), bool))
    assert "" in [c["name"] for c in schema["columns"]]
    first = pd.concat([pd.Series(np.arange(60), name=""), _table()], axis=1)
    schema, _ = infer_schema(first, np.ones(60, bool), columns={"": "numeric"})
    assert [c["name"] for c in schema["columns"]][0] == ""


@pytest.mark.slow  # a tiny model fitted: several seconds on 2 cores
def test_impute_keeps_row_numbers_out_and_writes_them_back_byte_identical(tmp_path, capsys):
    from encoderkit.cli import main

    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _table().set_axis(pd.RangeIndex(100, 160)).to_csv(src)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["impute", f"input={src}", f"output={out}", "model=tiny", "train.steps=3", "progress=false",
                     "holdout=0.1", "select=model", f"run_dir={tmp_path / 'run'}"]) == 0
    said = capsys.readouterr()
    assert "held back of ," not in said.out  # no cell of it held back
    assert [str(w.message) for w in caught].count(
        "column '' holds row numbers (100..159, the index pandas' to_csv writes): left out of the model, "
        "its cells kept as they are (the ingest option 'columns={\"\": numeric}' keeps it in)") == 1
    a = pd.read_csv(src, dtype=str, keep_default_na=False)
    b = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(b.columns) == list(a.columns)
    assert b.iloc[:, 0].tolist() == a.iloc[:, 0].tolist()  # '100' .. '159' as written
    assert (b["alcohol"] != "").all() and (b["ash"] == a["ash"]).all()


# ------------------------------------------------------------------ integer spelling

def test_whole_fills_are_spelled_as_the_column_writes_its_numbers():
    given = pd.DataFrame({"plain": ["118", "", "-3"], "signed": ["+118", "", "-3"],
                          "sci": ["1.060e+03", "", "4.800e+02"], "SCI": ["1.060E+03", "", "4.800E+02"],
                          "dec": ["1.50", "", "2.25"], "point0": ["2.0", "", "3.0"], "odd": ["+1", "", "2"],
                          "minus": ["-4", "", "-3"]})
    fills = {"plain": "101.0", "signed": "101.0", "sci": "688.0", "SCI": "12345.0", "dec": "3.0",
             "point0": "5.0", "odd": "7.0", "minus": "2.0"}
    new = given.copy()
    for c, v in fills.items():
        new.loc[1, c] = v
    kept = np.ones(given.shape, bool)
    kept[1] = False
    out = _integers_as_given(given, new, kept, given)
    # 12345 has no 4-digit mantissa (1.234E+04 is 12340): the integer; a column with decimals
    # ("1.50", "2.0") keeps pandas' text; a sign on some numbers only is no form of its own
    expected = {"plain": "101", "signed": "+101", "sci": "6.880e+02", "SCI": "12345", "dec": "3.0",
                "point0": "5.0", "odd": "7", "minus": "2"}  # negatives' minus is no form of its own
    assert out.loc[1].to_dict() == expected
    assert out.drop(index=1).equals(given.drop(index=1))  # observed cells untouched
    # a fill with a fraction keeps pandas' text; so does one that is no number
    new.loc[1, "signed"], new.loc[1, "plain"] = "101.5", "nan"
    out = _integers_as_given(given, new, kept, given)
    assert out.loc[1, "signed"] == "101.5" and out.loc[1, "plain"] == "nan"


def test_as_written_puts_a_signed_and_an_exponent_fill_in_the_columns_form(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("signed,sci,dec\n+118,1.060e+03,1.50\n,,\n-3,4.800e+02,2.25\n")
    data = read_table(str(src)).frame
    filled = data.copy()
    filled.iloc[1] = [101.0, 688.0, 1.75]
    out = as_written(str(src), str(tmp_path / "out.csv"), data, filled, None)
    assert out.iloc[1].tolist() == ["+101", "6.880e+02", "1.75"]
    reference = pd.read_csv(src, dtype=str)  # the observed cells as the file writes them
    assert out.drop(index=1).reset_index(drop=True).equals(reference.drop(index=1).reset_index(drop=True))


@pytest.mark.slow  # a tiny model fitted: several seconds on 2 cores
@pytest.mark.parametrize("shuffled", [False, True])  # a shuffled frame's labels: since session 56
def test_encoder_imputer_leaves_unnamed_row_numbers_out_whatever_it_holds_back(shuffled):
    """pd.read_csv of a df.to_csv() file has the row numbers as 'Unnamed: 0': left out of the
    model as ingest leaves them, also where select=auto holds cells back (a cell held back of
    them made a hole, and the fit took them for data)."""
    from encoderkit.sklearn import EncoderImputer

    frame = _table()
    x = pd.read_csv(io.StringIO((frame.sample(frac=1, random_state=1) if shuffled else frame).to_csv()))
    assert x.columns[0] == "Unnamed: 0"  # the reference: pandas' own name for it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = EncoderImputer(model="tiny", steps=2, select="auto", random_state=0).fit_transform(x)
    assert any("'Unnamed: 0' holds row numbers" in str(w.message) for w in caught)
    assert np.array_equal(np.asarray(out)[:, 0], x.iloc[:, 0].to_numpy())
    assert not pd.DataFrame(np.asarray(out, dtype=float)).isna().any().any()
