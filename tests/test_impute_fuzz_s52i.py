"""``encoderkit impute`` on files a property-based fuzzer generated (session 52, audit a):

- F1: a table with a separator ending every line (``a,b,c,``): the reader drops the empty
  nameless column, the written text then no longer lined up with the file and every observed
  number was rewritten (``1.50`` -> ``1.5``), the trailing separators dropped;
- F2: a series channel of yes / no values with missing cells (a Parquet ``boolean`` or bool
  column): a TypeError in the baseline, and a bool column's held-back copy written as text;
- F3: the held-back copy was ingested with its column kinds inferred again, so a column of
  percentages became an identifier once some cells were held back ("no usable column",
  naming ``/tmp/encoderkit-impute-*/holed.csv``);
- F4: a held-back 1e308 among small values stopped the fill ("too large for float32"),
  while ``holdout=0`` filled the file.

References: hand-written texts and values, the input's own schema, the input's cells.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import DataError
from encoderkit.impute import impute
from encoderkit.impute_cells import baseline_fill, channels, series_baselines, set_cells, with_hidden
from encoderkit.impute_holed import holed_error, holed_options, readable_holdout
from encoderkit.impute_read import read_input
from encoderkit.registry import get_domain

TINY = ("model.hidden_size=16", "model.num_layers=1", "model.num_heads=2",
        "model.intermediate_size=32", "train.steps=3")

TRAILING = "a,b,c,\n1.50,2.0,x,\n,4.00,y,\n3.10,,x,\n4.25,8.0,,\n5.00,10.0,y,\n6.75,12.0,x,\n"


def _read(path: Path, out: Path, domain: str = "tabular"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_input(get_domain(domain), domain, str(path), str(out), out.parent, {}, None, lambda s: None)


@pytest.mark.parametrize("sep, name", [(",", "t.csv"), ("\t", "t.tsv")])
def test_a_trailing_separator_is_written_back_with_each_observed_cell_as_written(tmp_path, sep, name):
    src, out = tmp_path / name, tmp_path / ("o" + Path(name).suffix)
    src.write_text(TRAILING.replace(",", sep))
    inp = _read(src, out)
    assert list(map(str, inp.data.columns)) == ["a", "b", "c"]  # the reader drops the empty column
    fills = {"a": (inp.data["a"].isna().to_numpy(), 2.25), "b": (inp.data["b"].isna().to_numpy(), 6.0),
             "c": (inp.data["c"].isna().to_numpy(), "y")}
    inp.write(set_cells(inp.data, fills, inp.columns), str(out))
    want = "a,b,c,\n1.50,2.0,x,\n2.25,4.00,y,\n3.10,6.0,x,\n4.25,8.0,y,\n5.00,10.0,y,\n6.75,12.0,x,\n"
    assert out.read_text() == want.replace(",", sep)


@pytest.mark.parametrize("text", [
    "a,b,c,,\n1.50,2.0,x,,\n,4.00,y,,\n3.10,,x,,\n",  # two empty columns at the end
    "a,,b,c\n1.50,,2.0,x\n,,4.00,y\n3.10,,,x\n",  # one in the middle
    "a,b,c, \r\n1.50,2.0,x,\r\n,4.00,y, \r\n3.10,,x,NA\r\n",  # a blank header cell of a space, CRLF
])
def test_the_dropped_empty_columns_go_back_where_they_were(tmp_path, text):
    src, out = tmp_path / "t.csv", tmp_path / "o.csv"
    src.write_bytes(text.encode())
    inp = _read(src, out)
    inp.write(inp.data, str(out))
    assert out.read_bytes() == text.encode()


def test_a_yes_no_channel_is_interpolated_to_the_nearer_of_yes_and_no():
    frame = pd.DataFrame({"v": pd.array([True, None, None, False, None, True], dtype="boolean")})
    (ch,) = channels(frame)
    visible = ~frame["v"].isna().to_numpy()
    (line,) = series_baselines([ch], [visible])
    # 1 -> 0 over two gaps: 2/3 and 1/3; 0 -> 1 over one: 1/2, which is yes
    assert line.tolist() == [True, True, False, False, True, True]
    assert baseline_fill(ch, visible, True).tolist() == line.tolist()


def test_a_hole_in_a_bool_column_is_a_missing_boolean():
    frame = pd.DataFrame({"v": [True, False, True], "x": [1.0, 2.0, 3.0]})
    out = with_hidden(frame, {"v": np.array([False, True, False])}, ["v", "x"])
    assert out["v"].dtype == "boolean"
    assert out["v"].tolist()[0] is True and out["v"].isna().tolist() == [False, True, False]


def test_a_parquet_bool_column_with_nulls_is_a_channel(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from domains.timeseries.parquet import read_series

    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"t": pa.array(pd.date_range("2020-01-01", periods=4)),
                             "v": pa.array([True, None, False, True])}), path)  # no pandas metadata
    (series,) = read_series(str(path), time_column="t")
    np.testing.assert_array_equal(series.values, [[1.0, np.nan, 0.0, 1.0]])


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_a_boolean_series_with_missing_values_is_filled_as_booleans(tmp_path):
    n = 24
    v = pd.array([bool(np.sin(i / 3) > 0) for i in range(n)], dtype="boolean")
    v[[4, 11, 17]] = pd.NA
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n), "v": v})
    src, out = tmp_path / "s.parquet", tmp_path / "o.parquet"
    frame.to_parquet(src)
    report = impute(str(src), str(out), progress=False, overrides=TINY)
    got = pd.read_parquet(out)
    assert got["v"].dtype == "boolean" and report.filled == {"v": 3}
    assert not got["v"].isna().any()
    seen = frame["v"].notna().to_numpy()
    assert got["v"][seen].tolist() == frame["v"][seen].tolist()


# 21 rows: `a` words each once (an identifier), `b` percentages (categories), 9 of them distinct
IDENT = ("a,b\njfihhd,87%\nbef djh,\na igebc  ,\nnan,39%\n,84%\n,22%\nadeha bfjda,\ngiaecgb,68%\n  ea,7%\n"
         "bcafabje ,\nffe,98%\ni jcad b,33%\n,\nfcidehjdbcaj,82%\njbfb d jcb,\njddic,\nabjac gh,\n,NA\n"
         " hc fi,\n eagfda,\n")


def test_the_held_back_copy_keeps_the_column_kinds_decided_on_the_input(tmp_path):
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    src = tmp_path / "t.csv"
    src.write_text(IDENT)
    inp = _read(src, tmp_path / "o.csv")
    kinds = {c["name"]: c["kind"] for c in inp.schema["columns"]}
    assert kinds == {"b": "categorical"} and "a" in inp.schema["dropped"]
    # three of b's values held back: each of the 6 left occurs once, an identifier when re-inferred
    hide = {"b": inp.data["b"].isin(["87%", "39%", "33%"]).to_numpy()}
    holed = tmp_path / "holed.csv"
    inp.reader.write_output(with_hidden(inp.data, hide, inp.columns), str(holed))
    options = holed_options(inp.schema, inp.ingest_options, "tabular", str(holed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest("tabular", [str(holed)], str(tmp_path / "train.zarr"), progress=False, verbose=False, **options)
    schema = RecordStore(str(tmp_path / "train.zarr")).schema
    assert {c["name"]: c["kind"] for c in schema["columns"]} == kinds
    assert "NA" in schema["columns"][0]["categories"]  # the word the input's text column kept


def test_a_table_whose_column_changed_kind_when_held_back_is_filled(tmp_path):
    src, out = tmp_path / "t.csv", tmp_path / "o.csv"
    src.write_text(IDENT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = impute(str(src), str(out), progress=False, overrides=TINY)
    assert report.holdout_cells > 0 and report.filled == {"b": 10}
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    given = pd.read_csv(src, dtype=str, keep_default_na=False)
    assert (got["a"] == given["a"]).all()
    seen = given["b"] != ""
    assert (got["b"][seen] == given["b"][seen]).all() and (got["b"][~seen] != "").all()


def test_a_huge_cell_is_not_held_back_where_the_rest_could_not_read_it():
    a = np.array([1.0, 2.0, 3.0, 1e308, 5.0, 6.0, 7.0, 8.0])
    chans = list(channels(pd.DataFrame({"a": a, "b": np.arange(8.0)})))
    hide = {"a": np.isin(np.arange(8), [1, 3]), "b": np.isin(np.arange(8), [3])}
    kept = readable_holdout(chans, hide)
    np.testing.assert_array_equal(np.flatnonzero(kept["a"]), [1])  # 1e308 stays visible; 2.0 held back
    np.testing.assert_array_equal(kept["b"], hide["b"])


def test_a_file_with_a_huge_value_is_filled_as_with_holdout_0(tmp_path):
    src, out = tmp_path / "t.csv", tmp_path / "o.csv"
    src.write_text("a,b\n1,2\n2,\n3,4\n1e308,5\n5,6\n6,\n7,8\n8,9\n")
    report = impute(str(src), str(out), progress=False, overrides=TINY)  # seed 0 drew the 1e308
    assert report.filled["b"] == 2 and sum(report.filled.values()) == 2
    assert out.read_text().splitlines()[4] == "1e308,5"


def test_an_error_on_the_held_back_copy_names_the_users_file():
    e = DataError("/tmp/w/holed.csv: column 'b': no usable column", file="/tmp/w/holed.csv")
    said = str(holed_error(e, "data/mine.csv", "/tmp/w/holed.csv", 3))
    assert "holed" not in said and said.startswith("data/mine.csv: column 'b'")
    assert "3 observed cell(s) held back" in said
