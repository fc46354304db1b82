"""CSV rows that end with a separator the header lacks (``time,a,b`` over ``2020-01-01,1,2,``).

pandas reads such a file with its first column as the row index unless told
``index_col=False``: every cell one column over. The series reader read it right, but the
integer pass (``textfiles.keep_integer_columns``), impute's copy of the file's text
(``impute_cells.as_written``), impute's layout guess and the labels readers did not, so a
channel became all missing (impute refused "no observed value") and a labels file's ids
became its index. The reference is pandas' own ``read_csv(index_col=False)``; the filled file
keeps the separator ending each data row, so it differs from the input only where filled.
"""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.io import read_frame
from encoderkit.data.textfiles import keep_integer_columns, open_text, rows_end_with_separator
from encoderkit.impute_cells import as_written
from encoderkit.impute_layout import time_column
from encoderkit.tasks.label_files import read_table as read_labels

FILL = 99.5
PACKED = {"gzip": ".gz", "zip": ".zip", "zstd": ".zst"}


def _write(path, text: str, case: str) -> None:
    """``text`` to ``path``, compressed as ``case`` names it (the input a user gives)."""
    data = text.encode()
    if case == "gzip":
        path.write_bytes(gzip.compress(data))
    elif case == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(path.name[: -len(".zip")], data)
    elif case == "zstd":
        path.write_bytes(pytest.importorskip("zstandard").ZstdCompressor().compress(data))
    else:
        path.write_bytes(data)


def _text(path) -> str:
    """A written file's text, decompressed by its name (``textfiles.open_text``: as the readers open it)."""
    with open_text(path) as fh:
        return fh.read()


def _series_text(sep: str = ",", newline: str = "\n", quoted: bool = False, header_end: bool = False) -> str:
    """60 days of two channels, ``a`` whole numbers, holes in both, every data row ending with ``sep``."""
    days = pd.date_range("2020-01-01", periods=60, freq="D").strftime("%Y-%m-%d")
    rows = []
    for i, day in enumerate(days):
        a = "" if i in (10, 11, 30) else str(20 + i % 7)
        b = "" if i in (20, 40) else f"{np.sin(i / 5):.3f}"
        rows.append(sep.join([f'"{day}"' if quoted else day, a, b]) + sep)
    header = sep.join(["time", "a", "b"]) + (sep if header_end else "")
    return newline.join([header, *rows]) + newline


def _reference(path, sep: str = ",") -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, index_col=False, dtype_backend="numpy_nullable")


