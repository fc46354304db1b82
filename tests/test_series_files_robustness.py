"""Malformed and unusual series files (text tables by their names, compressed): what a
valid one reads as (hand-written expected values) and the one line naming the file and
the line that refuses a bad one. Found by a sweep of the command line over such files."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest

from domains.timeseries import TimeSeriesDomain
from encoderkit import cli
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore
from encoderkit.errors import DataError

def _write(path, content) -> str:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


def _ingest(path: str, out, **options) -> RecordStore:
    ingest("timeseries", [path], str(out), progress=False, verbose=False, **options)
    return RecordStore(str(out))


def _series(store: RecordStore) -> list[list[float]]:
    return [np.asarray(store[i]["values"], dtype=np.float64).tolist() for i in range(len(store))]


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return buf.getvalue()


# ------------------------------------------------------------------ text tables
@pytest.mark.parametrize("name, text, where", [
    ("x.tsv", "a\tb\n1\t2\t3\n4\t5\n", "line 2 has 3 fields where the header has 2"),
    ("x.csv", "a,b\n1,2\n3,4,5\n", "line 3 has 3 fields where the header has 2"),
    ("x.csv.gz", gzip.compress(b"a,b\n1,2,9\n"), "line 2 has 3 fields"),
    ("x.csv.zip", _zip({"x.csv": "a,b\n1,2\n3\n"}), "line 3 has 1 field(s) where the header has 2"),
    ("x.tsv", "a,b\n1,2\n", "the header line is comma-separated, but the file's name says tab-separated"),
    ("x.csv", "a;b\n1;2\n", "the header line is semicolon-separated"),
    ("x.csv", "a,b\n1,2\n".encode("utf-16"), "is UTF-16 text"),
    ("x.csv.zip", _zip({"a.csv": "a\n1\n", "b.csv": "a\n1\n"}), "this one holds 2 (a.csv, b.csv)"),
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


def test_cli_a_longer_row_is_one_line_and_writes_nothing(tmp_path, capsys):
    path = _write(tmp_path / "x.tsv", "a\tb\n1\t2\t3\n")
    out = tmp_path / "s.zarr"
    assert cli.main(["ingest", "domain=timeseries", f"input={path}", f"output={out}"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{path}: line 2 has 3 fields" in err, err
    assert not out.exists()

