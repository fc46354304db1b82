"""Table file reading (session 52, helper r): the reason a table has no usable row, row
numbers in the sets reader, file names pyarrow would open as another file, header bytes that
are not UTF-8, and a store whose attribute block has the wrong types.

- A header with more fields than every row (``a,b,c,`` over rows ``1.5,2,x``) said "no usable
  column ... 0 row(s) with any value": each row had been skipped as ragged, which only a
  warning said. Now the reader refuses it with the field counts and the fix.
- The sets reader said "row 3 has no set id" for file line 3 (data row 2); now "data row 2
  (line 3)", as its other messages.
- pyarrow opens a name by its UTF-8 bytes: a name the system spells otherwise (a Latin-1
  locale's ``tabelle_ü.csv``, or any name whose bytes are not UTF-8) was "Failed to open local
  file". Here the name's bytes are not UTF-8 (``tabelle_\\xfc.csv``), which this UTF-8 test
  process spells with a surrogate escape, as a Latin-1 locale's file reaches pyarrow wrongly.
- A cp1252 header said "'utf-8' codec can't decode byte 0x80" or "Expected 1 columns, got 3".
- A store attribute block without ``num_records`` (or with ``fields: null``) crashed every
  reader with a TypeError.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domains.tabular.reading import read_table
from encoderkit.data.ingest import ingest
from encoderkit.data.store import RecordStore, StoreError, StoreWriter
from encoderkit.errors import DataError

ROWS = ["1.50,2.0,x", ",4.00,y", "3.10,,x", "4.25,8.0,", "5.00,10.0,y"]


# ------------------------------------------------------------------ every row ragged

def test_header_with_a_trailing_separator_over_every_row_names_the_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\n".join(["a,b,c,", *ROWS]) + "\n")
    with pytest.raises(DataError) as info:
        read_table(str(path))
    msg = str(info.value)
    assert "no data row has the header's 4 fields" in msg
    assert f"{len(ROWS)} row(s) were skipped as ragged (line 2 has 3)" in msg
    assert "the header ends with a separator its rows do not have" in msg and str(path) in msg
    # ingest says the same, not "no usable column"
    with pytest.raises(DataError, match="skipped as ragged") as info:
        ingest("tabular", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert "no usable column" not in str(info.value)


def test_ragged_rows_and_empty_rows_leave_nothing_the_reason_is_given(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2\n3,4\n,,\n")
    with pytest.raises(DataError) as info:
        ingest("tabular", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    msg = str(info.value)
    assert "no data row has the header's 3 fields and a value (the 1 row(s) with them are empty)" in msg
    assert "2 row(s) were skipped as ragged (line 2 has 2)" in msg
    path.write_text("a,b,c\n1,2,x\n3,4\n5,6,y\n")  # a row left with a value: read, the ragged one skipped
    res = read_table(str(path))
    assert res.ragged_rows == 1 and res.frame["a"].tolist() == [1, 5]


# ------------------------------------------------------------------ sets: data row numbers

def test_sets_row_without_a_set_id_is_named_by_data_row_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("set,id,x,y\ns0,D,-8.3,2.3\n,D,-1.5,-8.9\ns0,A,3.7,-5.9\n")
    with pytest.raises(DataError) as info:
        ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert "data row 2 (line 3) has no set id (column 'set')" in str(info.value)


def test_sets_frame_from_python_is_named_by_its_index_label() -> None:
    from domains.sets.io import frame_sets

    frame = pd.DataFrame({"set": ["a", None], "x": [1.0, 2.0], "y": [0.0, 1.0]}, index=[10, 11])
    with pytest.raises(DataError) as info:
        list(frame_sets(frame, "", "set", None, [], ["x", "y"]))
    assert str(info.value) == "row 11 has no set id (column 'set')"


def test_sets_stray_text_in_a_number_column_is_named_by_data_row_and_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("set,x,y,f\na,1,2,3\na,2,3,oops\nb,1,1,4\nb,2,2,5\n")
    with pytest.raises(DataError) as info:
        ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert "column 'f' holds numbers, but data row 2 (line 3) holds 'oops'" in str(info.value)


# ------------------------------------------------------------------ names pyarrow would misspell

def _byte_name(folder: Path, stem: bytes) -> str:
    """The path of a file named ``stem`` (bytes that are not UTF-8) in ``folder``, as this
    process spells it (a surrogate escape)."""
    return os.fsdecode(os.fsencode(str(folder)) + b"/" + stem)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_a_table_whose_name_is_not_utf8_is_read_as_the_same_table_named_plainly(tmp_path: Path,
                                                                                suffix: str) -> None:
    frame = pd.DataFrame({"a": [1.5, np.nan, 3.25], "b": ["x", "y", None]})
    plain, odd = str(tmp_path / f"plain{suffix}"), _byte_name(tmp_path, b"tabelle_\xfc" + suffix.encode())
    for name in (plain, odd):
        if suffix == ".parquet":
            frame.to_parquet(plain)  # pandas' writer hands the name to pyarrow too: write, then copy
            if name == odd:
                with open(plain, "rb") as src, open(odd, "wb") as dst:
                    dst.write(src.read())
        else:
            text = frame.to_csv(index=False)
            with (gzip.open(name, "wt") if suffix.endswith(".gz") else open(name, "w")) as fh:
                fh.write(text)
    pd.testing.assert_frame_equal(read_table(odd).frame, read_table(plain).frame)
    pd.testing.assert_frame_equal(read_table(odd).frame, frame)


def test_ingest_of_a_table_whose_name_is_not_utf8(tmp_path: Path) -> None:
    odd = _byte_name(tmp_path, b"tabelle_\xfc.csv")
    with open(odd, "w") as fh:
        fh.write("a,b\n" + "\n".join(f"{i / 2},{'xy'[i % 2]}" for i in range(12)) + "\n")
    ingest("tabular", [odd], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    assert len(RecordStore(str(tmp_path / "s.zarr"))) == 12


# ------------------------------------------------------------------ header bytes not UTF-8

def test_cp1252_header_says_save_as_utf8_and_the_delimiter(tmp_path: Path) -> None:
    semi, comma = tmp_path / "semi.csv", tmp_path / "comma.csv"
    semi.write_bytes(b"Kunde;Umsatz \x80;Gewicht\nM\xfcller;12,5;7,7\nWei\xdf;;4,6\n")
    comma.write_bytes(b"Gr\xf6\xdfe,Stadt\n1.5,K\xf6ln\n,Berlin\n")
    for path, delimiter, fix in ((semi, None, "and set delimiter=';'"), (semi, ";", None), (comma, None, None)):
        with pytest.raises(DataError) as info:
            read_table(str(path), delimiter)
        msg = str(info.value)
        assert msg.startswith(f"{path}: line 1 (the header): not UTF-8 text (byte ") and "save the file as UTF-8" in msg
        assert (fix in msg) if fix else "delimiter" not in msg


def test_cp1252_cells_of_a_semicolon_file_read_with_commas_say_both_fixes(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    path.write_bytes(b"Kunde;Umsatz;Gewicht\nM\xfcller;12,5;7,7\nWei\xdf;;4,6\n")
    with pytest.raises(DataError) as info:
        read_table(str(path))
    msg = str(info.value)
    assert "a row is not UTF-8 text" in msg and "b'M\\xfcller;12,5;7,7'" in msg
    assert msg.endswith("save the file as UTF-8 and set delimiter=';'")
    assert "Expected 1 columns" not in msg


# ------------------------------------------------------------------ store attribute block types

@pytest.fixture()
def store(tmp_path: Path) -> Path:
    path = tmp_path / "st.zarr"
    with StoreWriter(path, "synthetic") as w:
        for i in range(3):
            w.append({"v": np.arange(i + 1, dtype=np.int32)}, {"n": i}, id=f"r{i}")
        w.finalize({"k": 1}, {"files": []})
    return path


@pytest.mark.parametrize("edit, said", [
    (lambda a: a.pop("num_records"), "has no 'num_records'"),
    (lambda a: a.update(num_records="3"), "num_records = '3', expected a count"),
    (lambda a: a.update(num_tokens=-1), "num_tokens = -1, expected a count"),
    (lambda a: a.update(fields=None), "fields = None, expected a mapping"),
    (lambda a: a.update(meta=["n"]), "meta = ['n'], expected a mapping"),
    (lambda a: a["fields"]["v"].update(shape=None), "field 'v' has shape None"),
    (lambda a: a["meta"].update(n=None), "meta 'n' = None"),
    (lambda a: a.update(schema=[1]), "schema is a list, expected a mapping"),
    (lambda a: a.update(has_ids="yes"), "has_ids = 'yes', expected true or false"),
    (lambda a: a.update(domain=None), "domain = None, expected a domain name"),
])
def test_a_damaged_attribute_block_is_a_store_error_naming_the_key(store: Path, edit, said) -> None:
    assert len(RecordStore(store)) == 3  # as written: read
    meta = store / "zarr.json"
    doc = json.loads(meta.read_text())
    edit(doc["attributes"]["encoderkit"])
    meta.write_text(json.dumps(doc))
    with pytest.raises(StoreError) as info:
        RecordStore(store)
    assert said in str(info.value) and "(truncated or corrupt store)" in str(info.value)