def test_the_integer_pass_reads_the_columns_where_pandas_puts_them(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(_series_text())
    ref = _reference(path)
    assert list(ref.columns) == ["time", "a", "b"]  # index_col=False drops the empty last field
    frame = keep_integer_columns(pd.read_csv(path, index_col=False), path)
    assert str(frame["a"].dtype) == "Int64"  # whole numbers with holes: written back as 21, not 21.0
    pd.testing.assert_series_equal(frame["a"], ref["a"])
    np.testing.assert_array_equal(frame["b"].to_numpy(np.float64, na_value=np.nan),
                                  ref["b"].to_numpy(np.float64, na_value=np.nan))
    read = read_frame(str(path), ["time"])  # the frame infill / impute fill
    assert read["a"].notna().sum() == 57 and read["b"].notna().sum() == 58  # b was all missing


@pytest.mark.parametrize("case", ["plain", "crlf", "quoted", "tab", "gzip", "zip", "zstd", "header_too"])
def test_a_series_file_is_filled_in_its_own_columns_and_written_back_as_it_came(tmp_path, case):
    sep = "\t" if case == "tab" else ","
    text = _series_text(sep, "\r\n" if case == "crlf" else "\n", quoted=case == "quoted",
                        header_end=case == "header_too")
    name = "x.tsv" if case == "tab" else "x.csv" + PACKED.get(case, "")
    src, out = tmp_path / name, tmp_path / ("out" + name[1:])
    _write(src, text, case)
    d = TimeSeriesDomain({}, time_column="time")
    data = d.read_input(str(src))
    filled = data.copy()
    for c in ("a", "b"):
        filled[c] = filled[c].astype("Float64").fillna(FILL)
    d.write_output(as_written(str(src), str(out), data, filled, None), str(out))  # as impute writes it
    ref = _reference(src, sep)
    got = _reference(out, sep)
    assert list(got.columns) == list(ref.columns)
    for c in ("a", "b"):  # every observed value in its own column, the holes filled
        expected = ref[c].astype("Float64").fillna(FILL).to_numpy(np.float64)
        np.testing.assert_array_equal(got[c].to_numpy(np.float64), expected)
    written = _text(out)
    if case != "quoted":  # pandas quotes only where it must: the quoted dates come back bare
        # the input's text with each hole filled: a diff shows the filled lines only
        lines_in, lines_out = text.split("\n"), written.split("\n")
        changed = [i for i, (x, y) in enumerate(zip(lines_in, lines_out)) if x != y]
        assert len(lines_out) == len(lines_in) and changed == [11, 12, 21, 31, 41]
        assert all(line.rstrip("\r").endswith(sep) for line in lines_out[1:-1])


@pytest.mark.slow  # encoderkit impute end to end: a tiny model fitted
def test_impute_fills_such_a_series_file_and_a_diff_shows_only_the_fills(tmp_path, capsys):
    """The previous session's report: ``encoderkit impute`` refused the file ("column 'b' has
    no observed value"); with the read alone fixed, the write-back shifted the values."""
    from encoderkit.cli import main

    src, out = tmp_path / "x.csv", tmp_path / "y.csv"
    text = _series_text()
    src.write_text(text)
    code = main(["impute", f"input={src}", f"output={out}", "model=tiny", "train.steps=3", "progress=false",
                 "select=model", f"run_dir={tmp_path / 'run'}"])
    assert code == 0, capsys.readouterr().err
    assert "impute timeseries: filled 5 cell(s)" in capsys.readouterr().out
    ref, got = _reference(src), _reference(out)
    observed = ref[["a", "b"]].notna().to_numpy()
    assert got[["a", "b"]].notna().all().all()
    assert (got[["a", "b"]].to_numpy(np.float64)[observed] == ref[["a", "b"]].to_numpy(np.float64)[observed]).all()
    lines_in, lines_out = text.split("\n"), out.read_text().split("\n")
    assert [i for i, (x, y) in enumerate(zip(lines_in, lines_out)) if x != y] == [11, 12, 21, 31, 41]


def test_rows_end_with_separator_asks_every_data_row(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("t,a\n1,2,\n2,3,\n")
    assert rows_end_with_separator(path)
    path.write_text("t,a\n1,2,\n2,3\n")  # one row without: written back without (no form to keep)
    assert not rows_end_with_separator(path)
    path.write_text("t,a,\n1,2,\n")  # the header too: a blank column, kept as one
    assert not rows_end_with_separator(path)


def test_the_impute_guess_reads_the_columns_where_they_are(tmp_path):
    """``impute`` guesses the time column from the file's head; read with the first column as
    the index, it looked at ``a`` under the name ``time``."""
    path = tmp_path / "x.csv"
    path.write_text(_series_text().replace("time,", "when,"))
    assert time_column(str(path)) == "when"


@pytest.mark.parametrize("sep,name", [(",", "labels.csv"), ("\t", "labels.tsv")])
def test_a_labels_file_whose_rows_end_with_a_separator_keeps_its_ids(tmp_path, sep, name):
    path = tmp_path / name
    path.write_text(f"id{sep}label\n" + "".join(f"s{i}{sep}{i % 2}{sep}\n" for i in range(5)))
    got = read_labels(path)
    ref = pd.read_csv(path, sep=sep, dtype=str, index_col=False)
    assert list(got.columns) == ["id", "label"]
    assert got["id"].tolist() == ref["id"].tolist() == [f"s{i}" for i in range(5)]
    assert got["label"].tolist() == ref["label"].tolist()


@pytest.mark.parametrize("rows,said", [
    ("a,1,x\nb,0,y\n", "line 2 has 3 fields where the header has 2"),  # read by index_col=False: x, y dropped
    ("a,1\nb\nc,0\n", r"line 3 has 1 field\(s\) where the header has 2"),  # read as a missing label
])
def test_a_labels_file_with_rows_of_another_width_is_refused_naming_the_line(tmp_path, rows, said):
    from encoderkit.errors import DataError

    path = tmp_path / "labels.csv"
    path.write_text("id,label\n" + rows)
    with pytest.raises(DataError, match=said):
        read_labels(path)


def test_the_probe_readers_keep_ids_and_labels_in_their_columns(tmp_path):
    """``encoderkit probe``: an embeddings table and a labels table with rows ending in ``,``."""
    from encoderkit.infer.cli import _read_labels
    from encoderkit.infer.probe import read_embeddings

    emb, labels = tmp_path / "emb.csv", tmp_path / "y.csv"
    emb.write_text("id,x\na,1.5,\nb,2.5,\nc,3.5,\n")
    labels.write_text("id,label\nc,1,\na,0,\nb,1,\n")
    x, ids = read_embeddings(emb)
    assert list(ids) == ["a", "b", "c"] and np.asarray(x, dtype=float).ravel().tolist() == [1.5, 2.5, 3.5]
    y = _read_labels(labels, ids, 3, None)
    assert np.asarray(y).astype(str).tolist() == ["0", "1", "1"]  # joined by id


# ------------------------------------------------------------------ tables

def _table_text(sep: str = ",", newline: str = "\n") -> str:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(40):
        x = rng.normal()
        cells = [f"{x:.3f}" if i % 9 else "", f"{2 * x:.3f}" if i % 7 else "", "red" if i % 3 else "blue"]
        rows.append(sep.join(cells) + sep)
    return newline.join([sep.join(["x", "y", "c"]), *rows]) + newline


@pytest.mark.parametrize("case", ["plain", "crlf", "tab", "gzip", "zip"])
def test_a_table_whose_rows_end_with_a_separator_is_read_and_written_back_so(tmp_path, case):
    """The table reader skipped every such row as ragged and refused the file ("name every
    column in the header"), while the series reader read it."""
    from domains.tabular.domain import TabularDomain
    from domains.tabular.reading import read_table
    from domains.tabular.schema import infer_schema

    sep = "\t" if case == "tab" else ","
    text = _table_text(sep, "\r\n" if case == "crlf" else "\n")
    name = "t.tsv" if case == "tab" else "t.csv" + PACKED.get(case, "")
    src, out = tmp_path / name, tmp_path / ("out" + name[1:])
    _write(src, text, case)
    read = read_table(str(src), keep_rows=True).frame
    ref = pd.read_csv(src, sep=sep, index_col=False)
    assert list(read.columns) == list(ref.columns) == ["x", "y", "c"]
    pd.testing.assert_frame_equal(read.astype(object), ref.astype(object))  # every cell where pandas puts it
    schema, _ = infer_schema(read, np.ones(len(read), bool))
    domain = TabularDomain(schema)
    data = domain.read_input(str(src))
    filled = data.assign(x=data["x"].fillna(FILL), y=data["y"].fillna(FILL))
    domain.write_output(as_written(str(src), str(out), data, filled, None), str(out))
    written = _text(out)
    assert written == text.replace(f"{sep}{sep}", f"{sep}{FILL}{sep}").replace(f"\n{sep}", f"\n{FILL}{sep}")


def test_the_streamed_ingest_reads_such_a_table_too(tmp_path, monkeypatch):
    from domains.tabular import streaming
    from encoderkit.data.ingest import ingest
    from encoderkit.data.store import RecordStore

    src = tmp_path / "t.csv"
    src.write_text(_table_text())
    monkeypatch.setattr(streaming, "STREAM_BYTES", 64)  # this file is "large": column by column
    ingest("tabular", [str(src)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    store = RecordStore(str(tmp_path / "s.zarr"))
    assert [c["name"] for c in store.schema["columns"]] == ["x", "y", "c"] and len(store) == 40


# ------------------------------------------------------------------ sets and long series

def test_a_sets_file_keeps_its_integer_features_in_their_columns(tmp_path):
    """The sets reader (infill's frame) reads integers with holes as ``Int64`` by the integer
    pass, which took ``set`` for the index: ``n`` then held ``x``'s values, one column over."""
    from domains.sets.io import read_csv_frame

    path = tmp_path / "sets.csv"
    path.write_text("set,x,n\n" + "".join(f"s{i // 4},{i * 0.5},{'' if i % 5 == 0 else i}," + "\n"
                                          for i in range(20)))
    frame = read_csv_frame(str(path), None, "set", keep_integers=True)
    ref = _reference(path)
    assert str(frame["n"].dtype) == "Int64"
    pd.testing.assert_series_equal(frame["n"], ref["n"])
    assert frame["x"].tolist() == ref["x"].astype(float).tolist()


def test_a_long_series_file_keeps_its_values_in_their_column(tmp_path):
    path = tmp_path / "long.csv"
    days = pd.date_range("2020-01-01", periods=30, freq="D").strftime("%Y-%m-%d")
    rows = [f"{d},{s},{'' if (i + k) % 7 == 0 else i + 10 * k},\n"
            for i, d in enumerate(days) for k, s in enumerate("AB")]
    path.write_text("time,site,value\n" + "".join(rows))
    d = TimeSeriesDomain({}, time_column="time", series_column="site", value_column="value")
    data = d.read_input(str(path))
    ref = _reference(path)
    assert list(data.columns) == ["time", "site", "value"]
    pd.testing.assert_series_equal(data["value"], ref["value"])  # Int64, holes where the file has them


def test_a_separator_ending_the_header_alone_is_named_as_such(tmp_path):
    """Every row one field short of a header ending in ``,``: the series reader said "write a
    missing value as an empty field, not by leaving its comma out", of every row of a file
    whose only flaw is the header's last separator (the table reader says to delete it)."""
    from encoderkit.data.textfiles import check_row_widths
    from encoderkit.errors import DataError

    path = tmp_path / "x.csv"
    path.write_text("time,a,b,\n2020-01-01,1,2\n2020-01-02,3,4\n")
    with pytest.raises(DataError, match=r"the header line ends with a separator \(a last column with no name\) "
                                        r"that line 2 does not have: delete it from the header"):
        check_row_widths(path)
    path.write_text("time,a,b\n2020-01-01,1\n")  # a named last column: a comma left out
    with pytest.raises(DataError, match="not by leaving its comma out"):
        check_row_widths(path)
