"""Unusual and malformed inputs of the non-tabular domains (genomic, timeseries, sets), as
a user's own files hold them: each test is one input that used to give a silent wrong
result, a crash or a refusal of valid data, checked through the reader / ingest function
or the CLI with tiny synthetic files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError


def _ingest(domain: str, path, tmp_path, **options) -> RecordStore:
    out = tmp_path / f"{path.stem}.zarr"
    report = ingest(domain, [str(path)], str(out), overwrite=True, progress=False, verbose=False,
                    **options)
    store = RecordStore(str(out))
    store.report = report
    return store


def _refused(domain: str, path, tmp_path, *needles: str, **options) -> str:
    """Ingest refuses ``path`` with an error naming the file and ``needles``; no store left."""
    out = tmp_path / "refused.zarr"
    with pytest.raises(DataError) as info:
        ingest(domain, [str(path)], str(out), progress=False, verbose=False, **options)
    text = str(info.value)
    assert path.name in text, text
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    assert not out.exists() and not any(p.name.startswith("refused.zarr") for p in tmp_path.iterdir())
    return text


# ---------------------------------------------------------------- labels and record ids

def test_labels_naming_an_id_held_by_two_records_are_refused(tmp_path):
    """Two FASTA records named 'a' (two assemblies' chr1): a label for 'a' went to the last
    one only and the first was silently unlabelled. Now ingest warns and the join refuses
    the row, naming both records; an unambiguous id still joins."""
    from encoderkit.tasks.labels import align, read_split

    fasta = tmp_path / "dup.fa"
    fasta.write_text(">a\nACGTACGT\n>a\nTTTTGGGG\n>b\nCCCCAAAA\n")
    store = _ingest("genomic", fasta, tmp_path)
    assert any("'a'" in w for w in store.report.warnings)
    ids = np.asarray([r["id"] for r in store], dtype=object)
    assert list(ids) == ["a", "a", "b"]
    ok = align(pd.DataFrame({"id": ["b"], "label": ["x"]}), ids, "labels.csv", False)
    assert list(ok.labelled) == [False, False, True]
    with pytest.raises(DataError, match=r"row 2: id 'a' names 2 records .*records 0, 1"):
        align(pd.DataFrame({"id": ["a", "b"], "label": ["x", "y"]}), ids, "labels.csv", False)
    with pytest.raises(DataError, match="names 2 records"):
        align(pd.DataFrame({"id": ["a"], "position": [0], "label": ["x"]}), ids, "labels.csv", True)
    split = tmp_path / "split.csv"
    split.write_text("id,split\nb,train\na,val\n")
    with pytest.raises(DataError, match="row 3: id 'a' names 2 records"):
        read_split(str(split), ids)


# ---------------------------------------------------------------- time series

def _series_domain(store: RecordStore, **options):
    from domains.timeseries.domain import TimeSeriesDomain

    return TimeSeriesDomain(store.schema, **options)


def test_time_column_with_a_gap_or_text_is_refused_not_sorted_as_text(tmp_path):
    """A time column with one empty cell (or a word among numbers, or words that are not
    dates) was sorted as text: 1, 10, 11, 2, ... and the series scrambled without a word
    (impute filled the gap after 10 with 6, between 10 and 2). Now the cell is named."""
    cases = {"gap": ("time,v\n1,1\n2,2\n,3\n10,10\n11,11\n3,3\n", "line 4", "has no time"),
             "word": ("time,v\n1,1\n2,2\nx,3\n10,4\n", "line 4", "'x' among numbers"),
             "weeks": ("time,v\nweek1,1\nweek2,2\nweek10,3\n", "line 2", "neither a number nor a date")}
    for name, (text, *needles) in cases.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text)
        _refused("timeseries", path, tmp_path, "time column 'time'", *needles, time_column="time")
    # numbers (signs, exponents) and dates still sort as numbers and dates
    path = tmp_path / "ok.csv"
    path.write_text("time,v\n1e1,4\n-1.5,1\n2,3\n0,2\n")
    assert _ingest("timeseries", path, tmp_path, time_column="time")[0]["values"].tolist() == [1, 2, 3, 4]
    path.write_text("time,v\n2020-01-10,3\n2020-01-02,1\n2020-01-03,2\n")
    store = _ingest("timeseries", path, tmp_path, time_column="time")
    assert store[0]["values"].tolist() == [1, 2, 3]
    frame = pd.DataFrame({"time": [1.0, np.nan, 3.0], "v": [1.0, np.nan, 3.0]})
    with pytest.raises(DataError, match="data row 2 .* has no time"):
        _series_domain(store).infill(frame, predict=None)


def test_series_ids_that_read_as_the_same_number_stay_two_series(tmp_path):
    """Series '1' and '01' of a long CSV: ingest reads ids as text (two series), but
    infill / embed / predict / impute read the file with pandas' number parsing, merged
    them into one interleaved series and wrote '01' back as '1'. Now the raw file gives the
    records ingest gives, and the ids come back as written."""
    path = tmp_path / "long.csv"
    path.write_text("time,series,value\n0,1,1\n1,1,2\n2,1,\n3,1,4\n"
                    "0,01,10\n1,01,20\n2,01,\n3,01,40\n")
    store = _ingest("timeseries", path, tmp_path, time_column="time", series_column="series")
    assert [r["id"] for r in store] == ["long.csv:1", "long.csv:01"]
    domain = _series_domain(store)
    frame = domain.read_input(str(path))
    records = domain.to_records(frame)
    assert [r["id"] for r in records] == ["1", "01"]
    for rec, stored in zip(records, store):
        np.testing.assert_array_equal(rec["values"], stored["values"])
    out = tmp_path / "filled.csv"
    domain.write_output(frame, str(out))
    assert out.read_text() == path.read_text()


def test_raw_series_file_without_the_models_series_column_is_refused(tmp_path):
    """A model ingested with series_column=series, given a file without that column: a
    KeyError printed as "error: 'series'" (infill / predict); now a line naming the file
    and the column."""
    path = tmp_path / "long.csv"
    path.write_text("time,series,value\n" + "".join(f"{t},{k},{t}\n" for k in "ab" for t in range(4)))
    domain = _series_domain(_ingest("timeseries", path, tmp_path, time_column="time",
                                    series_column="series"))
    wide = tmp_path / "wide.csv"
    wide.write_text("time,value\n0,1\n1,2\n2,3\n")
    with pytest.raises(DataError, match=r"wide\.csv: the data has no column 'series'"):
        domain.read_input(str(wide))


@pytest.mark.parametrize("scale,word", [(1e200, "above"), (1e-200, "below")])
def test_series_beyond_float32_are_refused(tmp_path, scale, word):
    """Values of 1e200 were stored as float32 inf, read back as missing: impute wrote the
    file back with its holes and exit 0 ("filled 0 cell(s)"); values of 1e-200 were stored
    as 0, so the model learnt a constant and filled 0.01 into a series of 1e-200. Now
    ingest, the raw-file readers and infill refuse the channel, naming it."""
    values = scale * np.array([1.0, 2.0, np.nan, 1.5, 1.0, 2.0])
    path = tmp_path / "big.csv"
    pd.DataFrame({"time": range(6), "v": values}).to_csv(path, index=False)
    _refused("timeseries", path, tmp_path, "series 'big.csv', channel 'v'", word, time_column="time")
    npy = tmp_path / "big.npy"
    np.save(npy, values[None, None, :])
    _refused("timeseries", npy, tmp_path, "big.npy[0]", word)
    ok = tmp_path / "ok.csv"
    pd.DataFrame({"time": range(6), "v": values / scale * 1e30}).to_csv(ok, index=False)
    domain = _series_domain(_ingest("timeseries", ok, tmp_path, time_column="time"))
    with pytest.raises(DataError, match=f"big.csv: series 'series0', channel 'v': .* {word}"):
        domain.read_input(str(path))
    with pytest.raises(DataError, match=word):
        domain.infill(values, predict=None)
    # within float32 both ways: stored as given
    for v in (3e38, 2e-38):
        pd.DataFrame({"time": range(3), "v": [v, -v, np.nan]}).to_csv(ok, index=False)
        got = _ingest("timeseries", ok, tmp_path, time_column="time")[0]["values"]
        np.testing.assert_allclose(got[:2], [v, -v], rtol=1e-6)


def test_a_time_repeated_within_a_series_is_refused(tmp_path):
    """Two rows of one series at one time (1 and 1.0; a date written twice) were read as
    two consecutive samples, a step of the series that never happened; the long layout
    already refused it. The same time in two series is fine."""
    path = tmp_path / "wide.csv"
    path.write_text("time,v\n0,1\n1,2\n2,4\n1.0,3\n")
    _refused("timeseries", path, tmp_path, "time '1.0' appears twice (lines 3 and 5)", time_column="time")
    path.write_text("time,v\n2020-01-01,1\n2020-01-02,2\n2020-01-01 00:00,3\n")
    _refused("timeseries", path, tmp_path, "appears twice (lines 2 and 4)", time_column="time")
    path.write_text("time,s,v\n0,a,1\n1,a,2\n0,b,4\n1,b,3\n")
    store = _ingest("timeseries", path, tmp_path, time_column="time", series_column="s")
    assert [r["values"].tolist() for r in store] == [[1, 2], [4, 3]]


def test_infill_of_a_channel_with_no_observed_value_is_refused(tmp_path):
    """A channel with no observed sample in a series was filled with the normalised
    prediction itself (zeros next to a channel of ~1000), exit 0. Now refused, naming the
    series and channel; a channel with one observed value is filled."""
    path = tmp_path / "two.csv"
    pd.DataFrame({"time": range(40), "v": np.sin(np.arange(40.0)) + 1000,
                  "w": np.cos(np.arange(40.0))}).to_csv(path, index=False)
    domain = _series_domain(_ingest("timeseries", path, tmp_path, time_column="time"))
    frame = pd.DataFrame({"time": range(40), "v": np.sin(np.arange(40.0)) + 1000, "w": np.nan})
    frame.loc[5:8, "v"] = np.nan
    with pytest.raises(DataError, match="series 'series0', channel 'w': no observed value"):
        domain.infill(frame, predict=None)
    with pytest.raises(DataError, match="channel 1: no observed value"):
        domain.infill(np.stack([np.arange(20.0), np.full(20, np.nan)]), predict=None)


def test_empty_series_id_cell_is_refused(tmp_path):
    """A row with an empty series id was read as its own series named after the file."""
    path = tmp_path / "long.csv"
    path.write_text("time,series,value\n0,a,1\n1,a,2\n2,,3\n0,b,4\n")
    _refused("timeseries", path, tmp_path, "line 4 names no series", time_column="time",
             series_column="series")


# ---------------------------------------------------------------- sets

def _sets_domain(store: RecordStore):
    from domains.sets.domain import SetsDomain

    return SetsDomain(store.schema)


def test_set_ids_that_read_as_the_same_number_stay_two_sets(tmp_path):
    """Sets '1' and '01' of a long CSV were parsed as the number 1 and merged into one set
    of four elements (at ingest and when a raw file is embedded / predicted)."""
    path = tmp_path / "sets.csv"
    path.write_text("set,id,x,y,f\n1,i1,0,0,1\n1,i2,1,1,2\n01,i1,0,0,1\n01,i3,1,1,2\n")
    store = _ingest("sets", path, tmp_path)
    assert [(r["id"], len(r["ids"])) for r in store] == [("1", 2), ("01", 2)]
    domain = _sets_domain(store)
    records = domain.to_records(domain.read_input(str(path)))
    assert [r["id"] for r in records] == ["1", "01"]
    for rec, stored in zip(records, store):
        np.testing.assert_array_equal(rec["ids"], stored["ids"])


def test_set_features_beyond_float32_are_refused(tmp_path):
    """A feature of 1e200 was stored as float32 inf (and the column's std became 1.0 from
    a NaN); a column of 1e-200 as zeros. Now refused, naming the set, element and line /
    the column; values within float32 are kept."""
    path = tmp_path / "sets.csv"
    path.write_text("set,id,x,y,f\na,i1,0,0,1\na,i2,1,1,2e200\nb,i2,1,1,3\n")
    _refused("sets", path, tmp_path, "set 'a'", "element 1 (line 3)", "2e+200")
    path.write_text("set,id,x,y,f\na,i1,0,0,1e-200\na,i2,1,1,2e-200\nb,i2,1,1,0\n")
    _refused("sets", path, tmp_path, "feature 'f'", "2e-200")
    path.write_text("set,id,x,y,f\na,i1,0,0,1e30\na,i2,1,1,-2e30\nb,i2,1,1,\n")
    store = _ingest("sets", path, tmp_path)
    assert np.isfinite(store.schema["feature_std"]).all()
    np.testing.assert_allclose(store[0]["features"][:, 0], [1e30, -2e30], rtol=1e-6)
    with pytest.raises(DataError, match="1e\\+200"):
        _sets_domain(store).to_records([{"ids": ["i1"], "coords": [[0.0, 0.0]], "features": [[1e200]]}])


# ---------------------------------------------------------------- genomic

def test_fasta_with_a_bom_and_non_ascii_headers_is_read_and_written_back(tmp_path):
    """A FASTA saved by a Windows editor (UTF-8 byte-order mark) was refused as "not a
    FASTA file"; a header with an accented word (UTF-8 or Latin-1) crashed infill when the
    output was written ("bug in encoderkit"). Now both are read; infill writes each header
    back byte for byte; ids that are not UTF-8 are stored with U+FFFD."""
    from domains.genomic.domain import GenomicDomain
    from domains.genomic.io import read_seq_records, write_seq_records

    body = (">s1 souche \u00e9t\u00e9 \u2014 K-12\nACGTNACGTA\n".encode() + b">s\xe9q2 lat\xe9n\nGGCCNNTTAA\n")
    path = tmp_path / "reads.fa"
    path.write_bytes(b"\xef\xbb\xbf" + body)
    store = _ingest("genomic", path, tmp_path)
    assert [r["id"] for r in store] == ["s1", "s\ufffdq2"]
    records = read_seq_records(str(path))
    out = tmp_path / "out.fa"
    write_seq_records(records, str(out))
    assert out.read_bytes() == body
    assert [r["id"] for r in GenomicDomain().to_records(records)] == ["s1", "s\ufffdq2"]
    bad = tmp_path / "bad.fa"
    bad.write_bytes(">s1\nACG\u00e9T\n".encode())
    _refused("genomic", bad, tmp_path, "line 2, column 4: character '\u00e9'")


def test_a_row_with_fewer_fields_than_the_header_is_refused(tmp_path):
    """pandas reads a row with a dropped comma as a row whose last cells are missing: a
    series or set reader then filled a value the file never left out. Now the line is
    named (an empty field, 1,,3, is still a missing value; gzip is checked too)."""
    import gzip

    series = tmp_path / "short.csv"
    series.write_text("time,v,w\n0,1,2\n1,2\n2,3,4\n")
    _refused("timeseries", series, tmp_path, "line 3 has 2 field(s) where the header has 3", time_column="time")
    sets = tmp_path / "sets.csv.gz"
    sets.write_bytes(gzip.compress(b"set,id,x,y,f\na,i1,0,0,1\n\na,i2,1,1\nb,i3,1,1,2\n"))
    _refused("sets", sets, tmp_path, "line 4 has 4 field(s) where the header has 5")
    series.write_text("time,v,w\r\n0,1,2\r\n\r\n1,2,\r\n2,\"3\",4\r\n")
    store = _ingest("timeseries", series, tmp_path, time_column="time")
    np.testing.assert_array_equal(store[0]["values"], [1, 2, 3, 2, np.nan, 4])
    from domains.timeseries.domain import TimeSeriesDomain

    series.write_text("time,v,w\n0,1,2\n1,2\n")
    with pytest.raises(DataError, match="short.csv: line 3 has 2 field"):
        TimeSeriesDomain(store.schema).read_input(str(series))


def test_raw_long_tables_are_read_as_ingest_reads_them(tmp_path):
    """A long table (one row per channel and time) read raw for infill / embed / predict
    was read as a wide one: the rows of two channels became one channel interleaved in
    time (infill filled a temperature of 20 with 30, between 20 and a humidity of 80), and
    a numeric column beside value_column became a channel ingest never saw. Now the value
    column is the one channel, and a table with a channel column is refused naming it."""
    path = tmp_path / "long.csv"
    rows = [(t, s, ch, v + t) for s in "ab" for t in range(6) for ch, v in (("temp", 20), ("hum", 80))]
    pd.DataFrame(rows, columns=["time", "series", "channel", "value"]).to_csv(path, index=False)
    domain = _series_domain(_ingest("timeseries", path, tmp_path, time_column="time", series_column="series",
                                    value_column="value", channel_column="channel"))
    with pytest.raises(DataError, match="long.csv: a long table with a channel column \\('channel'"):
        domain.read_input(str(path))
    one = tmp_path / "one.csv"
    pd.DataFrame({"time": range(4), "series": "a", "value": [1.0, 2, np.nan, 4],
                  "quality": [9, 9, 8, 9]}).to_csv(one, index=False)
    store = _ingest("timeseries", one, tmp_path, time_column="time", series_column="series",
                    value_column="value")
    domain = _series_domain(store)
    (rec,) = domain.to_records(domain.read_input(str(one)))
    assert rec["channels"] == 1 and rec["id"] == "a"
    np.testing.assert_array_equal(rec["values"], store[0]["values"])
