"""The classification archives' files (``domains/timeseries/archives.py``): ``.ts`` files
read as aeon reads them (the reference: aeon's own loader on its bundled archive files),
UCR ``.tsv`` / ``.txt`` lines read as the archive writes them, labels as written, and a
bad file refused in one line naming the file and the line."""

from __future__ import annotations

import os
import sys

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

aeon_datasets = pytest.importorskip("aeon.datasets")
BUNDLED = os.path.join(os.path.dirname(aeon_datasets.__file__), "data")

HEADER = ("@problemName hand\n@timestamps false\n@univariate {uni}\n@equalLength {eq}\n"
          "@classLabel true {classes}\n@data\n")


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _ts(tmp_path, body: str, uni: bool = False, eq: bool = False, classes: str = "Up down",
        name: str = "hand.ts") -> str:
    head = HEADER.format(uni=str(uni).lower(), eq=str(eq).lower(), classes=classes)
    return _write(tmp_path / name, head + body)


@pytest.mark.parametrize("name", ["ArrowHead", "BasicMotions", "JapaneseVowels", "PickupGestureWiimoteZ"])
def test_ts_series_and_labels_are_aeons(name):
    """Univariate and multivariate, equal and unequal length: the values aeon's loader
    gives, in file order, lengths kept; the labels aeon gives (aeon lowercases them)."""
    path = os.path.join(BUNDLED, name, f"{name}_TRAIN.ts")
    x, y = aeon_datasets.load_from_ts_file(path)
    got = read_ts(path)
    assert len(got.series) == len(x) == len(got.ids)
    for ours, ref in zip(got.series, x):
        assert ours.shape == np.shape(ref)
        np.testing.assert_array_equal(ours, ref)
    assert [lab.lower() for lab in got.labels] == [str(v) for v in y]
    assert got.ids[:2] == [f"{name}_TRAIN.ts[0]", f"{name}_TRAIN.ts[1]"]
    if name == "JapaneseVowels":  # unequal lengths stay unequal, 12 channels
        assert {s.shape[0] for s in got.series} == {12} and len({s.shape[1] for s in got.series}) > 1


