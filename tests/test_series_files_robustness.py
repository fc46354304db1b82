"""Malformed and unusual series files (``.ts``, UCR ``.tsv`` / ``.txt``, text tables by
their names, compressed): what a valid one reads as (hand-written expected values, aeon's
loader where it reads the file right) and the one line naming the file and the line that
refuses a bad one. Found by a sweep of the command line over such files."""

from __future__ import annotations

import bz2
import gzip
import io
import zipfile

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from domains.timeseries.archives import read_ts, read_ucr
from domains.timeseries.files import file_kind
from encoderkit import cli
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError
from encoderkit.tasks.label_files import read_table
from encoderkit.tasks.labels import align, record_ids

HEAD = "@problemName w\n@univariate true\n@equalLength {eq}\n{label}\n@data\n"


def _write(path, content) -> str:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


def _ts(tmp_path, body: str, label: str = "@classLabel true A B", eq: str = "false",
        name: str = "x.ts") -> str:
    pytest.importorskip("aeon")  # .ts files are read by aeon, an optional dependency
    return _write(tmp_path / name, HEAD.format(eq=eq, label=label) + body)


def _ingest(path: str, out, **options) -> RecordStore:
    ingest("timeseries", [path], str(out), progress=False, verbose=False, **options)
    return RecordStore(str(out))


def _series(store: RecordStore) -> list[list[float]]:
    return [np.asarray(store[i]["values"], dtype=np.float64).tolist() for i in range(len(store))]


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in members.items():  # a fixed date: the same bytes in every pytest worker
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


# ------------------------------------------------------------------ text tables
@pytest.mark.parametrize("name, text, where", [
    ("x.tsv", "a\tb\n1\t2\t3\n4\t5\n", "line 2 has 3 fields where the header has 2"),
    ("x.csv", "a,b\n1,2\n3,4,5\n", "line 3 has 3 fields where the header has 2"),
    ("x.csv.gz", gzip.compress(b"a,b\n1,2,9\n", mtime=0), "line 2 has 3 fields"),
    ("x.csv.zip", _zip({"x.csv": "a,b\n1,2\n3\n"}), "line 3 has 1 field(s) where the header has 2"),
    ("x.tsv", "a,b\n1,2\n", "the header line is comma-separated, but the file's name says tab-separated"),
    ("x.csv", "a;b\n1;2\n", "the header line is semicolon-separated"),
    ("x.csv", "a,b\n1,2\n".encode("utf-16"), "is UTF-16 text"),
    ("x.csv.zip", _zip({"a.csv": "a\n1\n", "b.csv": "a\n1\n"}), "this one holds 2 (a.csv, b.csv)"),
    ("x.csv.gz", gzip.compress(bytes(range(256)) * 4, mtime=0), "not valid text"),  # binary: no separator word
])
def test_a_bad_table_row_is_named(tmp_path, name, text, where):
    """A row longer than the header made pandas take the first column as the index (an
    IndexError traceback at ingest, shifted cells at predict); a short row in a .zip was
    read as missing values; other separators and UTF-16 as one column of text."""
    path = _write(tmp_path / name, text)
    with pytest.raises(DataError) as e:
        _ingest(path, tmp_path / "s.zarr")
    assert where in str(e.value) and path in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize("name, text", [
    ("x.tsv", "a\tb\n1\t2\t\n3\t4\t\n"),            # a trailing separator on the rows
    ("x.tsv", "\ufeffa\tb\r\n1\t2\r\n3\t4\r\n"),     # a byte-order mark, CRLF
    ("x.csv.zip", _zip({"x.csv": "a,b\n1,2\n3,4\n"})),
])
def test_unusual_but_valid_tables_read_as_written(tmp_path, name, text):
    store = _ingest(_write(tmp_path / name, text), tmp_path / "s.zarr")
    assert _series(store) == [[1.0, 3.0, 2.0, 4.0]]  # channel-major: a then b
    back = TimeSeriesDomain(store.schema).read_input(str(tmp_path / name))
    assert list(back.columns) == ["a", "b"] and back.to_numpy().tolist() == [[1, 2], [3, 4]]


# ------------------------------------------------------------------ UCR files
UCR = "1\t1.5\t2.5\tNaN\n2\t4\t5\t6\n"
UCR_SERIES = [[1.5, 2.5], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize("name, content", [
    ("x.tsv.gz", gzip.compress(UCR.encode(), mtime=0)),
    ("x.tsv.bz2", bz2.compress(UCR.encode())),
    ("x.tsv", "\ufeff" + UCR),                       # a byte-order mark before the first class
    ("x.tsv", UCR.replace("\n", "\r\n")),
])
def test_compressed_and_bom_ucr_files_are_ucr(tmp_path, name, content):
    """A .tsv.gz of the archive was read as a wide table (one record of every number), and
    a byte-order mark hid the first line's class, so the first series became a header."""
    path = _write(tmp_path / name, content)
    assert file_kind(path) == "ucr"
    assert [s[0].tolist() for s in read_ucr(path).series] == UCR_SERIES
    assert read_ucr(path).labels == ["1", "2"]
    assert _series(_ingest(path, tmp_path / "s.zarr")) == UCR_SERIES


def test_a_ucr_tsv_with_word_classes_is_read_as_ucr(tmp_path):
    """Classes written as words (the first line is no longer all numbers) were read as a
    header: at predict the class column was dropped without a word."""
    path = _write(tmp_path / "w.tsv", "Up\t1\t2\t4\nDown\t4\t5\nUp\t7\t8\t9\n")
    assert file_kind(path) == "ucr"
    store = _ingest(path, tmp_path / "s.zarr")
    assert _series(store) == [[1, 2, 4], [4, 5], [7, 8, 9]]
    domain = TimeSeriesDomain(store.schema)
    assert [r["id"] for r in domain.read_records(path)] == ["w.tsv[0]", "w.tsv[1]", "w.tsv[2]"]
    assert read_table(path, domain)["label"].tolist() == ["Up", "Down", "Up"]
    # a wide table of the same shape keeps its reader when a column role says it is one
    table = _write(tmp_path / "t.tsv", "date\t0\t1\n2020-01-01\t1\t2\n2020-01-02\t3\t4\n")
    assert file_kind(table) == "csv" and file_kind(table, table=True) == "csv"
    assert _series(_ingest(table, tmp_path / "t.zarr", time_column="date")) == [[1, 3, 2, 4]]
    # .txt / .csv need format=ucr, and the refusal says so
    txt = _write(tmp_path / "w.txt", "Up 1 2 4\nDown 4 5 6\n")
    with pytest.raises(DataError, match="format=ucr") as e:
        _ingest(txt, tmp_path / "x.zarr")
    assert txt in str(e.value)
    assert _series(_ingest(txt, tmp_path / "u.zarr", format="ucr")) == [[1, 2, 4], [4, 5, 6]]


def test_a_ucr_txt_read_back_without_format_is_refused_as_at_ingest(tmp_path):
    """predict on an archive .txt of a store ingested without format=ucr read the numbers
    as a header and failed with "no numeric channel columns"."""
    path = _write(tmp_path / "x.txt", "  1.0  1.5  2.5\n  2.0  4.5  5.5\n")
    with pytest.raises(DataError, match="format=ucr") as e:
        TimeSeriesDomain({}).read_input(path)
    assert path in str(e.value)


@pytest.mark.parametrize("text, where, what", [
    ("1\n2\n", "line 1 (series 1)", "no values after the class '1'"),   # labels only
    ("1\tNaN\tNaN\n", "line 1 (series 1)", "every value after the class '1' is missing"),
])
def test_a_ucr_line_without_values_is_named(tmp_path, text, where, what):
    """A one-column .tsv was a wide table with the header '1' (one series of the rest)."""
    path = _write(tmp_path / "x.tsv", text)
    with pytest.raises(DataError) as e:
        _ingest(path, tmp_path / "s.zarr")
    assert where in str(e.value) and what in str(e.value) and path in str(e.value), str(e.value)


# ------------------------------------------------------------------ .ts files
@pytest.mark.parametrize("body, label, eq, where, what", [
    ("1,2,3\n4,5,6\n", "", "true", "", "no @classLabel line"),
    ("1,2,3:A\n1,2,3:B\n", "", "true", "", "no @classLabel line"),
    ("1,2,3\n4,5,6:B\n", "@classLabel true A B", "true", "line 6 (series 1)", "no class"),
    ("1,2,3:A\n4,5,6,7,8:B\n", "@classLabel true A B", "true", "line 7 (series 2)", "@equalLength false"),
    ("(0,1),(1,2):A\n", "@timeStamps true\n@classLabel true A B", "true", "", "@timeStamps true"),
    ("1,2:3,4:A\n1,2:3,4:B\n", "@classLabel true A B", "true", "line 6 (series 1)",
     "2 channels (separated by ':'), but the header says @univariate true"),
])
def test_a_ts_file_aeon_misreads_is_refused_at_its_line(tmp_path, body, label, eq, where, what):
    """Without @classLabel aeon took each line's last channel for its class (every series
    empty: "all values missing" at ingest, a featurize error at evaluate); a line without
    its class was reported at the next line with "Expecting 0 dimensions"; time stamps,
    which aeon does not read, as "could not convert string to float: ''"."""
    path = _ts(tmp_path, body, label=label, eq=eq)
    with pytest.raises(DataError) as e:
        read_ts(path)
    msg = str(e.value)
    assert path in msg and where in msg and what in msg and "\n" not in msg, msg


def test_a_ts_file_with_classlabel_false_or_a_target_still_reads(tmp_path):
    pytest.importorskip("aeon")
    from aeon.datasets import load_from_ts_file

    for label, labels in (("@classLabel false", None), ("@targetLabel true", ["1.5", "2.5"])):
        path = _ts(tmp_path, "1,2,3" + (":1.5" if labels else "") + "\n4,5" + (":2.5" if labels else "")
                   + "\n", label=label)
        x, _ = load_from_ts_file(path)
        archive = read_ts(path)
        assert [s.tolist() for s in archive.series] == [np.asarray(s).tolist() for s in x]
        assert archive.labels == labels


# ------------------------------------------------------------------ an archive file as labels
def test_labels_skip_the_series_ingest_skips(tmp_path):
    """A series with no value observed is not ingested: its label named a record that does
    not exist ("matches no record of the store"), so the file could not label its store."""
    path = _ts(tmp_path, "1,2,3:A\n?,?,?:B\n4,5,6:B\n7,8:A\n")
    store = _ingest(path, tmp_path / "s.zarr")
    assert len(store) == 3
    domain = TimeSeriesDomain(store.schema)
    labels = align(read_table(path, domain), record_ids(store), path, token=False)
    assert labels.values == ["A", "B", "A"] and labels.labelled.all()


def test_labels_from_another_file_of_the_same_name_are_refused(tmp_path):
    """A file named as the ingested one but with fewer series labelled the first of them
    and trained on those without a word."""
    store = _ingest(_ts(tmp_path, "1,2,3:A\n4,5,6:B\n7,8:A\n1,1:B\n"), tmp_path / "s.zarr")
    (tmp_path / "other").mkdir()
    domain = TimeSeriesDomain(store.schema)
    for body, more in (("1,2,3:A\n4,5,6:B\n", "holds 2 series"), ("1:A\n2:B\n3:A\n4:B\n5:A\n", "holds 5 series")):
        other = _ts(tmp_path / "other", body)
        with pytest.raises(DataError) as e:
            align(read_table(other, domain), record_ids(store), other, token=False)
        msg = str(e.value)
        assert msg.startswith(f"{other}: {more}") and "records named after a file x.ts are 4" in msg, msg
    elsewhere = _ts(tmp_path, "1,2:A\n", name="y.ts")
    with pytest.raises(DataError, match=r"none of its 1 series is a record here: ids y.ts\[0\]") as e:
        align(read_table(elsewhere, domain), record_ids(store), elsewhere, token=False)
    assert str(e.value).startswith(f"{elsewhere}: none of its 1 series")
    # named as given (relative): the quoted ids hold the name, and the file still leads
    with pytest.raises(DataError) as e:
        align(read_table(elsewhere, domain), record_ids(store), "y.ts", token=False)
    assert str(e.value).startswith("y.ts: none of its 1 series"), str(e.value)


def test_cli_a_longer_row_is_one_line_and_writes_nothing(tmp_path, capsys):
    path = _write(tmp_path / "x.tsv", "a\tb\n1\t2\t3\n")
    out = tmp_path / "s.zarr"
    assert cli.main(["ingest", "domain=timeseries", f"input={path}", f"output={out}"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{path}: line 2 has 3 fields" in err, err
    assert not out.exists()



@pytest.mark.parametrize("name", ["f.csv", "f.tsv.gz", "f.npy"])
def test_a_filled_file_gets_the_mode_of_a_created_file(tmp_path, name):
    """Outputs went through ``tempfile.mkstemp`` and kept its 0600: a filled file in a
    shared folder was readable by its owner only."""
    import os
    import stat
    from types import SimpleNamespace

    import pandas as pd

    from domains.tabular import TabularDomain

    mask = os.umask(0o022)
    try:
        data = np.arange(6.0).reshape(2, 3) if name.endswith(".npy") else pd.DataFrame({"a": [1.5, 2.5]})
        TimeSeriesDomain({}).write_output(data, str(tmp_path / name))
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644
        if name == "f.csv":
            # the table domain's writer, as a store's domain calls it (only its schema is read)
            TabularDomain.write_output(SimpleNamespace(schema={}), data, str(tmp_path / "t.csv"))
            assert stat.S_IMODE(os.stat(tmp_path / "t.csv").st_mode) == 0o644
    finally:
        os.umask(mask)


@pytest.mark.parametrize("name, sep", [("p.csv.gz", ","), ("p.tsv.bz2", "\t"), ("p.csv.zip", ","),
                                       ("p.tab", "\t"), ("p.csv.xz", ",")])
def test_predictions_are_written_compressed_by_their_name(tmp_path, name, sep):
    """predict refused output=preds.csv.gz although series tables are read and filled
    compressed by their names."""
    import pandas as pd

    from encoderkit.tasks.predict import write_frame

    frame = pd.DataFrame({"id": ["x.ts[0]", "x.ts[1]"], "prediction": ["A", "B"]})
    write_frame(frame, tmp_path / name)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name, sep=sep), frame)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left
    if name.endswith(".zip"):
        assert zipfile.ZipFile(tmp_path / name).namelist() == ["p.csv"]


@pytest.mark.parametrize("name", ["p.parquet.gz", "p.json", "p.npy.gz"])
def test_a_predictions_name_of_no_table_is_a_usage_error(tmp_path, name):
    from encoderkit.errors import UsageError
    from encoderkit.tasks.predict import write_frame

    with pytest.raises(UsageError, match="must end in .csv, .tsv or .parquet"):
        write_frame(None, tmp_path / name)
    assert not any(tmp_path.iterdir())


def test_a_text_cell_in_a_channel_is_refused_when_read_back_as_at_ingest(tmp_path):
    """predict / embed / evaluate on a raw table read a channel with one text cell as a text
    column and left the whole channel out without a word (ingest refuses the cell); a column
    with no number in it (a note) is still left out."""
    path = _write(tmp_path / "x.csv", "a,b,note\n1,2,ok\nx,3,ok\n4,5,\n")
    with pytest.raises(DataError) as e:
        _ingest(path, tmp_path / "s.zarr", channels=["a", "b"])
    domain = TimeSeriesDomain({})
    with pytest.raises(DataError) as back:
        domain.read_records(path)
    for msg in (str(e.value), str(back.value)):
        assert path in msg and "non-numeric cell 'x' at data row 2 (line 3), column 'a'" in msg, msg
    fine = _write(tmp_path / "y.csv", "a,b,note\n1,2,ok\n3,3,ok\n")
    assert np.asarray(domain.read_records(fine)[0]["values"]).tolist() == [1, 3, 2, 3]


def test_a_series_without_an_observed_value_is_warned_about_when_read_back(tmp_path):
    """ingest skips a series with no observed value; predict / embed / evaluate on the raw
    file keep a row per series, so the reader names the empty ones in a warning."""
    path = tmp_path / "x.npz"
    np.savez(path, a=np.array([[1.0, 2.0, 3.0]]), b=np.full((1, 3), np.nan), c=np.array([[np.nan, 4.0, np.nan]]))
    domain = TimeSeriesDomain({})
    with pytest.warns(UserWarning, match=r"1 series with no observed value \(x\.npz:b\)") as got:
        records = domain.read_records(str(path))
    assert [r["id"] for r in records] == ["x.npz:a", "x.npz:b", "x.npz:c"] and len(got) == 1
    arr = np.array([[[1.0, 2.0]], [[np.nan, np.nan]], [[3.0, np.nan]]])
    np.save(tmp_path / "y.npy", arr)
    with pytest.warns(UserWarning, match=r"y\.npy\[1\]"):
        domain.read_records(str(tmp_path / "y.npy"))
    import warnings

    np.save(tmp_path / "z.npy", arr[[0, 2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a value in every series: no warning
        domain.read_records(str(tmp_path / "z.npy"))