@pytest.mark.parametrize("suffix,opener", [(".gz", "gzip"), (".xz", "lzma"), (".bz2", "bz2")])
def test_a_compressed_ts_file_reads_as_the_plain_one(tmp_path, suffix, opener):
    """x.ts.gz / .xz / .bz2: the series and labels of the plain file (aeon's loader on it is
    the reference), ingested and labelled by the compressed file's name; impute refuses it
    before training as it does a plain .ts."""
    import importlib

    src = os.path.join(BUNDLED, "ArrowHead", "ArrowHead_TRAIN.ts")
    packed = tmp_path / f"ArrowHead_TRAIN.ts{suffix}"
    with open(src, "rb") as fh:
        packed.write_bytes(importlib.import_module(opener).compress(fh.read()))
    assert file_kind(str(packed)) == "ts"
    x, y = aeon_datasets.load_from_ts_file(src)
    got = read_ts(str(packed))
    assert len(got.series) == len(x)
    for ours, ref in zip(got.series, x):
        np.testing.assert_array_equal(ours, ref)
    assert [lab.lower() for lab in got.labels] == [str(v) for v in y]
    ingest("timeseries", [str(packed)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    store = RecordStore(str(tmp_path / "s.zarr"))
    labels = TimeSeriesDomain({}).read_labels(str(packed))
    ids = [store[i]["id"] for i in range(len(store))]
    assert list(labels["id"]) == ids == [f"ArrowHead_TRAIN.ts{suffix}[{i}]" for i in range(len(x))]
    assert cli.main(["impute", f"input={packed}", f"output={tmp_path / 'out.csv'}", "train.steps=1"]) == 2
    assert not (tmp_path / "out.csv").exists()


def test_ucr_tsv_is_the_ts_file_and_aeons_tsv_loader():
    """The same archive problem in its two files gives the same series and labels; the
    .tsv also matches aeon's own (equal-length only) .tsv loader."""
    tsv = read_ucr(os.path.join(BUNDLED, "ArrowHead", "ArrowHead_TRAIN.tsv"))
    ts = read_ts(os.path.join(BUNDLED, "ArrowHead", "ArrowHead_TRAIN.ts"))
    x, y = aeon_datasets.load_from_tsv_file(os.path.join(BUNDLED, "ArrowHead", "ArrowHead_TRAIN.tsv"))
    np.testing.assert_array_equal(np.stack(tsv.series), x)
    assert tsv.labels == [str(v) for v in y] == ts.labels
    for a, b in zip(tsv.series, ts.series):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_hand_written_ts_keeps_missing_lengths_channels_and_label_case(tmp_path):
    path = _ts(tmp_path, "1,2,?,4:5,6,7,NaN:Up\n1,2:3,4:down\n\n")  # a trailing blank line is fine
    got = read_ts(path)
    np.testing.assert_array_equal(got.series[0], [[1, 2, np.nan, 4], [5, 6, 7, np.nan]])
    np.testing.assert_array_equal(got.series[1], [[1, 2], [3, 4]])
    assert got.labels == ["Up", "down"]  # as written: aeon alone would say "up"
    uni = read_ts(_ts(tmp_path, "0.5,1e3,-2:Up\n7:down\n", uni=True, name="uni.ts"))
    np.testing.assert_array_equal(uni.series[0], [[0.5, 1000.0, -2.0]])
    assert [s.shape for s in uni.series] == [(1, 3), (1, 1)]


def test_hand_written_ucr_strips_padding_and_keeps_inner_gaps(tmp_path):
    tsv = _write(tmp_path / "hand_TRAIN.tsv", "1\t0.5\tNaN\t2\tNaN\tNaN\n-1\t3\t4\t5\t6\t?\n2\t7\tNaN\tNaN\tNaN\tNaN\n")
    got = read_ucr(tsv)
    np.testing.assert_array_equal(got.series[0], [[0.5, np.nan, 2.0]])  # the gap inside stays
    np.testing.assert_array_equal(got.series[1], [[3, 4, 5, 6]])
    np.testing.assert_array_equal(got.series[2], [[7.0]])
    assert got.labels == ["1", "-1", "2"] and got.ids == ["hand_TRAIN.tsv[0]", "hand_TRAIN.tsv[1]",
                                                          "hand_TRAIN.tsv[2]"]
    # the older archive's .txt: commas, or white space, and scientific notation
    for text in ("1,0.5,2\n2,3,4\n", "  1.0000000e+00  5.0000000e-01  2.0000000e+00\n  2.0e+00  3.0  4.0\n"):
        txt = read_ucr(_write(tmp_path / "old.txt", text))
        np.testing.assert_array_equal(txt.series[0], [[0.5, 2.0]])
        assert len(txt.series) == 2 and txt.labels[1] in ("2", "2.0e+00")


def test_which_reader_a_file_gets(tmp_path):
    ucr = _write(tmp_path / "a.tsv", "1\t2\t3\n")
    wide = _write(tmp_path / "b.tsv", "x\ty\n1\t2\n")
    assert file_kind(ucr) == "ucr" and file_kind(wide) == "csv"
    assert file_kind(str(tmp_path / "c.ts")) == "ts" and file_kind(ucr, "csv") == "csv"
    txt = _write(tmp_path / "old.txt", "1,0.5,2\n2,3,4\n")
    assert file_kind(txt) == "csv"  # a .txt is a wide table unless format=ucr says otherwise
    with pytest.raises(DataError, match="format=ucr"):  # read as a header it would lose line 1
        ingest("timeseries", [txt], str(tmp_path / "x.zarr"), progress=False, verbose=False)
    ingest("timeseries", [txt], str(tmp_path / "x.zarr"), progress=False, verbose=False, format="ucr")
    store = RecordStore(str(tmp_path / "x.zarr"))
    assert [store[i]["id"] for i in range(2)] == ["old.txt[0]", "old.txt[1]"]
    # a store ingested with format=ucr reads the same .txt back as one, and its labels
    domain = TimeSeriesDomain(store.schema)
    assert domain.options["format"] == "ucr"
    assert [r["id"] for r in domain.read_records(txt)] == ["old.txt[0]", "old.txt[1]"]
    assert read_table(txt, domain)["label"].tolist() == ["1", "2"]
    table = _write(tmp_path / "labels.csv", "id,label\nold.txt[1],b\n")  # still a labels table
    assert read_table(table, domain)["label"].tolist() == ["b"]
    named = _write(tmp_path / "named.txt", "standing 1.5 2.5\nwalking 3 4\n")  # classes as words
    assert read_table(named, domain)["label"].tolist() == ["standing", "walking"]
    # a table written from an array names its columns 0, 1, ...: still a wide table
    numbered = _write(tmp_path / "numbered.csv", "0,1\n1.5,2.5\n3.5,4.5\n")
    ingest("timeseries", [numbered], str(tmp_path / "n.zarr"), progress=False, verbose=False)
    assert int(RecordStore(str(tmp_path / "n.zarr"))[0]["channels"]) == 2


def test_ingested_store_holds_the_archive_series(tmp_path):
    path = os.path.join(BUNDLED, "JapaneseVowels", "JapaneseVowels_TRAIN.ts")
    x, _ = aeon_datasets.load_from_ts_file(path)
    ingest("timeseries", [path], str(tmp_path / "jv.zarr"), progress=False, verbose=False)
    store = RecordStore(str(tmp_path / "jv.zarr"))
    assert len(store) == len(x)
    for i in (0, 1, len(x) - 1):
        rec = store[i]
        assert rec["id"] == f"JapaneseVowels_TRAIN.ts[{i}]"
        assert (int(rec["channels"]), int(rec["length"])) == x[i].shape
        np.testing.assert_array_equal(np.asarray(rec["values"]), x[i].astype(np.float32).reshape(-1))


def test_labels_from_the_data_file_join_the_store(tmp_path):
    from encoderkit.tasks.labels import align, record_ids

    path = os.path.join(BUNDLED, "BasicMotions", "BasicMotions_TRAIN.ts")
    ingest("timeseries", [path], str(tmp_path / "bm.zarr"), progress=False, verbose=False)
    store = RecordStore(str(tmp_path / "bm.zarr"))
    domain = TimeSeriesDomain(store.schema)
    frame = read_table(path, domain)
    labels = align(frame, record_ids(store), path, token=False)
    _, y = aeon_datasets.load_from_ts_file(path)
    assert labels.labelled.all() and [str(v).lower() for v in labels.values] == [str(v) for v in y]
    assert labels.values[0] == "Standing"  # the class as the file writes it (aeon: "standing")
    # a labels CSV is still a labels CSV, and a .ts without labels cannot label anything
    csv = _write(tmp_path / "labels.csv", "id,label\nBasicMotions_TRAIN.ts[0],x\n")
    assert read_table(csv, domain)["label"].tolist() == ["x"]
    bare = _write(tmp_path / "bare.ts", "@problemName b\n@univariate true\n@equalLength true\n"
                                        "@classLabel false\n@data\n1,2,3\n4,5,6\n")
    assert len(read_ts(bare).series) == 2 and read_ts(bare).labels is None
    with pytest.raises(DataError, match="holds no labels") as e:
        read_table(bare, domain)
    assert "bare.ts" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("body, uni, where, what", [
    ("1,2,3:4,5,6:Up\n1,2,3:down\n", False, "line 8 (series 2)", "1 channel(s) where the series before it have 2"),  # channels
    ("1,x,3:4,5,6:Up\n", False, "line 7 (series 1)", "'x' is not a number"),
    ("1,2,3:4,5:Up\n", False, "line 7 (series 1)", "different number of observations"),
    ("1,2:Up\n\n3,4:down\n", True, "line 8 (series 2)", "blank line"),
    ("1,2:Up\n3,4:sideways\n", True, "line 8 (series 2)", "'sideways' is not among the classes the @classLabel line declares (Up, down)"),
])
def test_a_bad_ts_line_is_named(tmp_path, body, uni, where, what):
    path = _ts(tmp_path, body, uni=uni)
    with pytest.raises(DataError) as e:
        read_ts(path)
    msg = str(e.value)
    assert path in msg and where in msg and what in msg and "\n" not in msg, msg


@pytest.mark.parametrize("text, what", [
    ("", "the file is empty"),
    ("@problemName x\n@classLabel true a\n", "no @data line"),
    ("@problemName x\n@classLabel true a\n@data\n", "no series after the @data line"),
    ("1,2,3:a\n", "no @data line"),
])
def test_a_ts_file_without_series_is_refused(tmp_path, text, what):
    path = _write(tmp_path / "x.ts", text)
    with pytest.raises(DataError, match=what):
        read_ts(path)


@pytest.mark.parametrize("text, where, what", [
    ("1\t2\t3\n2\t4\tabc\n", "line 2 (series 2)", "value 2 is 'abc'"),
    ("1\t2\t3\n\n2\tNaN\tNaN\n", "line 3 (series 2)", "every value after the class '2' is missing"),
    ("", "", "the file is empty"),
])
def test_a_bad_ucr_line_is_named(tmp_path, text, where, what):
    path = _write(tmp_path / "x_TRAIN.tsv", text)
    with pytest.raises(DataError) as e:
        read_ucr(path)
    assert where in str(e.value) and what in str(e.value) and path in str(e.value)


def test_ingest_of_a_bad_file_exits_1_and_writes_nothing(tmp_path, capsys):
    good = os.path.join(BUNDLED, "ArrowHead", "ArrowHead_TRAIN.ts")
    bad = _ts(tmp_path, "1,2,3:4,5,6:Up\n1,2,3:down\n")
    out = tmp_path / "store.zarr"
    assert cli.main(["ingest", "domain=timeseries", f"input=[{good},{bad}]", f"output={out}"]) == 1
    err = capsys.readouterr().err
    assert "hand.ts: line 8 (series 2)" in err and "Traceback" not in err, err
    assert not out.exists()


def test_without_aeon_a_ts_file_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)  # import fails as if not installed
    with pytest.raises(DataError, match="pip install aeon") as e:
        read_ts(_ts(tmp_path, "1,2:Up\n", uni=True))
    assert "hand.ts" in str(e.value)


@pytest.mark.parametrize("name", ["w.tsv", "w.tab", "w.csv.gz", "w.tsv.bz2"])
def test_wide_text_tables_by_their_names_tab_separated_and_compressed(tmp_path, name):
    """A wide series table written as TSV (or compressed) is read with its own separator at
    ingest and read back, and infill writes it back in kind: a .tsv was read comma-separated
    (one column named 'a\\tb' and a refusal of every cell), a .csv.gz refused as type 'gz'."""
    import pandas as pd

    frame = pd.DataFrame({"a": [1.5, np.nan, 3.5, 4.5], "b": [2.0, 4.0, np.nan, 8.0]})
    path = str(tmp_path / name)
    frame.to_csv(path, sep="\t" if ".t" in name else ",", index=False)
    assert file_kind(path) == "csv"
    ingest("timeseries", [path], str(tmp_path / "w.zarr"), progress=False, verbose=False)
    rec = RecordStore(str(tmp_path / "w.zarr"))[0]
    assert int(rec["channels"]) == 2
    np.testing.assert_array_equal(np.asarray(rec["values"]),
                                  frame.to_numpy(np.float32).T.reshape(-1))
    domain = TimeSeriesDomain({})
    back = domain.read_input(path)
    pd.testing.assert_frame_equal(back, frame)
    out = str(tmp_path / ("out-" + name))
    domain.write_output(back, out)
    pd.testing.assert_frame_equal(domain.read_input(out), frame)
    # the written file is what its name says: a tab table, compressed where asked
    opened = pd.read_csv(out, sep="\t" if ".t" in name else ",")
    pd.testing.assert_frame_equal(opened, frame)
